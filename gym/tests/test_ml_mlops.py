"""MLOps end to end on the real PostgreSQL and RabbitMQ: recommendations API (authz, A/B arm, exposure), batch
scoring through the queue (job status, scores in ml_scores), drift monitoring with an automatic retraining job
(injected drift -> alert -> job -> new registered version, promoted only after a fair comparison; no drift ->
nothing), and the A/B readout route."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from conftest import bearer
from gymchain.common import metrics
from gymchain.ml import abtest, drift
from gymchain.ml.churn import train_churn
from gymchain.ml.loaders import validate_all, write_csv_dir
from gymchain.ml.recommend import fit
from gymchain.ml.registry import register, register_recommender
from gymchain.ml.simulator import SimConfig, simulate


@pytest.fixture(scope="module")
def engine(database_url):
    eng = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def worker(database_url):
    """The analytics worker (both queues) in threads of this process, on this run's queues."""
    from gymchain.common.messaging import rabbit
    from gymchain.ml import worker as ml_worker

    stop = threading.Event()
    threads = ml_worker.start(stop)
    yield
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    connection = rabbit.connect()
    channel = connection.channel()
    for kind in ml_worker.HANDLERS:
        rabbit.delete_queues(channel, kind, ml_worker.POLICY)
    connection.close()


def wait_job(job_id: str, timeout_s: float = 120) -> dict:
    from gymchain.common.docstore import get_collection

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        doc = get_collection("jobs").find_one({"_id": job_id})
        if doc and doc["status"] in ("done", "failed"):
            return doc
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} not finished after {timeout_s} s: {doc}")


@pytest.fixture(scope="module")
def recommender(engine, world):
    """A recommender where spinning goes with dance and yoga with pilates; member2 took spinning (past class)."""
    from gymchain.common.db import session_scope
    from gymchain.members.models import Booking, ClassSession

    rows = []
    t0 = pd.Timestamp("2026-01-05")
    for m in range(1, 201):
        pair = ("class:spinning", "class:dance") if m % 2 else ("class:yoga", "class:pilates")
        rows += [(m, 1, item, t0 + pd.Timedelta(days=m % 30)) for item in pair]
        rows.append((m, 1, "plan:basic", t0))
    for m in range(201, 301):  # pilates is the most popular class overall
        rows.append((m, 1, "class:pilates", t0))
    model = fit(pd.DataFrame(rows, columns=["member_id", "unit_id", "item", "at"]), "ease")
    model.params |= {"split_date": "2026-03-02", "window_days": 56, "train_from": "2026-01-05"}
    version = register_recommender(engine, model, "test")
    unit1 = world.units[0]
    past = datetime.now(UTC) - timedelta(days=3)
    with session_scope() as s:
        cls = ClassSession(unit_id=unit1, area_id=world.areas[unit1][1], title="Spinning", starts_at=past,
                           ends_at=past + timedelta(hours=1), capacity=3)
        s.add(cls)
        s.flush()
        s.add(Booking(class_id=cls.id, member_id=world.members["member2"], status="confirmed"))
    return version


def test_recommendations_follow_the_members_arm_with_reasons(api, tokens, world, recommender, engine):
    member2 = world.members["member2"]
    arm = abtest.assign(abtest.EXPERIMENTS["rec-strategy"], member2)
    answer = api.get(f"/api/analytics/members/{member2}/recommendations?k=3", headers=bearer(tokens["member2"]))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["strategy"] == arm and body["model_version"] == recommender and len(body["items"]) == 3
    names = [i["item"] for i in body["items"]]
    assert "class:spinning" not in names  # already taken
    if arm == "model":
        assert names[0] == "class:dance" and "spinning" in body["items"][0]["reason"]
    else:
        assert names[0] == "class:pilates" and body["items"][0]["reason"].startswith("popular")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT arm, exposures, details FROM ab_exposures WHERE member_id = :m"),
                           {"m": member2}).one()
    assert row.arm == arm and row.exposures == 1 and row.details["items"] == names
    staff = api.get(f"/api/analytics/members/{member2}/recommendations", headers=bearer(tokens["trainer1"]))
    assert staff.status_code == 200 and len(staff.json()["items"]) >= 3
    api.get(f"/api/analytics/members/{member2}/recommendations?k=3", headers=bearer(tokens["member2"]))
    with engine.connect() as conn:  # the trainer's look is not an exposure; the member's second one counts
        assert conn.execute(sa.text("SELECT exposures FROM ab_exposures WHERE member_id = :m"),
                            {"m": member2}).scalar() == 2


