"""The video-analysis job as the API accepts it and the worker reads it (one model for both sides)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Point = tuple[float, float]
EXERCISE = Literal["squat", "pushup", "deadlift", "press"]
EQUIPMENT = Literal["free_weights", "squat_rack", "platform", "studio", "cardio", "functional"]


def _check_point(p: Point) -> Point:
    if not all(0.0 <= v <= 1.0 for v in p):
        raise ValueError(f"point {list(p)}: expected image coordinates between 0 and 1")
    return p


class ZoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    area_id: int = Field(ge=1, le=2**62)
    polygon: list[Point] = Field(min_length=3, max_length=32, description="normalised image coordinates (0-1)")
    name: str = Field("", max_length=60)

    @field_validator("polygon")
    @classmethod
    def _points(cls, value: list[Point]) -> list[Point]:
        return [_check_point(p) for p in value]


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    a: Point
    b: Point
    left_area_id: int | None = Field(None, ge=1, le=2**62)
    right_area_id: int | None = Field(None, ge=1, le=2**62)

    @field_validator("a", "b")
    @classmethod
    def _points(cls, value: Point) -> Point:
        return _check_point(value)


class VideoJob(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"unit_id": 1, "area_id": 2, "source_uri": "file:///var/gym/cameras/u1-weights/2026-12-06T18-00.mp4",
         "tasks": ["people_count", "equipment_misuse"]}]})

    unit_id: int = Field(ge=1, le=2**62)
    area_id: int = Field(ge=1, le=2**62)
    source_uri: str = Field(min_length=8, max_length=500, pattern=r"^(file|rtsp|s3|https)://[^\s]+$",
                            description="a video file, or a landmark segment (.npz) computed at the camera")
    tasks: list[Literal["people_count", "people_flow", "equipment_misuse", "posture"]] = Field(min_length=1,
                                                                                             max_length=4)
    member_id: int | None = Field(None, ge=1, le=2**62, description="required for 'posture' (feedback to one member)")
    exercise: EXERCISE | None = Field(None, description="the exercise, if known (else recognised by the model)")
    equipment: EQUIPMENT | None = Field(None, description="the station the camera watches (default from the area)")
    zones: list[ZoneIn] | None = Field(None, max_length=16, description="areas in the image (default: whole frame "
                                                                       "= area_id)")
    lines: list[LineIn] | None = Field(None, max_length=16, description="counting lines (doors, passages)")
    recorded_at: datetime | None = Field(None, description="when the clip starts (default: its end is now)")
