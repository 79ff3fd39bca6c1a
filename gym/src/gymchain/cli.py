"""``gymchain``: run the platform locally.

  gymchain migrate [--downgrade REV]   Alembic: upgrade every head (core + datastores), or downgrade
  gymchain seed [--seed N] [--if-empty] the demo chain into an empty database
  gymchain up                          start every service, the gateway and the sync processes in the background
  gymchain down                        stop what ``up`` started
  gymchain status                      processes, and the gateway's view of every service
  gymchain keygen                      fresh secrets for GYM_ENV=production
  gymchain train-churn [--simulate N | --csv DIR | --from-database]  train + register the churn model
  gymchain train-recommender [--simulate N | --csv DIR | --from-database]  train + register the recommender
  gymchain logs [--trace-id ID | --request-id ID | --service S | --level L | --grep TEXT]  the central log

Processes write ``gym/.run/<name>.pid`` and ``gym/.run/<name>.log``. Settings come from ``GYM_*`` variables.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

GYM_DIR = Path(__file__).resolve().parents[2]
RUN_DIR = Path(os.environ.get("GYM_RUN_DIR", GYM_DIR / ".run"))
SERVICE_PORTS = {"auth": 8001, "members": 8002, "analytics": 8003, "vision": 8004, "assistant": 8005}
GATEWAY_PORT = 8000
CENTRAL_SYNC_PORT = 8110
EDGE_PORTS = (8101, 8102, 8103)


@dataclass(frozen=True)
class Proc:
    name: str
    argv: list[str]
    health_url: str | None


def uvicorn(module: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", f"{module}:app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--timeout-keep-alive", "30"]


def unit_codes() -> list[str]:
    from sqlalchemy import select

    from gymchain.common.db import get_engine
    from gymchain.members.models import Unit

    with get_engine().connect() as conn:
        return list(conn.execute(select(Unit.code).order_by(Unit.id)).scalars())


def processes() -> list[Proc]:
    procs = [Proc(n, uvicorn(f"gymchain.{n}.app", p), f"http://127.0.0.1:{p}/health")
             for n, p in SERVICE_PORTS.items()]
    procs.append(Proc("gateway", uvicorn("gymchain.gateway.app", GATEWAY_PORT),
                      f"http://127.0.0.1:{GATEWAY_PORT}/health"))
    procs.append(Proc("sync-central", [sys.executable, "-m", "gymchain.sync.central", "--port",
                                       str(CENTRAL_SYNC_PORT)], f"http://127.0.0.1:{CENTRAL_SYNC_PORT}/health"))
    for code, port in zip(unit_codes(), EDGE_PORTS, strict=False):
        procs.append(Proc(f"edge-{code}", [sys.executable, "-m", "gymchain.sync.edge", "--unit", code, "--port",
                                           str(port)], f"http://127.0.0.1:{port}/health"))
    procs.append(Proc("outbox-relay", [sys.executable, "-m", "gymchain.common.messaging.relay"], None))
    procs.append(Proc("sensor-ingest", [sys.executable, "-m", "gymchain.common.messaging.sensor_ingest"], None))
    procs.append(Proc("ml-worker", [sys.executable, "-m", "gymchain.ml.worker"], None))
    procs.append(Proc("assistant-worker", [sys.executable, "-m", "gymchain.common.messaging.rabbit", "--kind",
                                           "assistant-reply", "--handler", "gymchain.assistant.worker:handle",
                                           "--record-status"], None))
    vision_python = GYM_DIR / ".venv-vision" / "bin" / "python"  # mediapipe's own venv (numpy<2), by setup.sh
    if vision_python.exists():
        procs.append(Proc("vision-worker", [str(vision_python), "-m", "gymchain.vision.worker"], None))
    return procs


def pid_of(name: str) -> int | None:
    """The pid recorded for ``name`` if that process is still alive."""
    path = RUN_DIR / f"{name}.pid"
    if not path.exists():
        return None
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (ValueError, ProcessLookupError, PermissionError):
        return None


def start(proc: Proc) -> str:
    if pid_of(proc.name):
        return "already running"
    log = open(RUN_DIR / f"{proc.name}.log", "ab")  # noqa: SIM115 - handed to the child process
    child = subprocess.Popen(proc.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             cwd=GYM_DIR, env=os.environ | {"PYTHONUNBUFFERED": "1"} | observability_env(RUN_DIR))
    (RUN_DIR / f"{proc.name}.pid").write_text(str(child.pid))
    return f"started (pid {child.pid})"


def observability_env(run_dir: Path) -> dict[str, str]:
    """Where logs, traces and metrics go when gym/scripts/start_observability.sh runs (else nothing)."""
    from gymchain.common.metrics import observability_env as read

    return read(run_dir)


def healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(procs: list[Proc], timeout_s: float) -> list[str]:
    """Names of the processes still unhealthy (or dead) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    pending = [p for p in procs if p.health_url]
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if pid_of(p.name) and not healthy(p.health_url)]
        time.sleep(0.5)
    dead = [p.name for p in procs if not pid_of(p.name)]
    return dead + [p.name for p in pending]


