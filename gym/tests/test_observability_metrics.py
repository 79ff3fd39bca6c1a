"""RED metrics per route template on the real services, a worker's metrics announced via file_sd, model helpers."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from conftest import bearer
from data_fixtures import run_suffix  # noqa: F401


def scrape(url: str) -> dict[str, float]:
    out = {}
    for line in httpx.get(f"{url}/metrics", timeout=15).text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def count(metrics: dict[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for key, value in metrics.items():
        if key.startswith(name + "{") and all(f'{k}="{v}"' in key for k, v in labels.items()):
            total += value
    return total


def test_requests_are_counted_by_route_template_never_by_raw_path(platform, world, tokens, api):
    members_url, gateway_url = platform.services["members"], platform.gateway
    before_members, before_gateway = scrape(members_url), scrape(gateway_url)
    member_ids = [world.members["member1"], world.members["member2"]]
    for member_id in member_ids:
        assert api.get(f"/api/members/members/{member_id}", headers=bearer(tokens["manager1"])).status_code == 200
    assert api.get("/api/members/members/999999999", headers=bearer(tokens["manager1"])).status_code == 404
    assert api.get("/api/members/no/such/route", headers=bearer(tokens["manager1"])).status_code == 404
    assert api.get("/api/nosuchservice/x", headers=bearer(tokens["manager1"])).status_code == 404
    after_members, after_gateway = scrape(members_url), scrape(gateway_url)

    def delta(before, after, **labels):
        return count(after, "gym_http_requests_total", **labels) - count(before, "gym_http_requests_total", **labels)

    route = "/members/{member_id}"
    assert delta(before_members, after_members, service="members", route=route, status="200") == 2
    assert delta(before_members, after_members, service="members", route=route, status="404") == 1
    assert delta(before_members, after_members, service="members", route="<unmatched>", status="404") == 1
    assert delta(before_gateway, after_gateway, service="gateway", route="/api/members/{path}") == 4
    assert delta(before_gateway, after_gateway, service="gateway", route="/api/{service}/{path}", status="404") == 1
    for key in [k for k in list(after_members) + list(after_gateway) if k.startswith("gym_")]:
        # no id, unknown path or service name in any label
        assert f"/members/{member_ids[0]}" not in key and "999999999" not in key and "nosuchservice" not in key
        assert "no/such" not in key
    duration = count(after_members, "gym_http_request_duration_seconds_count", service="members", route=route)
    assert duration >= 3
    assert after_members['gym_http_requests_in_flight{service="members"}'] == 1  # the scrape itself
    # the scrape endpoint is for Prometheus on the private network, not for API users through the gateway
    hidden = api.get("/api/members/metrics", headers=bearer(tokens["admin"]))
    assert hidden.status_code == 404 and "gym_http" not in hidden.text


def test_a_worker_announces_its_metrics_and_counts_its_jobs(tmp_path, platform):
    from gymchain.common.messaging import rabbit

    suffix = platform.env["GYM_RABBIT_QUEUE_SUFFIX"] + "m"
    env = platform.env | {"GYM_METRICS_SD_DIR": str(tmp_path), "GYM_RABBIT_QUEUE_SUFFIX": suffix}
    worker = subprocess.Popen([sys.executable, "-m", "gymchain.common.messaging.rabbit", "--kind", "retraining",
                               "--handler", "operator:is_"], env=env,
                              stdout=subprocess.DEVNULL, stderr=(tmp_path / "worker.log").open("wb"))
    try:
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("worker-retraining-*.json")) and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(0.2)
        [target_file] = list(tmp_path.glob("worker-retraining-*.json"))
        [group] = json.loads(target_file.read_text())
        assert group["labels"] == {"service": "worker-retraining"}
        url = f"http://{group['targets'][0]}"
        connection = rabbit.connect()
        try:
            for n in range(3):
                rabbit.enqueue_job("retraining", {"n": n}, connection=connection, suffix=suffix)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                metrics = scrape(url)
                if count(metrics, "gym_jobs_handled_total", kind="retraining", outcome="done") >= 3:
                    break
                time.sleep(0.3)
            assert count(metrics, "gym_jobs_handled_total", kind="retraining", outcome="done") == 3
            assert count(metrics, "gym_job_duration_seconds_count", kind="retraining") == 3
        finally:
            rabbit.delete_queues(connection.channel(), "retraining", suffix=suffix)
            connection.close()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        assert not target_file.exists()  # removed at exit: Prometheus stops scraping a process that is gone
        records = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines()
                   if line.startswith("{")]
        assert records and all(r["service"] == "worker-retraining" for r in records)
    finally:
        if worker.poll() is None:
            worker.kill()


def test_model_latency_and_drift_helpers():
    from gymchain.common import metrics

    @metrics.timed_model("test-model", "predict")
    def predict(x):
        if x < 0:
            raise ValueError("negative")
        return x * 2

    before = metrics.MODEL_LATENCY.labels("test-model", "predict")._sum.get()
    assert predict(2) == 4
    with pytest.raises(ValueError):
        predict(-1)
    samples = {s.name: s.value for s in metrics.MODEL_LATENCY.collect()[0].samples
               if s.labels.get("model") == "test-model"}
    assert samples["gym_model_inference_seconds_count"] == 2  # failures are timed too
    assert metrics.MODEL_LATENCY.labels("test-model", "predict")._sum.get() > before
    metrics.set_drift("test-model", {"visits_28d": 0.31, "score": 0})
    assert metrics.MODEL_DRIFT.labels("test-model", "visits_28d")._value.get() == pytest.approx(0.31)
    for bad in (math.nan, -0.1):
        with pytest.raises(ValueError, match="test-model.f: .* is not a PSI"):
            metrics.set_drift("test-model", {"f": bad})


def test_processes_without_the_stack_serve_nothing_extra(tmp_path):
    from gymchain.common import metrics

    os.environ.pop("GYM_METRICS_SD_DIR", None)
    assert metrics.serve_process_metrics("nothing") is None
    assert metrics.observability_env(tmp_path) == {}
    (tmp_path / "observability.env").write_text("GYM_OTLP_ENDPOINT=http://127.0.0.1:4318\nPATH=/evil\n# x\n")
    assert metrics.observability_env(tmp_path) == {"GYM_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


OWN_MAIN = """
import logging, signal, threading
from gymchain.common.messaging.rabbit import run_worker
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # a worker's own entry point
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
logging.getLogger("own").info("starting")
run_worker("retraining", lambda payload, job: None, stop=stop)
"""


def test_a_worker_with_its_own_entry_point_is_instrumented_by_run_worker(tmp_path, run_suffix):  # noqa: F811
    env = os.environ | {"GYM_METRICS_SD_DIR": str(tmp_path), "GYM_RABBIT_QUEUE_SUFFIX": run_suffix}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-c", OWN_MAIN], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("worker-retraining-*.json")) and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(0.2)
        [target] = list(tmp_path.glob("worker-retraining-*.json"))
        url = f"http://{json.loads(target.read_text())[0]['targets'][0]}"
        assert "gym_jobs_handled_total" in httpx.get(f"{url}/metrics", timeout=10).text
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0 and not target.exists()
        lines = (tmp_path / "worker.log").read_text().splitlines()
        assert not lines[0].startswith("{")  # before run_worker: the entry point's own text format
        assert any(line.startswith("{") and json.loads(line)["service"] == "worker-retraining" for line in lines)
    finally:
        if worker.poll() is None:
            worker.kill()
        from gymchain.common.messaging import rabbit

        connection = rabbit.connect()
        rabbit.delete_queues(connection.channel(), "retraining", suffix=run_suffix)
        connection.close()
