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


STATUSES = ("candidate", "promoted", "retired", "rejected")


def register_version(engine: sa.Engine, name: str, *, metrics: dict, metadata: dict, train_from: str,
                     train_to: str, test_date: str, horizon_days: int, model_text: str, artifact: bytes | None = None,
                     promote: bool = True) -> int:
    """Add version n+1 of model ``name`` (a candidate, or promoted at once); returns the version."""
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('ml_models:' || :name))"), {"name": name})
        version = conn.execute(sa.text("SELECT COALESCE(MAX(version), 0) + 1 FROM ml_models WHERE name = :name"),
                               {"name": name}).scalar_one()
        conn.execute(sa.text("""
            INSERT INTO ml_models (name, version, metrics, metadata, train_from, train_to, test_date, horizon_days,
                                   model_text, artifact, active, status)
            VALUES (:name, :version, CAST(:metrics AS jsonb), CAST(:metadata AS jsonb), :train_from, :train_to,
                    :test_date, :horizon, :text, :artifact, false, 'candidate')"""),
            {"name": name, "version": version, "metrics": json.dumps(metrics), "metadata": json.dumps(metadata),
             "train_from": train_from, "train_to": train_to, "test_date": test_date, "horizon": horizon_days,
             "text": model_text, "artifact": artifact})
        if promote:
            _promote(conn, name, version)
    return int(version)


def _promote(conn, name: str, version: int) -> None:
    conn.execute(sa.text("UPDATE ml_models SET active = false, status = 'retired' WHERE name = :name AND active"),
                 {"name": name})
    conn.execute(sa.text("UPDATE ml_models SET active = true, status = 'promoted', promoted_at = now() "
                         "WHERE name = :name AND version = :version"), {"name": name, "version": version})


def promote(engine: sa.Engine, name: str, version: int) -> None:
    """Make ``version`` the promoted (active) one; the previous one is retired."""
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('ml_models:' || :name))"), {"name": name})
        if conn.execute(sa.text("SELECT 1 FROM ml_models WHERE name = :name AND version = :version"),
                        {"name": name, "version": version}).first() is None:
            raise ValueError(f"model {name} version {version}: not registered")
        _promote(conn, name, version)


def reject(engine: sa.Engine, name: str, version: int, reason: str) -> None:
    """Mark a candidate as rejected (kept for the record, never served), with the reason in its metadata."""
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE ml_models SET status = 'rejected',
                                metadata = metadata || jsonb_build_object('rejected_because', CAST(:why AS text))
                                WHERE name = :name AND version = :version AND status = 'candidate'"""),
                     {"name": name, "version": version, "why": reason})


def versions(engine: sa.Engine, name: str) -> list[dict]:
    """Every version of ``name``: version, status, created/promoted times, metrics, training window."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("""SELECT version, status, active, created_at, promoted_at, metrics, train_from,
                                              train_to, test_date, metadata->>'source' AS source,
                                              metadata->>'reason' AS reason
                                       FROM ml_models WHERE name = :name ORDER BY version"""), {"name": name})
        return [dict(r._mapping) for r in rows]


def register(engine: sa.Engine, result: ChurnResult, source: str, reference: dict | None = None,
             promote: bool = True, extra: dict | None = None) -> int:
    """A new version of the churn model in ``ml_models`` (promoted unless ``promote=False``); returns its version.

    ``reference`` (from ``drift.reference_profile``) is kept in the metadata for drift monitoring."""
    metadata = metadata_of(result) | {"source": source} | ({"reference": reference} if reference else {}) | (
        extra or {})
    return register_version(engine, MODEL_NAME, metrics=result.metrics, metadata=metadata,
                            train_from=result.train_dates[0], train_to=result.test_date,
                            test_date=result.test_date, horizon_days=result.horizon_days,
                            model_text=result.booster.model_to_string(), promote=promote)


def churn_version(engine: sa.Engine, version: int) -> tuple[lgb.Booster, dict]:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT version, metadata, model_text FROM ml_models "
                                   "WHERE name = :name AND version = :version"),
                           {"name": MODEL_NAME, "version": version}).first()
    if row is None:
        raise ValueError(f"churn model version {version}: not registered")
    return booster_from_text(row.model_text, f"ml_models version {row.version}"), row.metadata | {
        "version": row.version}


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


RECOMMENDER_NAME = "recommender"


def register_recommender(engine: sa.Engine, model, source: str, promote: bool = True) -> int:
    """A recommender version: JSON metadata in ``model_text``, its matrices as safetensors in ``artifact``."""
    from .recommend import to_bytes

    blob, meta_text = to_bytes(model)
    params = model.params
    return register_version(engine, RECOMMENDER_NAME, metrics=model.metrics,
                            metadata={"name": RECOMMENDER_NAME, "kind": model.kind, "source": source,
                                      "params": params, "items": model.items},
                            train_from=params.get("train_from", params.get("split_date")),
                            train_to=params["split_date"], test_date=params["split_date"],
                            horizon_days=params.get("window_days", 56), model_text=meta_text, artifact=blob,
                            promote=promote)


def promoted_recommender(engine: sa.Engine):
    """(Recommender, {version, ...}) of the promoted recommender, or None."""
    from .recommend import from_bytes

    with engine.connect() as conn:
        row = conn.execute(sa.text("""SELECT version, model_text, artifact FROM ml_models
                                      WHERE name = :name AND active"""), {"name": RECOMMENDER_NAME}).first()
    if row is None:
        return None
    return from_bytes(bytes(row.artifact), row.model_text, f"ml_models {RECOMMENDER_NAME} v{row.version}"), {
        "version": row.version}
