"""Settings of the vision worker, from ``GYM_VISION_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

GYM_DIR = Path(__file__).resolve().parents[3]
PACKAGED_MODEL = Path(__file__).resolve().parent / "weights" / "pose-seq"


class VisionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GYM_VISION_", extra="ignore")

    media_root: Path = GYM_DIR / "var" / "media"  # file:// sources must lie under it
    store_frames: bool = False  # LGPD: no frame is written unless this is set
    frames_dir: Path = GYM_DIR / "var" / "vision-frames"
    model_dir: Path = PACKAGED_MODEL  # the classifier (safetensors + config.json); rules only if missing
    detector: str = "mog2"
    max_seconds: float = Field(600, gt=0, le=3600)  # longest clip analysed
    counting_fps: float = Field(15, ge=1, le=60)  # frames per second the counter looks at (subsampled)
    sample_every_s: float = Field(5, ge=1, le=900)  # occupancy sample interval written to the time series


@lru_cache
def get_vision_settings() -> VisionSettings:
    return VisionSettings()
