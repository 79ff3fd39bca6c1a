"""``gymchain train-churn``: trains, saves, registers; bad input is one line on stderr with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gymchain.cli", "train-churn", *args], check=False,
                          capture_output=True, text=True, timeout=240, env=os.environ | {"PYTHONWARNINGS": "ignore"})


@pytest.mark.parametrize(("args", "message"), [
    (["--csv", "/nonexistent/export"], "/nonexistent/export: not a folder"),
    (["--test-date", "2026-13-01", "--no-register"], "--test-date '2026-13-01': expected YYYY-MM-DD"),
    (["--simulate", "10", "--no-register"], "--simulate 10: expected 500..2000000"),
    (["--horizon-days", "0", "--no-register"], "--horizon-days 0: expected 7..180"),
])
def test_bad_input_is_one_line(args, message):
    answer = run(*args)
    assert answer.returncode == 2 and message in answer.stderr and answer.stderr.count("\n") == 1


def test_a_csv_export_with_a_bad_value_is_named(tmp_path):
    from gymchain.ml.loaders import write_csv_dir
    from gymchain.ml.simulator import SimConfig, simulate

    write_csv_dir(simulate(SimConfig(members=600, weeks=30)), tmp_path)
    (tmp_path / "members.csv").write_text("member_id,unit_id,joined_on\n1,1,not-a-date\n")
    answer = run("--csv", str(tmp_path), "--no-register")
    assert answer.returncode == 2 and "members.csv: members.joined_on: value 'not-a-date'" in answer.stderr


def test_trains_saves_and_registers(database_url, tmp_path):
    answer = run("--simulate", "2500", "--seed", "4", "--out", str(tmp_path / "model"), "--database-url",
                 database_url)
    assert answer.returncode == 0, answer.stderr
    report = json.loads(answer.stdout)
    assert report["registered_version"] >= 1 and report["test_date"] == "2026-05-04"
    assert set(report["metrics"]) == {"lightgbm", "logistic_regression", "training_base_rate"}
    assert (tmp_path / "model" / "model.txt").read_text().startswith("tree")
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT version, active, metadata FROM ml_models WHERE name = 'churn' "
                                   "ORDER BY version DESC LIMIT 1")).one()
    engine.dispose()
    assert row.version == report["registered_version"] and row.active
    assert row.metadata["source"] == "simulator members=2500 seed=4"
