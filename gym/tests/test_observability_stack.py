"""The metrics side running for real: the observatory's scrape-time gauges (RabbitMQ queue depth, outbox backlog),
a real Prometheus (Debian package) scraping it and a platform service with the project's alert rules loaded, every
Grafana panel query accepted by that Prometheus, and the dashboard page rendered in headless Chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port, stop_processes
from data_fixtures import create_database, drop_database
from data_fixtures import database_url as sqla_url

OBS = Path(__file__).resolve().parents[1] / "observability"
PROMETHEUS = shutil.which("prometheus")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="needs Debian prometheus (gym/scripts/setup.sh)")


def _log(path: Path):
    return open(path, "wb")


def _until(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached in {timeout_s} s (last: {last!r})")


@pytest.fixture(scope="module")
def stack(platform, tmp_path_factory):
    """Observatory (with infra gauges) + Prometheus scraping it, members and a port where nothing listens."""
    work = tmp_path_factory.mktemp("prom")
    telemetry_db = create_database("gym_telemetry_test")
    obs_port, prom_port, dead_port = free_port(), free_port(), free_port()
    members = platform.services["members"].removeprefix("http://")
    config = f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{OBS / 'rules' / 'gymchain-alerts.yml'}"]
scrape_configs:
  - job_name: gymchain-services
    honor_labels: true
    static_configs:
      - targets: ["{members}"]
        labels: {{service: members}}
      - targets: ["127.0.0.1:{dead_port}"]
        labels: {{service: vision}}
  - job_name: gymchain-observatory
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:{obs_port}"]
        labels: {{service: observatory}}
"""
    (work / "prometheus.yml").write_text(config)
    env = platform.env | {"GYM_TELEMETRY_DATABASE_URL": sqla_url(telemetry_db),
                          "GYM_PROMETHEUS_URL": f"http://127.0.0.1:{prom_port}"}
    procs = [subprocess.Popen([sys.executable, "-m", "gymchain.common.observatory", "--port", str(obs_port)],
                              env=env, stdout=_log(work / "observatory.log"), stderr=subprocess.STDOUT),
             subprocess.Popen([PROMETHEUS, f"--config.file={work / 'prometheus.yml'}",
                               f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                              stdout=_log(work / "prometheus.log"), stderr=subprocess.STDOUT)]
    try:
        observatory, prometheus = f"http://127.0.0.1:{obs_port}", f"http://127.0.0.1:{prom_port}"
        _until(lambda: httpx.get(f"{observatory}/health", timeout=2).status_code == 200, 60, "observatory up")
        _until(lambda: httpx.get(f"{prometheus}/-/ready", timeout=2).status_code == 200, 60, "prometheus ready")
        yield {"observatory": observatory, "prometheus": prometheus, "env": env, "work": work}
    finally:
        stop_processes(procs)
        drop_database(telemetry_db)


def scrape(url: str) -> dict[str, float]:
    """``{'name{labels}': value}`` of a /metrics page."""
    out = {}
    for line in httpx.get(f"{url}/metrics", timeout=15).text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def test_queue_depth_and_outbox_backlog_are_read_at_scrape_time(stack):
    from gymchain.common.messaging import rabbit

    suffix = stack["env"]["GYM_RABBIT_QUEUE_SUFFIX"]
    connection = rabbit.connect()
    try:
        channel = connection.channel()
        rabbit.delete_queues(channel, "report-generation", suffix=suffix)
        for n in range(3):
            rabbit.enqueue_job("report-generation", {"n": n}, connection=connection, suffix=suffix)
        key = f'gym_rabbitmq_queue_messages{{queue="gym.report-generation{suffix}"}}'
        metrics = scrape(stack["observatory"])
        assert metrics[key] == 3
        assert metrics[f'gym_rabbitmq_queue_consumers{{queue="gym.report-generation{suffix}"}}'] == 0
        assert metrics['gym_infra_source_up{source="rabbitmq"}'] == 1
        assert metrics['gym_infra_source_up{source="outbox"}'] == 1
        assert metrics["gym_outbox_pending_events"] >= 0
        channel.queue_purge(f"gym.report-generation{suffix}")
        assert scrape(stack["observatory"])[key] == 0
    finally:
        rabbit.delete_queues(connection.channel(), "report-generation", suffix=suffix)
        connection.close()


def test_prometheus_scrapes_loads_the_rules_and_a_dead_target_trips_service_down(stack):
    prometheus = stack["prometheus"]

    def targets():
        active = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        health = {t["labels"]["service"]: t["health"] for t in active}
        scraped = all(health.get(s, "unknown") != "unknown" for s in ("members", "vision", "observatory"))
        return health if scraped and health["members"] == "up" and health["vision"] == "down" else None

    # every target scraped at least once ("unknown" until its first scrape: a slow CI machine got there for members
    # and vision before the observatory), then the live ones up and the dead one down
    health = _until(targets, 30, "members up, the dead target down, every target scraped")
    assert health["observatory"] == "up"
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert len(rules) == 10 and all(r["health"] in ("ok", "unknown") for r in rules.values())

    def down_alert():
        alerts = httpx.get(f"{prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "GymServiceDown"]

    alerts = _until(down_alert, 30, "GymServiceDown pending")
    assert [a["labels"]["service"] for a in alerts] == ["vision"]  # pending now; firing after its 1 minute
    members = httpx.get(f"{prometheus}/api/v1/query", timeout=5, params={
        "query": 'sum(gym_http_requests_total{service="members",route="/health"})'}).json()
    assert float(members["data"]["result"][0]["value"][1]) >= 1


def test_every_dashboard_panel_query_is_valid_promql(stack):
    from gymchain.common.observatory import dashboard_panels

    panels = dashboard_panels()
    assert len(panels) == 12
    for panel in panels:
        for target in panel["targets"]:
            answer = httpx.get(f"{stack['prometheus']}/api/v1/query", params={"query": target["expr"]}, timeout=10)
            assert answer.status_code == 200 and answer.json()["status"] == "success", (panel["title"], answer.text)


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs chromium and chromium-driver")
def test_the_dashboard_page_renders_every_panel_in_chromium(stack):
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _until(lambda: httpx.get(f"{stack['observatory']}/api/dashboard?minutes=5", timeout=15).json()["panels"][10][
        "series"], 30, "the 'Targets up' panel has data")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1300,1000", f"--user-data-dir={stack['work'] / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.get(f"{stack['observatory']}/dashboard")
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.body.dataset.loaded") == "yes")
        titles = [p.get_attribute("data-title") for p in driver.find_elements(By.CSS_SELECTOR, ".panel")]
        assert len(titles) == 12 and "Targets up" in titles
        up_panel = driver.find_element(By.CSS_SELECTOR, ".panel[data-title='Targets up']")
        assert up_panel.find_elements(By.CSS_SELECTOR, "polyline"), "no line drawn for the 'up' series"
        assert "members" in up_panel.text
        target = os.environ.get("GYM_OBS_SCREENSHOTS")
        if target:
            driver.save_screenshot(str(Path(target) / "dashboard-test.png"))
    finally:
        driver.quit()


def test_bad_requests_to_the_observatory_are_one_line_4xx(stack):
    base = stack["observatory"]
    bad = httpx.post(f"{base}/v1/traces", content=b"\x00not protobuf\xff", timeout=5,
                     headers={"content-type": "application/x-protobuf"})
    assert bad.status_code == 400 and "OTLP" in bad.json()["detail"]
    assert httpx.get(f"{base}/api/traces?limit=0", timeout=5).status_code == 422
    assert httpx.get(f"{base}/api/dashboard?minutes=99999", timeout=5).status_code == 422
    missing = httpx.get(f"{base}/api/traces/{'0' * 32}", timeout=5)
    assert missing.status_code == 404 and "\n" not in missing.json()["detail"]


def test_consumer_lag_is_high_watermark_minus_the_committed_offset(stack):
    from confluent_kafka import Consumer, Producer

    from gymchain.common.messaging.stream import GROUP_TIMEOUTS, ensure_topics

    bootstrap = stack["env"].get("GYM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    topic = f"lagprobe{stack['env']['GYM_KAFKA_TOPIC_SUFFIX']}"
    group = f"lag-test-{topic}"
    ensure_topics([topic], partitions=1, bootstrap=bootstrap)
    producer = Producer({"bootstrap.servers": bootstrap})
    for n in range(5):  # one batch each: Tansu's high watermark counts batches (see infra_metrics)
        producer.produce(topic, str(n).encode())
        producer.flush(10)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", **GROUP_TIMEOUTS})
    try:
        consumer.subscribe([topic])
        read = 0
        deadline = time.monotonic() + 60
        while read < 2 and time.monotonic() < deadline:
            message = consumer.poll(1)
            if message is not None and not message.error():
                read += 1
                consumer.commit(message=message, asynchronous=False)
        assert read == 2
        key = f'gym_stream_consumer_lag{{group="{group}",partition="0",topic="{topic}"}}'
        lag = _until(lambda: scrape(stack["observatory"]).get(key), 30, "the lag gauge of the test group")
        assert lag == 3
        assert scrape(stack["observatory"])['gym_infra_source_up{source="stream"}'] == 1
    finally:
        consumer.close()
