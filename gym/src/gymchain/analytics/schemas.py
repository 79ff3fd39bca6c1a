"""Bodies of the analytics service."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"unit_id": 1, "report": "attendance", "period_start": "2026-11-01", "period_end": "2026-11-30"}]})

    unit_id: int = Field(ge=1, le=2**62)
    report: Literal["attendance", "occupancy", "bookings", "churn-risk", "revenue"]
    period_start: date
    period_end: date
    output_format: Literal["json", "csv"] = "json"

    @model_validator(mode="after")
    def _period(self) -> ReportRequest:
        days = (self.period_end - self.period_start).days
        if not 0 <= days <= 366:
            raise ValueError("period_end must be on or after period_start and at most 366 days later")
        return self


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"model": "churn", "reason": "drift"}]})

    model: Literal["churn", "segmentation", "demand", "plan-recommendation"]
    reason: str = Field("manual", min_length=1, max_length=200)


class ChurnReason(BaseModel):
    feature: str = Field(description="feature name (see gym/docs/analytics.md)")
    value: float = Field(description="the member's value of that feature at scoring time")
    shap: float = Field(description="its SHAP contribution to the risk, in log-odds (positive raises the risk)")


class MemberChurnRisk(BaseModel):
    member_id: int
    unit_id: int
    churn_risk: float = Field(ge=0, le=1, description="probability of stopping within horizon_days")
    horizon_days: int
    reasons: list[ChurnReason]


class ChurnRiskList(BaseModel):
    unit_id: int
    model_version: int
    scored_at: str
    horizon_days: int
    active_members: int = Field(description="members with a running contract who were scored")
    members: list[MemberChurnRisk]


class MemberChurnRiskOut(MemberChurnRisk):
    model_version: int
    scored_at: str
