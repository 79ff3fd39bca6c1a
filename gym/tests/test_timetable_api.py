"""Demand forecast, timetable proposal and segments through the gateway: the contract of each answer, the unit's
manager and admins only (another unit's manager 403), bounded parameters (422), and a unit without class history
(409). The module builds its own unit (analytics_unit.py: 26 weeks of classes with bookings, members with visits,
two trainers and a manager) and removes it afterwards, so the shared test world is left as it was."""

from __future__ import annotations

import pytest

from analytics_unit import PATTERN, analytics_unit
from conftest import bearer


@pytest.fixture(scope="module")
def unit(platform, database_url, world):
    with analytics_unit(platform, database_url, world) as made:
        yield made


def test_forecast_vs_actual_contract(api, unit):
    answer = api.get(f"/api/analytics/units/{unit['id']}/demand-forecast", params={"weeks": 6},
                     headers=bearer(unit["token"]))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["unit_id"] == unit["id"] and body["weeks"] == 6
    assert 5 <= len(body["weekly"]) <= 7 and body["compared_sessions"] > 50
    # only the 20 weeks before the cutoff (the chain's other units would count too; here they held no past class)
    assert len(PATTERN) * 20 <= body["train_sessions"] < unit["sessions"]
    for week in body["weekly"]:
        assert week["actual"] == week["booked"] + week["waitlisted"] and week["forecast"] > 0
        assert week["week_start"] >= body["cutoff"]
    assert {t["class_type"] for t in body["by_type"]} == {"Yoga", "Spinning", "Funcional"}
    scores = body["mase"]
    assert set(scores) == {"glm", "seasonal_naive_week"}
    assert scores["glm"]["sessions"] == scores["seasonal_naive_week"]["sessions"] > 0
    assert scores["glm"]["mase_mean"] > 0


def test_timetable_proposal_contract(api, unit):
    answer = api.get(f"/api/analytics/units/{unit['id']}/timetable-proposal",
                     params={"weeks": 2, "time_limit_s": 2}, headers=bearer(unit["token"]))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] in ("OPTIMAL", "FEASIBLE")
    current, proposed = body["current"], body["proposed"]
    assert current["totals"]["sessions"] == len(PATTERN) == len(current["sessions"])
    assert 0 < proposed["totals"]["sessions"] <= len(PATTERN)
    trainers = set(unit["trainers"])
    seen = set()
    for s in proposed["sessions"]:
        assert s["class_type"] in {"Yoga", "Spinning", "Funcional"} and s["instructor_id"] in trainers
        assert (s["room_id"], s["weekday"], s["start_time"]) not in seen  # one class per room and time
        seen.add((s["room_id"], s["weekday"], s["start_time"]))
        assert s["expected_attendance"] <= s["capacity"]
        if s["class_type"] == "Spinning":
            assert s["room"] == "Bike TT"  # only ever held there
    # the current timetable is one of the feasible solutions, so the optimum is at least as good on the forecast
    assert body["objective"] >= round(current["totals"]["attendance"] - 0.25 * current["totals"]["waitlist"], 2) - 0.5
    gain = body["expected_gain"]
    assert gain["attendance_per_week"] == pytest.approx(
        proposed["totals"]["attendance"] - current["totals"]["attendance"], abs=0.11)


def test_segments_contract(api, unit):
    answer = api.get(f"/api/analytics/units/{unit['id']}/segments", params={"limit": 5},
                     headers=bearer(unit["token"]))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["members"] == 40 and 2 <= body["k"] <= 6 and len(body["profiles"]) == body["k"]
    assert sum(p["members"] for p in body["profiles"]) == 40 and len(body["assignments"]) == 5
    assert all(a["member_id"] in unit["members"] for a in body["assignments"])
    assert all(p["tags"] for p in body["profiles"])


@pytest.mark.parametrize("route", ["demand-forecast", "timetable-proposal", "segments"])
def test_other_units_manager_members_and_trainers_are_refused(api, tokens, unit, route):
    for who in ("manager1", "member1", "trainer1"):
        answer = api.get(f"/api/analytics/units/{unit['id']}/{route}", headers=bearer(tokens[who]))
        assert answer.status_code == 403 and "\n" not in answer.json()["detail"], (who, answer.text)
    assert api.get(f"/api/analytics/units/{unit['id']}/{route}").status_code == 401


@pytest.mark.parametrize(("route", "params", "field"), [
    ("demand-forecast", {"weeks": 0}, "weeks"), ("demand-forecast", {"weeks": 27}, "weeks"),
    ("timetable-proposal", {"time_limit_s": 31}, "time_limit_s"), ("timetable-proposal", {"weeks": "x"}, "weeks"),
    ("timetable-proposal", {"waitlist_weight": -1}, "waitlist_weight"),
    ("timetable-proposal", {"min_share": 1.5}, "min_share"), ("segments", {"limit": 0}, "limit")])
def test_bad_parameters_are_422(api, tokens, unit, route, params, field):
    answer = api.get(f"/api/analytics/units/{unit['id']}/{route}", params=params, headers=bearer(tokens["admin"]))
    assert answer.status_code == 422 and field in answer.json()["detail"]


def test_unknown_unit_404_and_unit_without_history_409(api, tokens, world, unit):
    admin = bearer(tokens["admin"])
    assert api.get("/api/analytics/units/999999999/demand-forecast", headers=admin).status_code == 404
    answer = api.get(f"/api/analytics/units/{world.units[1]}/timetable-proposal", headers=admin)
    assert answer.status_code == 409 and "timetable" in answer.json()["detail"]
