"""Drift monitoring of the churn model: PSI and KS per feature plus prediction drift, against the training window.

When a churn model is registered its **reference profile** is stored with it (``metadata.reference``): for each
feature and for the predicted risk, the decile edges and bin shares (for PSI) and 101 quantiles (for KS) over the
rows of its training dates. ``monitor`` computes the same features for the members active at a date, scores them
with the promoted model and compares:

- PSI = sum((cur - ref) * ln(cur / ref)) over the reference's decile bins (shares floored at 1e-4);
  rule of thumb: < 0.1 stable, 0.1-0.25 moderate, > 0.25 a major shift.
- KS = max |F_ref - F_cur| (the reference CDF from its 101 quantiles), with the asymptotic p-value at the
  effective sample size. With tens of thousands of rows any tiny shift is "significant", so the alert uses the
  statistic and PSI, not the p-value.

A column has **drifted** when its PSI passes ``psi_alert`` (0.25) or its KS statistic passes ``ks_alert`` (0.2).
An **alert** is raised when the prediction's PSI passes 0.2 or at least ``min_features`` (3) features drifted - one
feature alone moves with the season or a one-off event (a price increase) far more often than the model goes
stale, and the predicted risk is what the model's users see: a row in ``ml_alerts``, a WARNING in the log and, unless one is already
queued or running, a ``retraining`` job on RabbitMQ (handled by ``gymchain.ml.retrain``), whose id the alert keeps.

CLI: ``python -m gymchain.ml.drift [--csv DIR | --from-database] [--at YYYY-MM-DD] [--no-retrain]`` (default: the
platform's database, today) prints the report as JSON; the deployment runs it nightly (k8s CronJob drift-monitor).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from scipy.stats import kstwobign

from ..common import metrics
from .features import FEATURES, churn_features

log = logging.getLogger(__name__)
PSI_ALERT = 0.25
KS_ALERT = 0.2
MIN_FEATURES = 3
PREDICTION_PSI_ALERT = 0.2
EPS = 1e-4
LEVELS = np.linspace(0, 1, 101)


def profile(values: np.ndarray) -> dict:
    """Decile edges, bin shares and 101 quantiles of one column."""
    values = np.asarray(values, float)
    edges = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))
    shares = np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1) / values.size
    return {"edges": edges.round(6).tolist(), "shares": shares.round(6).tolist(),
            "quantiles": np.quantile(values, LEVELS).round(6).tolist(), "n": int(values.size)}


def reference_profile(tables: dict[str, pd.DataFrame], result) -> dict:
    """The profile of every feature and of the predicted risk over the training dates of a ``ChurnResult``."""
    frames = [churn_features(tables, pd.Timestamp(d)) for d in result.train_dates]
    x = pd.concat([f[FEATURES] for f in frames], ignore_index=True)
    p = result.booster.predict(x.to_numpy(float))
    return {"dates": result.train_dates, "features": {f: profile(x[f].to_numpy()) for f in FEATURES},
            "prediction": profile(p)}


def psi(ref: dict, values: np.ndarray) -> float:
    edges = np.asarray(ref["edges"])
    cur = np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1) / max(values.size, 1)
    base = np.maximum(np.asarray(ref["shares"]), EPS)
    cur = np.maximum(cur, EPS)
    return float(np.sum((cur - base) * np.log(cur / base)))


def ks(ref: dict, values: np.ndarray) -> tuple[float, float]:
    q = np.asarray(ref["quantiles"])
    values = np.sort(np.asarray(values, float))
    grid = np.union1d(q, np.quantile(values, LEVELS))
    f_cur = np.searchsorted(values, grid, side="right") / values.size
    f_ref = np.interp(grid, q, LEVELS, left=0.0, right=1.0)
    # a point mass in the reference (several equal quantiles): its CDF jumps to the last level at that value
    f_ref = np.maximum(f_ref, np.array([LEVELS[np.searchsorted(q, g, side="right") - 1] if g >= q[0] else 0.0
                                        for g in grid]))
    stat = float(np.max(np.abs(f_cur - f_ref)))
    n = ref["n"] * values.size / (ref["n"] + values.size)
    return stat, float(kstwobign.sf(stat * np.sqrt(n)))


def compare(reference: dict, frame: pd.DataFrame, scores: np.ndarray, psi_alert: float = PSI_ALERT,
            ks_alert: float = KS_ALERT, min_features: int = MIN_FEATURES) -> dict:
    """The drift report of ``frame`` (features) and ``scores`` against a reference profile."""
    columns = {f: frame[f].to_numpy(float) for f in FEATURES} | {"prediction": np.asarray(scores, float)}
    refs = reference["features"] | {"prediction": reference["prediction"]}
    report = {}
    for name, values in columns.items():
        stat, p = ks(refs[name], values)
        report[name] = {"psi": round(psi(refs[name], values), 4), "ks": round(stat, 4), "ks_p": float(f"{p:.3g}")}
    drifted = [n for n, r in report.items() if r["psi"] > psi_alert or r["ks"] > ks_alert]
    features = [n for n in drifted if n != "prediction"]
    alert = report["prediction"]["psi"] > PREDICTION_PSI_ALERT or len(features) >= min_features
    return {"rows": len(frame), "reference_rows": reference["prediction"]["n"], "columns": report,
            "drifted": drifted, "max_psi": max(r["psi"] for r in report.values()),
            "prediction_psi": report["prediction"]["psi"], "alert": bool(alert),
            "thresholds": {"psi": psi_alert, "ks": ks_alert, "min_features": min_features,
                           "prediction_psi": PREDICTION_PSI_ALERT}}


def _open_retraining(model: str) -> str | None:
    from gymchain.common.docstore import get_collection

    for doc in get_collection("jobs").find({"kind": "retraining", "service": "analytics"}):
        if doc.get("status") in ("queued", "running", "retrying") and doc.get("payload", {}).get("model") == model:
            return doc["_id"]
    return None


def monitor(db: sa.Engine, tables: dict[str, pd.DataFrame], at: pd.Timestamp, source_payload: dict,
            psi_alert: float = PSI_ALERT, ks_alert: float = KS_ALERT, retrain: bool = True,
            min_features: int = MIN_FEATURES) -> dict:
    """Compare the members active at ``at`` with the promoted churn model's reference; alert and retrain."""
    from .batch import submit_system_job
    from .registry import MODEL_NAME, active_model

    found = active_model(db)
    if found is None:
        raise ValueError("no churn model is promoted; nothing to monitor")
    booster, metadata = found
    reference = metadata.get("reference")
    if not reference:
        raise ValueError(f"churn model v{metadata['version']} has no reference profile (registered without one); "
                         "retrain it with 'gymchain train-churn'")
    frame = churn_features(tables, pd.Timestamp(at))
    if frame.empty:
        raise ValueError(f"no member has a running contract at {pd.Timestamp(at).date()}")
    report = compare(reference, frame, booster.predict(frame[FEATURES].to_numpy(float)), psi_alert, ks_alert,
                     min_features)
    report |= {"model": MODEL_NAME, "model_version": metadata["version"], "at": pd.Timestamp(at).isoformat()}
    # the Prometheus gauge gym_model_drift_psi{model, feature} (the predicted risk as feature "score") feeds the
    # dashboard's drift panel and the GymModelDrift alert
    metrics.set_drift(MODEL_NAME, {("score" if name == "prediction" else name): col["psi"]
                                   for name, col in report["columns"].items()})
    if not report["alert"]:
        log.info("drift check of churn v%s at %s: no drift (max PSI %.3f)", metadata["version"], at,
                 report["max_psi"])
        return report | {"retrain_job_id": None}
    job_id = None
    if retrain:
        job_id = _open_retraining(MODEL_NAME) or submit_system_job(
            "retraining", {"model": MODEL_NAME, "reason": "drift", "at": pd.Timestamp(at).date().isoformat(),
                           **source_payload}, reason="drift")
    with db.begin() as conn:
        conn.execute(sa.text("""INSERT INTO ml_alerts (model_name, model_version, kind, details, retrain_job_id)
                                VALUES (:name, :version, 'drift', CAST(:details AS jsonb), :job)"""),
                     {"name": MODEL_NAME, "version": metadata["version"], "details": json.dumps(report),
                      "job": job_id})
    log.warning("drift alert on churn v%s at %s: %s (max PSI %.3f); retraining job %s", metadata["version"], at,
                ", ".join(report["drifted"]), report["max_psi"], job_id)
    return report | {"retrain_job_id": job_id}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gymchain.ml.drift", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--csv", metavar="DIR", help="a chain's export in the analytics schema")
    source.add_argument("--from-database", action="store_true", help="the platform's own tables (the default)")
    parser.add_argument("--at", help="YYYY-MM-DD (default today)")
    parser.add_argument("--psi-alert", type=float, default=PSI_ALERT)
    parser.add_argument("--ks-alert", type=float, default=KS_ALERT)
    parser.add_argument("--no-retrain", action="store_true", help="alert only; do not queue a retraining job")
    args = parser.parse_args(argv)
    from gymchain.common.db import get_engine

    from .sources import load_source

    try:
        at = pd.Timestamp(datetime.strptime(args.at, "%Y-%m-%d")) if args.at else pd.Timestamp(
            datetime.now(UTC).date())
    except ValueError:
        print(f"drift: --at {args.at!r}: expected YYYY-MM-DD", file=sys.stderr)
        return 2
    try:
        payload = {"source": "csv", "path": str(args.csv)} if args.csv else {"source": "platform"}
        tables, _ = load_source(payload, get_engine())
        report = monitor(get_engine(), tables, at, payload, args.psi_alert, args.ks_alert, not args.no_retrain)
    except ValueError as exc:
        print(f"drift: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - database/queue unreachable: one line, no traceback
        print(f"drift: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
