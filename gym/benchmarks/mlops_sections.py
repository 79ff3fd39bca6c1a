"""Sections of analytics_pipeline.py for recommendations, drift, A/B testing and batch scoring through RabbitMQ.

Each function returns a JSON-ready dict. ``batch_scoring`` needs the local PostgreSQL and RabbitMQ: it creates its
own database (dropped at the end) and queue names, writes the simulated chain as the CSV export the worker reads,
and runs the real worker threads (``gymchain.ml.worker``) consuming the ``batch-scoring`` queue.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time

import numpy as np
import pandas as pd


def recommendations(raw: dict, tables: dict, split: str = "2026-04-06", window_days: int = 56) -> tuple[dict, tuple]:
    """Metrics of every recommender kind (and a random order), plus (models, train, truth) for the A/B section."""
    from gymchain.ml import recommend as rec

    data = tables | {"service_purchases": raw["service_purchases"]}
    t0 = time.perf_counter()
    inter = rec.interactions(data)
    train, truth = rec.split(inter, pd.Timestamp(split), window_days)
    t_split = time.perf_counter() - t0
    out, models = {}, {}
    for kind in rec.KINDS:
        t1 = time.perf_counter()
        models[kind] = rec.fit(train, kind)
        t_fit = time.perf_counter() - t1
        t2 = time.perf_counter()
        out[kind] = rec.evaluate(models[kind], train, truth) | {"fit_s": round(t_fit, 2),
                                                                 "evaluate_s": round(time.perf_counter() - t2, 2)}
    # a random ranking of the same candidates: the floor under popularity
    rng = np.random.default_rng(0)
    random_model = rec.Recommender("popularity", models["ease"].items, rng.random(len(models["ease"].items)))
    out["random_order"] = rec.evaluate(random_model, train, truth)
    report = {"split_date": split, "window_days": window_days, "interactions": len(inter),
              "train_interactions": len(train), "items": len(models["ease"].items),
              "members_evaluated": len(truth), "held_out_new_items": sum(len(v) for v in truth.values()),
              "metrics": out, "interactions_and_split_s": round(t_split, 2),
              "note": "held-out = classes/services a member took in the window that they had never taken before"}
    return report, (models, train, truth)


def ab_test(models: dict, train: pd.DataFrame, truth: dict, seed: int = 0) -> dict:
    """Popularity (A) vs EASE (B) top-5 lists; a member converts if a shown item is one they then took (the
    held-out truth). Every member's outcome under both arms is known offline, so the true effect is known; the
    experiment sees one arm per member (hash assignment) and its readout should recover the effect."""
    from gymchain.ml import abtest

    experiment = abtest.EXPERIMENTS["rec-strategy"]
    members = np.array(sorted(truth))
    # members with held-out items plus as many without (they never convert under either arm)
    seen = np.unique(train.member_id.to_numpy())
    others = np.setdiff1d(seen, members)
    rng = np.random.default_rng(seed)
    population = np.concatenate([members, rng.choice(others, size=min(len(others), len(members)), replace=False)])
    hits = {}
    for arm, kind in (("popularity", "popularity"), ("model", "ease")):
        model = models[kind]
        recs = model.recommend(model.matrix(train, np.sort(population)), k=5)
        shown = dict(zip(np.sort(population), recs, strict=True))
        hits[arm] = np.array([any(r["item"] in truth.get(int(m), ()) for r in shown[m]) for m in population])
    true_effect = float(hits["model"].mean() - hits["popularity"].mean())
    arms = abtest.assign_many(experiment, population)
    exposed = {a: int((arms == a).sum()) for a in experiment.arms}
    converted = {a: int(hits[a][arms == a].sum()) for a in experiment.arms}
    readout = abtest.readout_counts(exposed, converted, experiment.arms[:2], experiment.weights)
    synthetic = abtest.simulate_experiment(100_000, 0.10, 0.11, seed=seed)
    null = [abtest.simulate_experiment(20_000, 0.10, 0.10, seed=s)["significant"] for s in range(200)]
    return {"recommendation_experiment": {"members": len(population), "true_effect_all_members": true_effect,
                                          "true_rates": {a: float(hits[a].mean()) for a in hits},
                                          "readout": readout,
                                          "ci_covers_true_effect": bool(readout["ci95"][0] <= true_effect
                                                                        <= readout["ci95"][1])},
            "synthetic_known_effect": {"true_difference": 0.01, "members": 100_000, "readout": synthetic,
                                       "ci_covers_truth": bool(synthetic["ci95"][0] <= 0.01 <= synthetic["ci95"][1])},
            "null_experiments_false_positive_rate": {"experiments": 200, "members_each": 20_000,
                                                     "rate": float(np.mean(null)), "alpha": 0.05}}


def drift(tables: dict, result, test_date: str = "2026-05-04", shift_from: str = "2026-04-06") -> dict:
    """Reference = the churn model's training dates; compared at the test date as simulated, at a later date,
    and with injected drift (half of all check-ins from ``shift_from`` on disappear); then a retrained model
    against the old one on a drifted held-out window neither trained on (what the retraining job decides on)."""
    from gymchain.ml import drift as dr
    from gymchain.ml.churn import scores, train_churn
    from gymchain.ml.features import FEATURES, churn_features

    t0 = time.perf_counter()
    reference = dr.reference_profile(tables, result)
    t_ref = time.perf_counter() - t0

    def check(data: dict, at: str) -> dict:
        t = time.perf_counter()
        frame = churn_features(data, pd.Timestamp(at))
        report = dr.compare(reference, frame, result.booster.predict(frame[FEATURES].to_numpy(float)))
        top = sorted(report["columns"].items(), key=lambda kv: -kv[1]["psi"])[:5]
        return {"at": at, "rows": report["rows"], "alert": report["alert"], "drifted": report["drifted"],
                "prediction_psi": report["prediction_psi"], "top_psi": {k: v for k, v in top},
                "seconds": round(time.perf_counter() - t, 2)}

    visits = tables["visits"]
    rng = np.random.default_rng(0)
    drifted = dict(tables, visits=visits[~((visits.visited_at >= pd.Timestamp(shift_from))
                                           & (rng.random(len(visits)) < 0.5))])
    out = {"reference_rows": reference["prediction"]["n"], "reference_dates": reference["dates"],
           "reference_s": round(t_ref, 2), "thresholds": {"psi": dr.PSI_ALERT, "ks": dr.KS_ALERT,
                                                          "min_features": dr.MIN_FEATURES,
                                                          "prediction_psi": dr.PREDICTION_PSI_ALERT},
           "as_simulated_at_test_date": check(tables, test_date),
           "as_simulated_8_weeks_later": check(tables, (pd.Timestamp(test_date) + pd.Timedelta(weeks=8)).date()
                                               .isoformat()),
           "injected_half_of_checkins_lost": check(drifted, test_date)}
    # the retraining job's decision, done fairly: the old model trained on labels up to the test date, so the
    # comparison window must start there or later: a candidate with test date test_date + 4 weeks (trained on the
    # drifted history; its last training date already has four weeks of drift) against the old model on it
    t1 = time.perf_counter()
    window = (pd.Timestamp(test_date) + pd.Timedelta(days=result.horizon_days)).date().isoformat()
    new = train_churn(drifted, window, result.horizon_days)
    old = scores(new.test_frame.churned.to_numpy(), result.booster.predict(new.test_frame[FEATURES].to_numpy(float)))
    out["retraining_on_drifted_data"] = {"held_out_window": window, "candidate_train_dates": new.train_dates,
                                         "test_rows": new.rows["test"], "test_positive": new.rows["test_positive"],
                                         "candidate": new.metrics["lightgbm"], "promoted_model": old,
                                         "seconds": round(time.perf_counter() - t1, 2)}
    return out


def batch_scoring(tables: dict, result, at: str = "2026-05-04", rounds: int = 2) -> dict:
    """Score every unit through RabbitMQ (one job per unit) with the real worker; members/s per round."""
    import psycopg
    import sqlalchemy as sa

    run = f"{os.getpid()}_{secrets.token_hex(3)}"
    name = f"gym_bench_mlops_{run}"
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    os.environ.update({"GYM_DATABASE_URL": url, "GYM_RABBIT_QUEUE_SUFFIX": f".bench{run}"})
    from gymchain.common.settings import get_settings

    get_settings.cache_clear()
    from gymchain.common.docstore import get_collection
    from gymchain.common.messaging import rabbit
    from gymchain.migrations import upgrade
    from gymchain.ml import worker
    from gymchain.ml.batch import submit_system_job
    from gymchain.ml.loaders import write_csv_dir
    from gymchain.ml.registry import register

    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    stop = threading.Event()
    threads = []
    try:
        upgrade(url)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        version = register(engine, result, "benchmark")
        folder = tempfile.mkdtemp(prefix="gym_bench_csv_")
        t0 = time.perf_counter()
        write_csv_dir({k: tables[k] for k in ("members", "contracts", "contract_prices", "visits", "bookings")},
                      folder)
        t_csv = time.perf_counter() - t0
        threads = worker.start(stop, ("batch-scoring",))
        units = sorted(tables["members"].unit_id.unique().tolist())
        jobs = get_collection("jobs")
        out_rounds = []
        for r in range(rounds):
            t1 = time.perf_counter()
            ids = [submit_system_job("batch-scoring", {"model": "churn", "source": "csv", "path": folder,
                                                       "at": at, "reasons": True}, unit_id=int(u),
                                     reason="benchmark") for u in units]
            pending = set(ids)
            docs = {}
            while pending:
                for job_id in list(pending):
                    doc = jobs.find_one({"_id": job_id})
                    if doc["status"] in ("done", "failed"):
                        docs[job_id] = doc
                        pending.discard(job_id)
                time.sleep(0.2)
            wall = time.perf_counter() - t1
            failed = [d.get("error") for d in docs.values() if d["status"] != "done"]
            scored = sum(d["result"]["members_scored"] for d in docs.values() if d["status"] == "done")
            parts = {k: round(sum(d["result"]["seconds"][k] for d in docs.values() if d["status"] == "done"), 2)
                     for k in ("load", "features", "predict", "reasons", "write")}
            out_rounds.append({"round": r + 1, "jobs": len(ids), "failed": failed, "members_scored": scored,
                               "wall_s": round(wall, 2), "members_per_s": round(scored / wall),
                               "worker_seconds_by_step": parts,
                               "note": "round 1 includes reading the CSV export once (the worker caches it)"
                               if r == 0 else "CSV already cached by the worker"})
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT count(*) FROM ml_scores")).scalar()
        engine.dispose()
        return {"model_version": version, "units": len(units), "csv_write_s": round(t_csv, 2),
                "rows_in_ml_scores": rows, "rounds": out_rounds, "worker_threads": 1}
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        connection = rabbit.connect()
        rabbit.delete_queues(connection.channel(), "batch-scoring", worker.POLICY)
        connection.close()
        from gymchain.common.db import get_engine

        get_engine.cache_clear()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
