"""The API reference in gym/docs/api is generated from the services' OpenAPI documents and is up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GYM = Path(__file__).resolve().parents[1]
SCRIPT = GYM / "scripts" / "gen_api_docs.py"
sys.path.insert(0, str(SCRIPT.parent))
import gen_api_docs  # gym/scripts/gen_api_docs.py


def test_api_reference_is_up_to_date():
    result = subprocess.run([sys.executable, SCRIPT, "--check"], capture_output=True, text=True, check=False,
                            timeout=240, cwd=GYM)
    assert result.returncode == 0, result.stderr


def test_every_route_of_every_service_is_documented():
    from gymchain.members.app import app

    page = (GYM / "docs" / "api" / "members.md").read_text()
    for route in app.routes:
        for method in getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}:
            if route.include_in_schema:
                assert f"### `{method} {route.path}`" in page, f"{method} {route.path} missing from members.md"
    assert "| `limit` | query |" in page  # parameters with their bounds
    assert "### BookingCreate" in page  # request schemas with their fields


def test_page_renders_bounds_refs_and_auth():
    spec = {"info": {"title": "t"}, "paths": {"/x/{id}": {"post": {
        "summary": "Do x (manager)", "security": [{"b": []}],
        "parameters": [{"name": "id", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 9}}],
        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/XIn"}}}},
        "responses": {"201": {"description": "made"}, "422": {"description": "bad"}}}}},
        "components": {"schemas": {"XIn": {"type": "object", "required": ["n"], "properties": {
            "n": {"type": "string", "maxLength": 5, "description": "a | name"}}}}}}
    md = gen_api_docs.page("t", spec, "/api/t")
    assert "### `POST /x/{id}`" in md and "Authentication: bearer token." in md
    assert "| `id` | path | integer | yes | >= 1, <= 9 |" in md
    assert "Request body (application/json): [XIn](#xin)" in md
    assert "| `n` | string | yes | length <= 5 | a \\| name |" in md
    assert "`201` made; `422` bad." in md