@pytest.mark.parametrize(("who", "path", "status"), [
    ("member1", "/api/analytics/members/{m2}/recommendations", 403),
    ("manager2", "/api/analytics/members/{m2}/recommendations", 403),
    ("member2", "/api/analytics/members/{m2}/recommendations?k=0", 422),
    ("member2", "/api/analytics/members/{m2}/recommendations?k=21", 422),
    ("admin", "/api/analytics/members/999999/recommendations", 404),
    ("member1", "/api/analytics/experiments/readout", 403),
    ("manager1", "/api/analytics/experiments/readout?experiment=nope", 422),
    ("manager1", "/api/analytics/experiments/readout?unit_id={u2}", 403),
    ("manager2", "/api/analytics/units/{u1}/batch-scoring", 403),
    ("trainer1", "/api/analytics/units/{u1}/scores", 403),
    ("manager1", "/api/analytics/models?name=other", 422),
])
def test_refusals(api, tokens, world, recommender, who, path, status):
    url = path.format(m2=world.members["member2"], u1=world.units[0], u2=world.units[1])
    method = api.post if url.endswith("batch-scoring") else api.get
    answer = method(url, headers=bearer(tokens[who]))
    assert answer.status_code == status, answer.text
    assert "\n" not in str(answer.json()["detail"])


def test_readout_counts_a_booked_recommendation(api, tokens, world, recommender):
    from gymchain.common.db import session_scope
    from gymchain.members.models import Booking, ClassSession

    member2 = world.members["member2"]
    shown = api.get(f"/api/analytics/members/{member2}/recommendations?k=3",
                    headers=bearer(tokens["member2"])).json()["items"][0]
    unit1 = world.units[0]
    soon = datetime.now(UTC) + timedelta(days=2)
    with session_scope() as s:
        cls = ClassSession(unit_id=unit1, area_id=world.areas[unit1][1], title=shown["name"].title(),
                           starts_at=soon, ends_at=soon + timedelta(hours=1), capacity=3)
        s.add(cls)
        s.flush()
        s.add(Booking(class_id=cls.id, member_id=member2, status="confirmed"))
    answer = api.get("/api/analytics/experiments/readout", headers=bearer(tokens["manager1"]))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    arm = abtest.assign(abtest.EXPERIMENTS["rec-strategy"], member2)
    assert body["unit_id"] == unit1 and body["arms"][arm]["exposed"] >= 1 and body["arms"][arm]["converted"] == 1
    assert "verdict" in body
    other = api.get("/api/analytics/experiments/readout", headers=bearer(tokens["manager2"])).json()
    assert all(a["exposed"] == 0 for a in other["arms"].values())  # unit 2 has no exposures


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A small simulated chain as CSV (what a worker job reads), clean and with injected drift: from 2026-04-06
    half of all check-ins disappear (members moving to a competitor's outdoor programme)."""
    tables = validate_all(simulate(SimConfig(members=3000, seed=3)))
    rng = np.random.default_rng(0)
    visits = tables["visits"]
    drifted = dict(tables, visits=visits[~((visits.visited_at >= pd.Timestamp("2026-04-06"))
                                           & (rng.random(len(visits)) < 0.5))])
    folders = {}
    for name, data in (("clean", tables), ("drifted", drifted)):
        folders[name] = tmp_path_factory.mktemp(name)
        write_csv_dir(data, folders[name])
    return tables, drifted, folders


def test_drift_triggers_an_automatic_retraining_and_no_drift_does_not(api, tokens, engine, worker, chain):
    tables, drifted, folders = chain
    result = train_churn(tables, "2026-05-04", 28, rounds=100)
    version = register(engine, result, "test", reference=drift.reference_profile(tables, result))
    at = pd.Timestamp("2026-05-04")

    def count(sql: str) -> int:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()

    alerts, models = count("SELECT count(*) FROM ml_alerts"), count("SELECT count(*) FROM ml_models")
    quiet = drift.monitor(engine, tables, at, {"source": "csv", "path": str(folders["clean"])})
    assert not quiet["alert"] and quiet["retrain_job_id"] is None and quiet["model_version"] == version
    assert len([d for d in quiet["drifted"] if d != "prediction"]) < drift.MIN_FEATURES
    assert count("SELECT count(*) FROM ml_alerts") == alerts

    loud = drift.monitor(engine, drifted, at, {"source": "csv", "path": str(folders["drifted"])})
    assert loud["alert"] and {"visits_28d", "visits_7d"} <= set(loud["drifted"])
    assert loud["columns"]["visits_28d"]["psi"] > 0.25 > quiet["columns"]["visits_28d"]["psi"]
    assert loud["retrain_job_id"] and count("SELECT count(*) FROM ml_alerts") == alerts + 1
    gauge = metrics.MODEL_DRIFT.labels("churn", "visits_28d")._value.get()  # what Prometheus scrapes
    assert gauge == loud["columns"]["visits_28d"]["psi"]
    assert metrics.MODEL_DRIFT.labels("churn", "score")._value.get() == loud["columns"]["prediction"]["psi"]
    job = wait_job(loud["retrain_job_id"])
    assert job["status"] == "done", job.get("error")
    first = job["result"]
    # noticed at v1's own test date: no labelled window v1 did not train on yet -> a candidate, not promoted
    assert first["version"] == version + 1 and first["reason"] == "drift" and first["decision"] == "deferred"
    assert count("SELECT count(*) FROM ml_models") == models + 1
    with engine.connect() as conn:
        states = dict(conn.execute(sa.text("SELECT version, status FROM ml_models WHERE name = 'churn' AND "
                                           "version >= :v"), {"v": version}).all())
    assert states == {version: "promoted", version + 1: "candidate"}

    # four weeks later the drift is still there; now the window after v1's test date is labelled: a fair decision
    later = drift.monitor(engine, drifted, at + pd.Timedelta(days=28),
                          {"source": "csv", "path": str(folders["drifted"])})
    assert later["alert"] and later["retrain_job_id"] not in (None, loud["retrain_job_id"])
    second = wait_job(later["retrain_job_id"])
    assert second["status"] == "done", second.get("error")
    new = second["result"]
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT status, active, metadata FROM ml_models WHERE name = 'churn' AND "
                                   "version = :v"), {"v": new["version"]}).one()
    comparison = row.metadata["comparison"]
    assert comparison["promoted_version"] == version and comparison["window"] == "2026-05-04"
    better = (comparison["candidate"]["roc_auc"] >= comparison["promoted"]["roc_auc"] - 0.005
              and comparison["candidate"]["brier"] <= comparison["promoted"]["brier"] + 0.0005)
    assert row.status == ("promoted" if better else "rejected") and row.active == better == new["promoted"]
    assert "reference" in row.metadata  # the new version can be monitored in turn
    alerts = api.get("/api/analytics/drift/alerts", headers=bearer(tokens["manager2"]))
    assert alerts.status_code == 200 and all(a["kind"] == "drift" for a in alerts.json())
    assert {a["retrain_job_id"] for a in alerts.json()} >= {loud["retrain_job_id"], later["retrain_job_id"]}
    assert "visits_28d" in alerts.json()[0]["drifted"]


