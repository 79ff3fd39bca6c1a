"""Run the offline-unit sync scenario (gymchain.sync.scenario) on throw-away databases and print its counts as
JSON: events written on each side, delivered once, lost, re-delivered and dropped as duplicates, conflicts
compensated, and the convergence checks.

    gym/.venv/bin/python gym/benchmarks/sync_scenario.py [--offline-checkins 15] [--online-checkins 10]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from alembic import command

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from data_fixtures import create_database, database_url, drop_database
from gymchain.migrations import alembic_config
from gymchain.sync.scenario import MEMBERS_PER_UNIT, run_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offline-checkins", type=int, default=15)
    parser.add_argument("--online-checkins", type=int, default=10)
    args = parser.parse_args()
    for name in ("offline_checkins", "online_checkins"):
        value = getattr(args, name)
        if not 1 <= value <= MEMBERS_PER_UNIT:
            parser.error(f"--{name.replace('_', '-')} {value}: expected 1 to {MEMBERS_PER_UNIT} (one per member)")
    logging.disable(logging.INFO)  # the services log every request; this script prints only its JSON
    names = {"central": create_database("gym_bench_c"), "SP1": create_database("gym_bench_sp1"),
             "RJ1": create_database("gym_bench_rj1")}
    try:
        command.upgrade(alembic_config(database_url(names["central"])), "heads")
        started = time.perf_counter()
        result = run_scenario(database_url(names["central"]),
                              {"SP1": database_url(names["SP1"]), "RJ1": database_url(names["RJ1"])},
                              offline_checkins=args.offline_checkins, online_checkins=args.online_checkins)
        result["scenario_seconds"] = round(time.perf_counter() - started, 2)
    finally:
        for name in names.values():
            drop_database(name)
    result.pop("unit_status")
    print(json.dumps(result, default=str, indent=1))


if __name__ == "__main__":
    main()
