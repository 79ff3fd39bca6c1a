"""The ``retraining`` job: train a new version, register it, promote it only if it is not worse than the promoted
one on the same held-out window.

Payload: ``{"model": "churn" | "plan-recommendation", "reason": str, "source": "platform" | "csv", "path": DIR?,
"at": ISO date?}`` (``at`` defaults to today).

Churn: the candidate's test date is ``at`` minus the horizon - the newest window whose labels are complete - and
the promoted model is scored on that same window. That comparison is fair only if the promoted model never trained
on it, i.e. the window starts on or after the promoted model's own test date (its training labels end there). When
it does not - drift noticed less than one horizon after the promoted model's test date - the candidate is registered
but left a ``candidate`` (decision "deferred": compare again once a window after that date is labelled). Otherwise
"not worse" = ROC AUC at least the promoted model's minus ``AUC_TOLERANCE`` and a Brier score at most its plus
``BRIER_TOLERANCE``; a losing candidate is registered as ``rejected`` with the comparison, so the registry keeps the
record. Recommender: recall@5 on the newest held-out window, at least the promoted one's minus 0.005.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pandas as pd

from gymchain.common.messaging.rabbit import PermanentJobError

from .batch import engine
from .churn import scores, train_churn
from .drift import reference_profile
from .features import FEATURES
from .registry import active_model, promoted_recommender, register, register_recommender, reject
from .sources import load_source

log = logging.getLogger(__name__)
AUC_TOLERANCE = 0.005
BRIER_TOLERANCE = 0.0005
RECALL_TOLERANCE = 0.005


def retrain(payload: dict, job: dict) -> dict:
    """The ``retraining`` handler."""
    model = payload.get("model", "churn")
    at = pd.Timestamp(payload["at"]) if payload.get("at") else pd.Timestamp(datetime.now(UTC).date())
    db = engine()
    try:
        tables, source = load_source(payload, db)
        if model == "churn":
            return retrain_churn(db, tables, source, at, payload, job)
        if model == "plan-recommendation":
            return retrain_recommender(db, tables, source, at, payload, job)
    except ValueError as exc:  # bad source, too few churners / interactions: retrying cannot help
        raise PermanentJobError(str(exc).splitlines()[0]) from None
    raise PermanentJobError(f"model {model!r}: this worker retrains 'churn' and 'plan-recommendation'")


def retrain_churn(db, tables: dict, source: str, at: pd.Timestamp, payload: dict, job: dict) -> dict:
    current = active_model(db)
    horizon = int(current[1]["horizon_days"]) if current else 28
    window = at - pd.Timedelta(days=horizon)
    result = train_churn(tables, window, horizon)
    new = result.metrics["lightgbm"]
    comparison = {"window": result.test_date, "test_rows": result.rows["test"],
                  "test_positive": result.rows["test_positive"], "candidate": new}
    decision = "promoted"
    if current is not None:
        booster, metadata = current
        comparison["promoted_version"] = metadata["version"]
        if window < pd.Timestamp(metadata["test_date"]):
            decision = "deferred"
            comparison["deferred"] = (f"v{metadata['version']} trained on labels up to {metadata['test_date']}; no "
                                      f"window after it is labelled before "
                                      f"{(pd.Timestamp(metadata['test_date']) + pd.Timedelta(days=horizon)).date()}")
        else:
            old = scores(result.test_frame.churned.to_numpy(),
                         booster.predict(result.test_frame[FEATURES].to_numpy(float)))
            comparison["promoted"] = old
            better = (new["roc_auc"] >= old["roc_auc"] - AUC_TOLERANCE
                      and new["brier"] <= old["brier"] + BRIER_TOLERANCE)
            decision = "promoted" if better else "rejected"
    extra = {"reason": payload.get("reason", "manual"), "job_id": job.get("job_id"), "comparison": comparison,
             "decision": decision}
    version = register(db, result, source, reference=reference_profile(tables, result),
                       promote=decision == "promoted", extra=extra)
    if decision == "rejected":
        reject(db, "churn", version, "worse than the promoted version on the held-out window")
    log.info("retrained churn v%s (%s): %s", version, decision, comparison)
    return {"model": "churn", "version": version, "promoted": decision == "promoted", "decision": decision,
            "comparison": comparison, "reason": extra["reason"]}


def retrain_recommender(db, tables: dict, source: str, at: pd.Timestamp, payload: dict, job: dict) -> dict:
    from .recommend import evaluate, interactions, split, train_and_compare

    window = 56
    split_at = at - pd.Timedelta(days=window)
    model, metrics = train_and_compare(tables, split_at, window)
    comparison = {"window": split_at.date().isoformat(), "candidate": metrics["ease"],
                  "popularity": metrics["popularity"]}
    promote = True
    current = promoted_recommender(db)
    if current is not None:
        train, truth = split(interactions(tables), split_at, window)
        old = evaluate(current[0], train, truth)
        comparison |= {"promoted_version": current[1]["version"], "promoted": old}
        promote = metrics["ease"]["recall@5"] >= old["recall@5"] - RECALL_TOLERANCE
    model.params |= {"reason": payload.get("reason", "manual")}
    version = register_recommender(db, model, source, promote=promote)
    if not promote:
        reject(db, "recommender", version, "not better than the promoted version on the held-out window")
    return {"model": "plan-recommendation", "version": version, "promoted": promote,
            "comparison": comparison}
