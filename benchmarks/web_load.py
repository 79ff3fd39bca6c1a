"""Load test of `genlab serve`: concurrent generation requests against a real server process on the loopback.

    flock /tmp/genlab-cpu.lock python benchmarks/web_load.py --snapshot runs/mnist-diffusion-quick \
        --out benchmarks/results/web_load.json
    python benchmarks/web_load.py            # an untrained tiny diffusion snapshot (no data or training needed)

Starts `python -m genlab serve` (1 worker, queue capacity = --requests by default, a random token sent as Bearer) on
a free 127.0.0.1 port, warms
the snapshot cache with one request, then sends --requests concurrent POST /api/generate requests (distinct seeds)
and measures each one's latency (queue wait + generation). As soon as the server reports all of them admitted, one
more request is sent: it is beyond capacity and must be refused at once with HTTP 503 and a JSON message. Exits
non-zero if any of the concurrent requests failed or the extra one was not refused cleanly. Prints JSON.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import emit, machine_info

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--snapshot", default=None, help="run directory or .safetensors file (default: a tiny untrained "
                                                    "diffusion snapshot written to a temp dir)")
    p.add_argument("--requests", type=int, default=20, help="concurrent requests (all within capacity)")
    p.add_argument("--queue", type=int, default=None, help="server queue capacity (default: --requests)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("-n", type=int, default=16, help="images per request")
    p.add_argument("--sampler", default="dpmpp-2m")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--threads", type=int, default=1, help="OMP/torch threads of the server process")
    p.add_argument("--out", default=None, help="also write the JSON here")
    return p.parse_args(argv)


def _snapshot_root(args: argparse.Namespace, tmp: Path) -> tuple[Path, str]:
    """(runs dir for the server, snapshot id inside it)."""
    if args.snapshot:
        path = Path(args.snapshot).resolve()
        if not path.exists():
            sys.exit(f"web_load: {path} does not exist")
        return path.parent, path.name
    sys.path.insert(0, str(ROOT / "tests"))
    from tests_helpers import save_tiny_diffusion

    save_tiny_diffusion(tmp / "runs" / "tiny-diffusion" / "snapshot.safetensors")
    return tmp / "runs", "tiny-diffusion"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(runs: Path, port: int, args: argparse.Namespace, log, token: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "GENLAB_WEB_TOKEN": token}  # kept off the command line
    cmd = [sys.executable, "-m", "genlab", "serve", "--port", str(port), "--runs-dir", str(runs), "--workers",
           str(args.workers), "--queue", str(args.queue), "--device", "cpu"]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def _wait_up(client, base: str, proc: subprocess.Popen, timeout_s: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            client.get(f"{base}/api/status", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    sys.exit("web_load: the server did not start (see its log)")


def _percentiles(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return {}
    return {"n": int(a.size), "p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "min": float(a.min()), "max": float(a.max()),
            "mean": float(a.mean())}


def run(args: argparse.Namespace) -> dict:
    import httpx

    args.queue = args.queue or args.requests
    with tempfile.TemporaryDirectory(prefix="genlab-web-load-") as tmp_name:
        tmp = Path(tmp_name)
        runs, sid = _snapshot_root(args, tmp)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        body = {"snapshot": sid, "n": args.n, "sampler": args.sampler, "steps": args.steps,
                "guidance": args.guidance}
        token = secrets.token_urlsafe(32)
        with (open(tmp / "server.log", "w+") as log,
              httpx.Client(timeout=900, headers={"Authorization": f"Bearer {token}"}) as client):
            proc = _start_server(runs, port, args, log, token)
            try:
                _wait_up(client, base, proc)
                t0 = time.perf_counter()
                warm = client.post(f"{base}/api/generate", json={**body, "seed": 10_000})
                warmup_s = time.perf_counter() - t0
                if warm.status_code != 200:
                    sys.exit(f"web_load: warm-up request failed: {warm.status_code} {warm.text[:300]}")
                result = _load(client, base, body, args)
                result["warmup_s"] = warmup_s
                result["server_status_after"] = client.get(f"{base}/api/status").json()
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    result.update({"snapshot": args.snapshot or "untrained tiny diffusion (tests_helpers.save_tiny_diffusion)",
                   "request": {k: v for k, v in body.items() if k != "snapshot"},
                   "server": {"workers": args.workers, "queue_capacity": args.queue, "threads": args.threads},
                   "command": "python benchmarks/web_load.py " + " ".join(sys.argv[1:]),
                   "machine": machine_info(), "load_average_1m_at_end": os.getloadavg()[0]})
    return result


def _load(client, base: str, body: dict, args: argparse.Namespace) -> dict:
    """--requests concurrent requests, then one beyond capacity once all are admitted."""
    start = threading.Barrier(args.requests + 1)
    outcomes: list[dict] = []

    def one(i: int) -> dict:
        start.wait()
        t0 = time.perf_counter()
        try:
            r = client.post(f"{base}/api/generate", json={**body, "seed": 1000 * i})
            ok = r.status_code == 200
            out = {"status": r.status_code, "latency_s": time.perf_counter() - t0,
                   "generation_s": r.json()["seconds"] if ok else None, "error": None if ok else r.text[:300]}
        except Exception as e:  # noqa: BLE001  (a transport error counts as a failure, with its type)
            out = {"status": None, "latency_s": time.perf_counter() - t0, "generation_s": None,
                   "error": f"{type(e).__name__}: {e}"}
        outcomes.append(out)
        return out

    with ThreadPoolExecutor(max_workers=args.requests) as pool:
        futures = [pool.submit(one, i) for i in range(args.requests)]
        start.wait()
        t_start = time.perf_counter()
        beyond = _beyond_capacity(client, base, body, args.queue)
        for f in futures:
            f.result()
        wall = time.perf_counter() - t_start
    ok = [o for o in outcomes if o["status"] == 200]
    gen = [o["generation_s"] for o in ok]
    return {
        "requests": args.requests, "ok": len(ok), "failures": len(outcomes) - len(ok),
        "failure_examples": [o["error"] for o in outcomes if o["status"] != 200][:3],
        "latency_s": _percentiles([o["latency_s"] for o in ok]),
        "generation_s": _percentiles(gen),
        "wall_s": wall, "requests_per_s": len(ok) / wall, "images_per_s": len(ok) * body["n"] / wall,
        "beyond_capacity": beyond,
    }


def _beyond_capacity(client, base: str, body: dict, capacity: int, timeout_s: float = 60) -> dict:
    """Once the server has `capacity` jobs admitted, send one more: it must get 503 with a JSON error at once."""
    deadline = time.monotonic() + timeout_s
    admitted = 0
    while time.monotonic() < deadline:
        admitted = client.get(f"{base}/api/status").json()["admitted"]
        if admitted >= capacity:
            break
        time.sleep(0.01)
    else:
        return {"sent": False, "reason": f"the server never held {capacity} jobs at once (max seen {admitted}); "
                                         "requests finish too fast to fill the queue: raise -n or --steps"}
    t0 = time.perf_counter()
    r = client.post(f"{base}/api/generate", json={**body, "seed": 999_999})
    latency = time.perf_counter() - t0
    try:
        error = r.json().get("error")
    except ValueError:
        error = None
    return {"sent": True, "admitted_when_sent": admitted, "status": r.status_code, "error": error,
            "retry_after": r.headers.get("retry-after"), "latency_s": latency,
            "refused_cleanly": r.status_code == 503 and bool(error)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    emit(result, args.out)
    good = result["failures"] == 0 and result["beyond_capacity"].get("refused_cleanly", False)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
