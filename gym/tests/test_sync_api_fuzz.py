"""Schemathesis against the OpenAPI specs of the central sync service and a unit's edge desk: whatever it sends,
authenticated as the unit (or the unit's manager), neither answers with a server error."""

from __future__ import annotations

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings

from data_fixtures import create_database, database_url, drop_database
from gymchain.common.security.tokens import Principal, issue_access_token
from gymchain.sync import unit_schema as us
from gymchain.sync.central import create_central_app
from gymchain.sync.edge import create_edge_app
from gymchain.sync.link import apply_feed_event
from gymchain.sync.tokens import unit_token

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def engines():
    from alembic import command

    from gymchain.migrations import alembic_config

    names = {"central": create_database("gym_fuzz_c"), "unit": create_database("gym_fuzz_u")}
    command.upgrade(alembic_config(database_url(names["central"])), "heads")
    engines = {key: sa.create_engine(database_url(name)) for key, name in names.items()}
    with engines["central"].begin() as conn:
        conn.execute(sa.text("INSERT INTO units (id, code, name, city) VALUES (1, 'SP1', 'Gym SP1', 'SP')"))
    us.init_unit_database(engines["unit"])
    with engines["unit"].begin() as conn:
        us.set_state(conn, "unit_id", "1")
        apply_feed_event(conn, {"event_id": "00000000-0000-0000-0000-000000000001", "seq": 1, "kind": "class.upserted",
                                "payload": {"id": 1, "area_id": 1, "title": "spin", "starts_at": "2030-01-01T10:00:00Z",
                                            "ends_at": "2030-01-01T11:00:00Z", "capacity": 3, "booked_count": 0,
                                            "status": "scheduled"}})
    try:
        yield engines
    finally:
        for engine in engines.values():
            engine.dispose()
        for name in names.values():
            drop_database(name)


def fuzz(schema, headers: dict, unit: str | None = None) -> int:
    """Run every operation of ``schema`` with generated requests; returns how many operations were fuzzed.

    ``unit`` pins the ``{code}`` path parameter, so requests pass authentication and their bodies and queries get
    exercised (a random code only ever meets the 401)."""
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        @FUZZ
        @given(case=operation.as_strategy())
        def check(case):
            if unit and case.path_parameters and "code" in case.path_parameters:
                case.path_parameters["code"] = unit
            response = case.call(headers=headers)
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"

        check()
    return len(operations)


def test_central_sync_api_has_no_server_errors(engines):
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_central_app(engines["central"]))
    assert fuzz(schema, {"Authorization": f"Bearer {unit_token('SP1')}"}, unit="SP1") == 4


def test_edge_desk_api_has_no_server_errors(engines):
    token, _ = issue_access_token(Principal(user_id=1, role="manager", unit_id=1, member_id=None))
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_edge_app("SP1", engines["unit"]))
    assert fuzz(schema, {"Authorization": f"Bearer {token}"}) == 6
