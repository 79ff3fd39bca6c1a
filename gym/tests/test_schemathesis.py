"""Schemathesis against each service's own OpenAPI document: generated requests (valid and invalid) never get a
server error. Runs as the admin (the assistant as a member, whose routes those are) on the test database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CALLER = {"auth": "admin", "members": "admin", "analytics": "admin", "vision": "admin", "assistant": "member1"}


@pytest.mark.parametrize("service", list(CALLER))
def test_no_server_errors(platform, tokens, service):
    st = os.path.join(os.path.dirname(sys.executable), "st")
    answer = subprocess.run([st, "run", f"{platform.services[service]}/openapi.json",
                             "-H", f"Authorization: Bearer {tokens[CALLER[service]]}",
                             "--checks", "not_a_server_error", "--phases", "examples,fuzzing", "-n", "10",
                             "--seed", "2026", "--generation-database", "none", "--workers", "2"],
                            check=False, capture_output=True, text=True, timeout=300)
    tail = answer.stdout[-3000:]
    assert answer.returncode == 0, tail
    assert "passed" in tail and "failed" not in tail.split("Test cases:")[-1], tail
