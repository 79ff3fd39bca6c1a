"""Demand forecast -> timetable section of the analytics benchmark (also runnable alone, printing JSON).

    gym/.venv/bin/python gym/benchmarks/timetable_section.py [--members 100000] [--time-limit 5]

Simulates the chain's classes (one unit per 2,500 members, 104 weeks), fits the Poisson GLM on the first 92 weeks,
reports MASE on the last 12 beside seasonal-naive (last week, 52 weeks back) and the simulator's true mean (the
floor no forecast can beat), then optimises every unit's timetable with CP-SAT and evaluates the proposed and the
current timetable on the simulator's own demand draws of those 12 held-out weeks.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

HELD_WEEKS = 12


def timetable(members: int, seed: int = 11, time_limit_s: float = 5.0, waitlist_weight: float = 0.25) -> dict:
    from gymchain.ml.classes_sim import CLASS_TYPES, ClassSimConfig, simulate_classes, simulated_outcome
    from gymchain.ml.forecast import evaluate_forecast, mase
    from gymchain.ml.timetable import build_problem, optimise

    t0 = time.perf_counter()
    sim = simulate_classes(ClassSimConfig(members=members, seed=seed))
    t_sim = time.perf_counter() - t0
    sessions = sim.tables["class_sessions"]
    cutoff = pd.Timestamp(sim.config.start) + pd.Timedelta(weeks=sim.config.weeks - HELD_WEEKS)
    t1 = time.perf_counter()
    summary, model, held, forecasts = evaluate_forecast(sessions, cutoff, HELD_WEEKS)
    t_forecast = time.perf_counter() - t1
    # the floor: the simulator's true mean demand of each held-out session
    week = ((held.starts_at - pd.Timestamp(sim.config.start)).dt.days // 7).to_numpy()
    kind = np.array([list(CLASS_TYPES).index(k) for k in held.class_type])
    truth = sim.mean[held.unit_id.to_numpy() - 1, kind, held.starts_at.dt.day_of_week.to_numpy(),
                     held.starts_at.dt.hour.to_numpy(), week]
    floor = mase(sessions, cutoff, held, {**forecasts, "true_mean_floor": truth})
    weeks = [cutoff + pd.Timedelta(weeks=w) for w in range(HELD_WEEKS)]
    held_weeks = range(sim.config.weeks - HELD_WEEKS, sim.config.weeks)
    units, solve_s, build_s = [], [], []
    for unit in sim.units:
        t2 = time.perf_counter()
        problem = build_problem(sim.tables, unit, model, weeks)
        build_s.append(time.perf_counter() - t2)
        proposal = optimise(problem, time_limit_s=time_limit_s, seed=0, waitlist_weight=waitlist_weight)
        solve_s.append(proposal.seconds)
        now = simulated_outcome(sim, unit, problem.current, held_weeks)
        new = simulated_outcome(sim, unit, proposal.entries, held_weeks)
        units.append({"unit": unit, "status": proposal.status, "relaxed": proposal.relaxed,
                      "sessions_per_week": now["sessions_per_week"], "proposed_sessions": new["sessions_per_week"],
                      "current": now, "proposed": new,
                      "forecast_expected_per_week": {"current": proposal.current_expected,
                                                     "proposed": proposal.proposed_expected}})
    total = {k: sum(u[w][k] for u in units) for w in ("current",) for k in ("attendance", "waitlist", "demand")}
    total_new = {k: sum(u["proposed"][k] for u in units) for k in ("attendance", "waitlist", "demand")}
    gains = [u["proposed"]["attendance"] / u["current"]["attendance"] - 1 for u in units]
    return {
        "members": members, "units": len(sim.units), "weeks": sim.config.weeks, "held_out_weeks": HELD_WEEKS,
        "cutoff": str(cutoff.date()), "sessions": len(sessions),
        "forecast": summary | {"mase_with_true_mean_floor": floor},
        "timetable": {
            "time_limit_s_deterministic": time_limit_s, "statuses": pd.Series([u["status"] for u in units])
            .value_counts().to_dict(), "relaxed_units": sum(bool(u["relaxed"]) for u in units),
            "held_out_truth_current": total, "held_out_truth_proposed": total_new,
            "attendance_gain_pct": round(100 * (total_new["attendance"] / total["attendance"] - 1), 2),
            "waitlist_change_pct": round(100 * (total_new["waitlist"] / max(total["waitlist"], 1) - 1), 2),
            "unit_gain_pct": {"min": round(100 * min(gains), 2), "median": round(100 * float(np.median(gains)), 2),
                              "max": round(100 * max(gains), 2)},
            "per_unit": units[:5],
        },
        "seconds": {"simulate_classes": round(t_sim, 2), "forecast_fit_and_evaluate": round(t_forecast, 2),
                    "glm_fit": summary["fit_seconds"], "build_problems_total": round(sum(build_s), 2),
                    "solve_total": round(sum(solve_s), 2), "solve_per_unit_median": round(float(np.median(solve_s)), 3),
                    "solve_per_unit_max": round(max(solve_s), 3)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--time-limit", type=float, default=5.0, help="CP-SAT deterministic time limit per unit")
    args = parser.parse_args()
    if not 1000 <= args.members <= 2_000_000:
        parser.error(f"--members {args.members}: expected 1000..2000000")
    from machine import cpu_model

    print(json.dumps(timetable(args.members, args.seed, args.time_limit) | {"cpu": cpu_model(), "threads": 1},
                     indent=1, default=str))


if __name__ == "__main__":
    main()