def demo_logins() -> str:
    """Staff demo logins plus the first member with an active contract of each unit (read from the database)."""
    from sqlalchemy import text

    from gymchain.common.db import get_engine
    from gymchain.common.security import pii
    from gymchain.simulate.seed import demo_logins_text

    with get_engine().connect() as conn:
        rows = conn.execute(text("""SELECT DISTINCT ON (m.unit_id) m.email_enc FROM members m
                                    JOIN contracts c ON c.member_id = m.id AND c.status = 'active'
                                    WHERE m.status = 'active' ORDER BY m.unit_id, m.id""")).scalars()
        emails = [pii.decrypt(e, "members.email") for e in rows]
    if not emails:
        return "No demo data (run: gymchain seed)."
    return demo_logins_text(emails)


def cmd_up(args: argparse.Namespace) -> int:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    procs = processes()
    for proc in procs:
        print(f"{proc.name:<22} {start(proc)}")
    failing = wait_healthy(procs, args.timeout)
    if failing:
        print(f"not healthy after {args.timeout:.0f} s: {', '.join(failing)} (see {RUN_DIR}/<name>.log)",
              file=sys.stderr)
        return 1
    print(f"\ngymchain is up.\n  Gateway + aggregated API docs: http://127.0.0.1:{GATEWAY_PORT}/docs")
    print(f"  Web front end:                 http://127.0.0.1:{GATEWAY_PORT}/")
    for name, port in SERVICE_PORTS.items():
        print(f"  {name:<10} docs: http://127.0.0.1:{port}/docs")
    print(f"  Logs and pids: {RUN_DIR}\n")
    print(demo_logins())
    return 0


