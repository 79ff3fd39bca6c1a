"""The gymchain CLI: help on every command, one-line errors with a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COMMANDS = ("up", "down", "status", "migrate", "seed", "keygen", "train-churn", "train-recommender", "logs")


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gymchain.cli", *args], check=False, capture_output=True, text=True,
                          env=os.environ | (env or {}), timeout=120)


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command):
    answer = run(command, "--help")
    assert answer.returncode == 0 and f"usage: gymchain {command}" in answer.stdout


def test_seed_refuses_a_database_with_data(world):
    answer = run("seed")
    assert answer.returncode == 2 and "already has units" in answer.stderr and "Traceback" not in answer.stderr
    assert run("seed", "--if-empty").returncode == 0


def test_unreachable_database_is_one_line(tmp_path):
    answer = run("migrate", env={"GYM_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"})
    assert answer.returncode == 1 and answer.stderr.startswith("gymchain migrate: OperationalError")
    assert len(answer.stderr.strip().splitlines()) == 1


def test_keygen_gives_secrets_production_accepts():
    from gymchain.common.settings import Settings, check_production

    lines = dict(line.split("=", 1) for line in run("keygen").stdout.split())
    check_production(Settings(env=lines["GYM_ENV"], jwt_secret=lines["GYM_JWT_SECRET"], pii_key=lines["GYM_PII_KEY"],
                              blind_index_key=lines["GYM_BLIND_INDEX_KEY"], sync_secret=lines["GYM_SYNC_SECRET"]))
    assert lines["GYM_PII_KEY"] != run("keygen").stdout.split()[2].split("=", 1)[1]


def test_unknown_command_is_usage_error():
    answer = run("launch")
    assert answer.returncode == 2 and "invalid choice" in answer.stderr


def test_down_tolerates_a_process_that_ended_before_its_signal():
    """`gymchain down` checks a pid, then signals its group: a process ending in between must not stop the loop."""
    import signal

    from gymchain.cli import _signal_group

    child = subprocess.Popen(["true"], start_new_session=True)
    child.wait()
    _signal_group(child.pid, signal.SIGTERM)  # gone: no ProcessLookupError
