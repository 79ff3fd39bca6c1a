"""Analytics pipeline on simulated members: simulate, churn (LightGBM vs baselines), explain, score, segment; JSON.

    gym/.venv/bin/python gym/benchmarks/analytics_pipeline.py [--members 100000] [--figure PATH]

Prints every metric beside its baselines (logistic regression, the constant training rate), the SHAP ranking with
the simulator's true driver of each feature, training and scoring times, scoring throughput and the CPU model;
then (mlops_sections.py) recall@5/NDCG@5 of the recommenders vs popularity, an A/B readout with a known effect, drift
on an injected shift, and batch-scoring throughput through RabbitMQ with the real worker; then (timetable_section.py)
class demand forecast MASE vs seasonal-naive and the timetable optimiser's gain on held-out simulated demand.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from machine import cpu_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--test-date", default="2026-05-04")
    parser.add_argument("--horizon-days", type=int, default=28)
    parser.add_argument("--figure", default=None, help="write the calibration curve PNG here")
    parser.add_argument("--timetable-time-limit", type=float, default=5.0,
                        help="CP-SAT deterministic time limit per unit in the timetable section")
    parser.add_argument("--no-batch-scoring", action="store_true",
                        help="skip batch scoring through RabbitMQ (needs the local PostgreSQL and RabbitMQ)")
    args = parser.parse_args()
    if not 500 <= args.members <= 2_000_000:
        parser.error(f"--members {args.members}: expected 500..2000000")

    from gymchain.ml.churn import churn_features, driver_of, lime_explanations, shap_global, top_reasons, train_churn
    from gymchain.ml.features import FEATURES
    from gymchain.ml.figures import calibration_figure
    from gymchain.ml.loaders import validate_all
    from gymchain.ml.segments import agreement, segment
    from gymchain.ml.simulator import SimConfig, simulate

    t0 = time.perf_counter()
    raw = simulate(SimConfig(members=args.members, seed=args.seed))
    t_sim = time.perf_counter() - t0
    tables = validate_all(raw)
    t1 = time.perf_counter()
    result = train_churn(tables, args.test_date, args.horizon_days)
    t_train = time.perf_counter() - t1
    t2 = time.perf_counter()
    frame = churn_features(tables, args.test_date)
    t_features = time.perf_counter() - t2
    t3 = time.perf_counter()
    result.booster.predict(frame[FEATURES].to_numpy(float))
    t_predict = time.perf_counter() - t3
    t4 = time.perf_counter()
    riskiest = frame.iloc[np.argsort(-result.test_scores)[:100]]
    top_reasons(result.booster, riskiest, k=3)
    t_reasons = time.perf_counter() - t4
    sample = result.test_frame.sample(min(5000, len(result.test_frame)), random_state=0)
    importance = shap_global(result.booster, sample)
    lime = lime_explanations(result.booster, sample, riskiest.head(3), k=5, samples=1000)
    t5 = time.perf_counter()
    seg_frame, seg = segment(tables, args.test_date)
    t_segment = time.perf_counter() - t5
    shuffled = np.random.default_rng(0).permutation(seg.labels)
    segmentation = {
        "members": len(seg_frame), "k_by_silhouette": seg.k,
        "silhouette_by_k": {k: round(v, 4) for k, v in seg.silhouette_by_k.items()},
        "stability_ari_by_k": {k: round(v, 4) for k, v in seg.stability_by_k.items()},
        "ari_vs_true_segments": {"kmeans": round(agreement(raw["truth"], seg_frame, seg.labels), 4),
                                 "hdbscan_sample": round(agreement(raw["truth"], seg_frame, seg.density_labels,
                                                                   seg.density_rows), 4),
                                 "shuffled_labels_baseline": round(agreement(raw["truth"], seg_frame, shuffled), 4)},
        "hdbscan_sample_size": len(seg.density_rows), "hdbscan_noise_share": round(seg.density_noise_share, 4),
        "hdbscan_clusters": len(set(seg.density_labels) - {-1}),
        "profiles": seg.profiles.reset_index().to_dict(orient="records"),
    }
    import mlops_sections

    t6 = time.perf_counter()
    recommendations, (rec_models, rec_train, rec_truth) = mlops_sections.recommendations(raw, tables)
    ab = mlops_sections.ab_test(rec_models, rec_train, rec_truth)
    t_rec_ab = time.perf_counter() - t6
    drift = mlops_sections.drift(tables, result, args.test_date)
    batch = None if args.no_batch_scoring else mlops_sections.batch_scoring(tables, result, args.test_date)
    import timetable_section  # demand forecast (GLM vs seasonal-naive) -> CP-SAT timetable, gain on held-out demand

    classes = timetable_section.timetable(args.members, time_limit_s=args.timetable_time_limit)
    if args.figure:
        calibration_figure(result.calibration, args.figure, f"Churn within {args.horizon_days} days, "
                                                            f"{args.members:,} simulated members")
    print(json.dumps({
        "members": args.members, "rows": result.rows, "train_dates": result.train_dates,
        "test_date": result.test_date, "horizon_days": result.horizon_days,
        "metrics": result.metrics,
        "calibration": result.calibration,
        "shap_mean_abs": [{"feature": f, "value": v, "true_driver": driver_of(f)} for f, v in importance.items()],
        "segmentation": segmentation,
        "lime_top3_members": [[(cond, round(w, 4)) for cond, w in e] for e in lime],
        "recommendations": recommendations, "ab_test": ab, "drift": drift, "batch_scoring_rabbitmq": batch,
        "demand_forecast_timetable": classes,
        "seconds": {"simulate": round(t_sim, 2), "train_both_models_incl_features": round(t_train, 2),
                    "score_features": round(t_features, 2), "score_predict": round(t_predict, 3),
                    "reasons_100_members": round(t_reasons, 3), "segmentation": round(t_segment, 2),
                    "recommendations_and_ab": round(t_rec_ab, 2)},
        "scoring_members_per_s": {"features_plus_predict": round(len(frame) / (t_features + t_predict)),
                                  "predict_only": round(len(frame) / t_predict)},
        "scored_members": len(frame), "visits": len(tables["visits"]), "bookings": len(tables["bookings"]),
        "cpu": cpu_model(), "threads": 1,
    }, indent=1))


if __name__ == "__main__":
    main()
