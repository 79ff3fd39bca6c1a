"""Federated (FedAvg over the units' stores) vs central churn training on simulated members; JSON.

    OMP_NUM_THREADS=1 gym/.venv/bin/python gym/benchmarks/federated_churn.py [--members 10000] [--units 5]
        [--out gym/benchmarks/results/federated_churn.json]

The same held-out date scores: the federated logistic regression (member rows stay in each unit's store; only
moments and weights travel), the same model trained centrally on pooled rows, each unit's model trained alone,
the constant training rate, and for reference the central models of gymchain.ml.churn.train_churn (LightGBM and
scikit-learn's logistic regression). Every metric carries its test n and positives; the CPU and load are recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from machine import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--units", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--test-date", default="2026-05-04")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    if not 500 <= args.members <= 500_000:
        parser.error(f"--members {args.members}: expected 500..500000")
    if not 2 <= args.units <= 50:
        parser.error(f"--units {args.units}: expected 2..50")
    if not 1 <= args.rounds <= 1000:
        parser.error(f"--rounds {args.rounds}: expected 1..1000")

    from gymchain.ml.churn import train_churn
    from gymchain.ml.federated import FedConfig, compare
    from gymchain.ml.loaders import validate_all
    from gymchain.ml.simulator import SimConfig, simulate

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    tables = validate_all(simulate(SimConfig(members=args.members, units=args.units, seed=args.seed)))
    t_sim = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = compare(tables, args.test_date, FedConfig(rounds=args.rounds))
    t_fed = time.perf_counter() - t1
    t2 = time.perf_counter()
    reference = train_churn(tables, args.test_date, result["config"]["horizon_days"], result["config"]["n_train"])
    t_ref = time.perf_counter() - t2
    result["metrics"]["central_lightgbm_reference"] = reference.metrics["lightgbm"]
    result["metrics"]["central_sklearn_logistic_reference"] = reference.metrics["logistic_regression"]
    result["reference_rows"] = reference.rows
    out = {"benchmark": "federated_churn", "members": args.members, "units": args.units, "seed": args.seed,
           **result, "seconds": {"simulate": round(t_sim, 1), "federated_central_alone": round(t_fed, 1),
                                 "reference_train_churn": round(t_ref, 1)},
           "machine": machine(), "load_average_1m": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
           "command": "OMP_NUM_THREADS=1 gym/.venv/bin/python gym/benchmarks/federated_churn.py "
                      f"--members {args.members} --units {args.units} --seed {args.seed} --rounds {args.rounds}"}
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
