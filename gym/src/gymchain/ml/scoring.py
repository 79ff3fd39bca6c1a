"""Scoring the platform's members with the registered churn model (read from PostgreSQL, part 1 tables)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import lightgbm as lgb
import pandas as pd
import sqlalchemy as sa

from gymchain.common.metrics import timed_model

from .churn import top_reasons
from .features import FEATURES, churn_features
from .loaders import load_postgres

HISTORY_DAYS = 400  # the longest feature window (visits baseline, recency cap) plus margin


@timed_model("churn", "score_platform")  # gym_model_inference_seconds: features + prediction + reasons
def score_platform(engine: sa.Engine, booster: lgb.Booster, unit_id: int | None = None,
                   member_ids: list[int] | None = None, at: datetime | None = None,
                   reasons: int = 3) -> pd.DataFrame:
    """Members with a running contract at ``at`` (default now), highest churn risk first, with their top reasons."""
    at = pd.Timestamp((at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None))
    since = (at - timedelta(days=HISTORY_DAYS)).isoformat()
    tables = load_postgres(engine, since=since, unit_id=unit_id, member_ids=member_ids)
    frame = churn_features(tables, at)
    if frame.empty:
        return frame.assign(churn_risk=[], reasons=[])
    frame["churn_risk"] = booster.predict(frame[FEATURES].to_numpy(float))
    frame = frame.sort_values("churn_risk", ascending=False, kind="stable")
    frame["reasons"] = top_reasons(booster, frame, k=reasons)
    return frame
