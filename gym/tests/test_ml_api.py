"""Churn risk through the gateway: the registered model scores the platform's own members, with reasons; managers
of the member's unit and admins only; bounded parameters; the registry keeps one active version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from conftest import bearer
from gymchain.ml.churn import train_churn
from gymchain.ml.features import FEATURES
from gymchain.ml.loaders import validate_all
from gymchain.ml.registry import active_model, register
from gymchain.ml.simulator import SimConfig, simulate


@pytest.fixture(scope="module")
def registered(database_url, world):
    """A churn model trained on a small simulated chain, registered twice (v2 active); member1 visits weekly-plus
    in the last four weeks, member2 not at all."""
    from gymchain.common.db import session_scope
    from gymchain.members.models import CheckIn

    result = train_churn(validate_all(simulate(SimConfig(members=3000, seed=3))), "2026-05-04", 28)
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    versions = [register(engine, result, "test"), register(engine, result, "test")]
    now = datetime.now(UTC)
    with session_scope() as s:
        unit1 = world.units[0]
        for day in range(1, 27, 2):
            start = now - timedelta(days=day, hours=3)
            s.add(CheckIn(member_id=world.members["member1"], unit_id=unit1, area_id=world.areas[unit1][0],
                          checked_in_at=start, checked_out_at=start + timedelta(hours=1), source="desk"))
    yield versions, engine
    engine.dispose()


def test_registry_keeps_one_active_version(registered):
    (v1, v2), engine = registered
    assert v2 == v1 + 1
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT version, active, train_from, test_date, metrics FROM ml_models "
                                    "WHERE name = 'churn' ORDER BY version")).all()
    assert [r.active for r in rows][-2:] == [False, True] and sum(r.active for r in rows) == 1
    assert rows[-1].metrics["lightgbm"]["roc_auc"] > 0.5 and str(rows[-1].test_date) == "2026-05-04"
    booster, metadata = active_model(engine)
    assert metadata["version"] == v2 and booster.feature_name() == FEATURES


def test_member_risk_with_reasons(api, tokens, world, registered):
    (_, v2), _ = registered
    answers = {name: api.get(f"/api/analytics/members/{world.members[name]}/churn-risk",
                             headers=bearer(tokens["manager1"])) for name in ("member1", "member2")}
    for name, answer in answers.items():
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["member_id"] == world.members[name] and body["unit_id"] == world.units[0]
        assert 0 < body["churn_risk"] < 1 and body["model_version"] == v2 and body["horizon_days"] == 28
        assert len(body["reasons"]) == 3 and {r["feature"] for r in body["reasons"]} <= set(FEATURES)
        assert body["reasons"][0]["shap"] >= body["reasons"][1]["shap"] >= body["reasons"][2]["shap"]
    ana, bruno = answers["member1"].json(), answers["member2"].json()
    assert bruno["churn_risk"] > ana["churn_risk"]  # no visits in four weeks against one every other day
    reasons = {r["feature"]: r["value"] for r in bruno["reasons"]}
    assert reasons.keys() & {"visits_28d", "visits_7d", "days_since_last_visit", "visits_84d", "visit_trend"}
    admin = api.get(f"/api/analytics/members/{world.members['member1']}/churn-risk", headers=bearer(tokens["admin"]))
    assert admin.status_code == 200 and admin.json()["churn_risk"] == ana["churn_risk"]


@pytest.mark.parametrize(("who", "status"), [("member1", 403), ("trainer1", 403), ("manager2", 403)])
def test_member_risk_refused(api, tokens, world, registered, who, status):
    answer = api.get(f"/api/analytics/members/{world.members['member1']}/churn-risk", headers=bearer(tokens[who]))
    assert answer.status_code == status and "\n" not in answer.json()["detail"]


def test_unit_at_risk_list_is_ranked_and_bounded(api, tokens, world, registered):
    unit1 = world.units[0]
    answer = api.get(f"/api/analytics/units/{unit1}/churn-risk", headers=bearer(tokens["manager1"]))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    risks = [m["churn_risk"] for m in body["members"]]
    assert body["active_members"] >= 2 and risks == sorted(risks, reverse=True)
    assert {m["unit_id"] for m in body["members"]} == {unit1}
    assert world.members["member3"] not in {m["member_id"] for m in body["members"]}  # unit 2's member
    one = api.get(f"/api/analytics/units/{unit1}/churn-risk", params={"limit": 1}, headers=bearer(tokens["admin"]))
    assert one.status_code == 200 and len(one.json()["members"]) == 1
    assert one.json()["members"][0]["churn_risk"] == risks[0]
    for bad in ({"limit": 0}, {"limit": 201}, {"limit": "many"}):
        refused = api.get(f"/api/analytics/units/{unit1}/churn-risk", params=bad, headers=bearer(tokens["admin"]))
        assert refused.status_code == 422 and "limit" in refused.json()["detail"]
    other = api.get(f"/api/analytics/units/{world.units[1]}/churn-risk", headers=bearer(tokens["manager1"]))
    assert other.status_code == 403


def test_unknown_or_out_of_range_ids(api, tokens, registered):
    admin = bearer(tokens["admin"])
    assert api.get("/api/analytics/members/999999999/churn-risk", headers=admin).status_code == 404
    assert api.get("/api/analytics/units/999999999/churn-risk", headers=admin).status_code == 404
    assert api.get("/api/analytics/members/0/churn-risk", headers=admin).status_code == 422
    assert api.get(f"/api/analytics/members/{2**63}/churn-risk", headers=admin).status_code == 422
