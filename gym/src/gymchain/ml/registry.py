"""Saving, loading and registering churn models: LightGBM's text format plus JSON metadata, never pickle.

On disk: ``<folder>/model.txt`` (LightGBM text model) and ``<folder>/metadata.json``. In PostgreSQL: the
``ml_models`` table (Alembic revision ``an0001_model_registry``, branch 'analytics') holds version, metrics,
training window and the model text; the analytics service loads the newest active row.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import lightgbm as lgb
import sqlalchemy as sa

from .churn import ChurnResult
from .features import FEATURES

MODEL_NAME = "churn"


class ModelFileError(ValueError):
    """A saved model cannot be loaded; the message is one line naming the file."""


def metadata_of(result: ChurnResult) -> dict:
    return {"name": MODEL_NAME, "kind": "lightgbm-binary", "features": FEATURES, "metrics": result.metrics,
            "calibration": result.calibration, "train_dates": result.train_dates, "test_date": result.test_date,
            "horizon_days": result.horizon_days, "rows": result.rows,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds")}


def save_model(result: ChurnResult, folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result.booster.save_model(str(folder / "model.txt"))
    (folder / "metadata.json").write_text(json.dumps(metadata_of(result), indent=2))
    return folder


def booster_from_text(text: str, where: str) -> lgb.Booster:
    if not text.startswith("tree\n"):
        raise ModelFileError(f"{where}: not a LightGBM text model (expected it to start with 'tree')")
    try:
        booster = lgb.Booster(model_str=text)
    except lgb.basic.LightGBMError as exc:
        raise ModelFileError(f"{where}: LightGBM could not read it ({str(exc).splitlines()[0]})") from None
    if booster.feature_name() != FEATURES:
        raise ModelFileError(f"{where}: features {booster.feature_name()} differ from this version's {FEATURES}")
    return booster


def load_model(folder: str | Path) -> tuple[lgb.Booster, dict]:
    folder = Path(folder)
    model_path, meta_path = folder / "model.txt", folder / "metadata.json"
    for path in (model_path, meta_path):
        if not path.is_file():
            raise ModelFileError(f"{path}: missing; expected model.txt and metadata.json from save_model")
    try:
        metadata = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(metadata, dict) or metadata.get("features") != FEATURES:
        raise ModelFileError(f"{meta_path}: 'features' must be {FEATURES}")
    try:
        text = model_path.read_text()
    except UnicodeDecodeError:
        raise ModelFileError(f"{model_path}: not a text file") from None
    return booster_from_text(text, str(model_path)), metadata


def register(engine: sa.Engine, result: ChurnResult, source: str) -> int:
    """A new version of the churn model in ``ml_models``, made the active one; returns its version."""
    metadata = metadata_of(result) | {"source": source}
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('ml_models:' || :name))"), {"name": MODEL_NAME})
        version = conn.execute(sa.text("SELECT COALESCE(MAX(version), 0) + 1 FROM ml_models WHERE name = :name"),
                               {"name": MODEL_NAME}).scalar_one()
        conn.execute(sa.text("UPDATE ml_models SET active = false WHERE name = :name"), {"name": MODEL_NAME})
        conn.execute(sa.text("""
            INSERT INTO ml_models (name, version, metrics, metadata, train_from, train_to, test_date, horizon_days,
                                   model_text, active)
            VALUES (:name, :version, CAST(:metrics AS jsonb), CAST(:metadata AS jsonb), :train_from, :train_to,
                    :test_date, :horizon, :text, true)"""),
            {"name": MODEL_NAME, "version": version, "metrics": json.dumps(result.metrics),
             "metadata": json.dumps(metadata), "train_from": result.train_dates[0], "train_to": result.test_date,
             "test_date": result.test_date, "horizon": result.horizon_days,
             "text": result.booster.model_to_string()})
    return int(version)


def active_model(engine: sa.Engine) -> tuple[lgb.Booster, dict] | None:
    """The active churn model and its metadata (with ``version``), or None when none was registered."""
    with engine.connect() as conn:
        row = conn.execute(sa.text("""SELECT version, metadata, model_text FROM ml_models
                                      WHERE name = :name AND active ORDER BY version DESC LIMIT 1"""),
                           {"name": MODEL_NAME}).first()
    if row is None:
        return None
    return booster_from_text(row.model_text, f"ml_models version {row.version}"), row.metadata | {
        "version": row.version}