def test_batch_scoring_through_rabbitmq(api, tokens, world, engine, worker, chain):
    tables = chain[0]
    register(engine, train_churn(tables, "2026-05-04", 28, rounds=50), "test")
    unit1 = world.units[0]
    queued = api.post(f"/api/analytics/units/{unit1}/batch-scoring", headers=bearer(tokens["manager1"]))
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["job_id"]
    doc = wait_job(job_id)
    assert doc["status"] == "done", doc.get("error")
    status = api.get(f"/api/analytics/jobs/{job_id}", headers=bearer(tokens["manager1"])).json()
    assert status["status"] == "done" and status["result"]["members_scored"] >= 2
    with engine.connect() as conn:
        running = conn.execute(sa.text("SELECT count(DISTINCT c.member_id) FROM contracts c JOIN members m ON "
                                       "m.id = c.member_id AND m.erased_at IS NULL WHERE c.unit_id = :u AND "
                                       "c.status = 'active' AND c.starts_on < now()"), {"u": unit1}).scalar()
        stored = conn.execute(sa.text("SELECT count(*) FROM ml_scores WHERE job_id = :j"), {"j": job_id}).scalar()
    assert stored == status["result"]["members_scored"] == running
    # the route lists the riskiest `limit` members (default 50, at most 500); how many unit 1 has depends on what
    # earlier tests added to the shared world
    scores = api.get(f"/api/analytics/units/{unit1}/scores?limit=500", headers=bearer(tokens["manager1"])).json()
    assert scores["job_id"] == job_id and len(scores["members"]) == stored
    top = api.get(f"/api/analytics/units/{unit1}/scores", headers=bearer(tokens["manager1"])).json()
    assert top["members"] == scores["members"][:50]
    risks = [m["churn_risk"] for m in scores["members"]]
    assert risks == sorted(risks, reverse=True) and all(0 < r < 1 for r in risks)
    assert len(scores["members"][0]["reasons"]) == 3
    versions = api.get("/api/analytics/models?name=churn", headers=bearer(tokens["manager1"])).json()
    assert sum(v["status"] == "promoted" for v in versions) == 1
    assert versions[-1]["status"] == "promoted" and versions[-1]["version"] == status["result"]["model_version"]