def _signal_group(pid: int, sig: int) -> None:
    """Signal a process group; one that ended between the check and the signal is already stopped."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def cmd_down(_args: argparse.Namespace) -> int:
    if not RUN_DIR.exists():
        print("nothing to stop")
        return 0
    for pid_file in sorted(RUN_DIR.glob("*.pid")):
        name = pid_file.stem
        pid = pid_of(name)
        if pid:
            _signal_group(pid, signal.SIGTERM)  # its own session: the process and its children
            for _ in range(50):
                if not pid_of(name):
                    break
                time.sleep(0.1)
            else:
                _signal_group(pid, signal.SIGKILL)
            print(f"{name:<22} stopped (pid {pid})")
        pid_file.unlink(missing_ok=True)
    return 0


def cmd_status(_args: argparse.Namespace) -> int:
    names = sorted(p.stem for p in RUN_DIR.glob("*.pid")) if RUN_DIR.exists() else []
    for name in names:
        pid = pid_of(name)
        print(f"{name:<22} {f'running (pid {pid})' if pid else 'not running'}")
    try:
        health = httpx.get(f"http://127.0.0.1:{GATEWAY_PORT}/health", timeout=5).json()
    except httpx.HTTPError:
        print("gateway: not reachable")
        return 1
    print(f"gateway: {health['status']} (redis {health['redis']})")
    for name, answer in health["services"].items():
        print(f"  {name:<10} {answer.get('status')}")
    return 0 if health["status"] == "ok" else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    from gymchain.migrations import downgrade, upgrade

    if args.downgrade:
        downgrade(target=args.downgrade)
        print(f"migrate: downgraded to {args.downgrade}")
    else:
        upgrade()
        print("migrate: database at every head (core + datastores)")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from gymchain.simulate.seed import main as seed_main

    return seed_main(["--seed", str(args.seed)] + (["--if-empty"] if args.if_empty else []))


def cmd_train_churn(args: argparse.Namespace) -> int:
    from gymchain.ml.train import execute

    return execute(args)


def cmd_train_recommender(args: argparse.Namespace) -> int:
    from gymchain.ml.train_recommender import execute

    return execute(args)


def cmd_logs(args: argparse.Namespace) -> int:
    from gymchain.common.logs import print_query

    return print_query(args)


def cmd_keygen(_args: argparse.Namespace) -> int:
    """Fresh secrets for a production environment file (GYM_ENV=production refuses the development ones)."""
    import secrets

    from gymchain.common.security.pii import new_key

    print("GYM_ENV=production")
    print(f"GYM_JWT_SECRET={secrets.token_urlsafe(48)}")
    print(f"GYM_PII_KEY={new_key()}")
    print(f"GYM_BLIND_INDEX_KEY={secrets.token_urlsafe(48)}")
    print(f"GYM_SYNC_SECRET={secrets.token_urlsafe(48)}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="gymchain", description="Run the gymchain platform locally.")
    sub = root.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start every service, the gateway and the sync processes in the background")
    up.add_argument("--timeout", type=float, default=90, help="seconds to wait for health (default 90)")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop what 'up' started").set_defaults(func=cmd_down)
    sub.add_parser("status", help="processes and the gateway's health view").set_defaults(func=cmd_status)
    migrate = sub.add_parser("migrate", help="upgrade the database to every head (or --downgrade REV)")
    migrate.add_argument("--downgrade", metavar="REV", help="downgrade to this revision instead (e.g. base)")
    migrate.set_defaults(func=cmd_migrate)
    seed = sub.add_parser("seed", help="seed the demo chain into an empty database")
    seed.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    seed.add_argument("--if-empty", action="store_true", help="skip quietly when the database has data")
    seed.set_defaults(func=cmd_seed)
    sub.add_parser("keygen", help="print fresh production secrets (GYM_JWT_SECRET, GYM_PII_KEY, ...)").set_defaults(
        func=cmd_keygen)
    logs = sub.add_parser("logs", help="search the central log (JSON lines from every process) by trace id, "
                                       "request id, service, level or text")
    from gymchain.common.logs import add_arguments as add_log_arguments

    add_log_arguments(logs)
    logs.set_defaults(func=cmd_logs)
    train = sub.add_parser("train-churn", help="train the churn model (simulated chain, CSV export or the platform "
                                               "database) and register it in ml_models")
    from gymchain.ml.train import add_arguments

    add_arguments(train)
    train.set_defaults(func=cmd_train_churn)
    recommender = sub.add_parser("train-recommender", help="train the class/service/plan recommender (EASE vs "
                                                           "popularity) and register it in ml_models")
    from gymchain.ml.train_recommender import add_arguments as add_recommender_arguments

    add_recommender_arguments(recommender)
    recommender.set_defaults(func=cmd_train_recommender)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - one line for the operator, not a traceback
        print(f"gymchain {args.command}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
