"""Credentials of the unit links: a unit's token is HMAC-SHA256(GYM_SYNC_SECRET, "unit:<code>").

The central sync service recomputes it to authenticate a unit; the secret never travels. A unit's edge agent is
configured with its own token only (``GYM_SYNC_TOKEN``) or derives it from the secret in development.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from gymchain.common.settings import get_settings

UNIT_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def check_unit_code(code: str) -> str:
    if not isinstance(code, str) or not UNIT_CODE.match(code):
        raise ValueError(f"unit code {code!r}: expected 1-32 letters, digits, '_' or '-'")
    return code


def unit_token(code: str, secret: str | None = None) -> str:
    key = (secret or get_settings().sync_secret).encode()
    return hmac.new(key, f"unit:{check_unit_code(code)}".encode(), hashlib.sha256).hexdigest()


def verify_unit_token(code: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(unit_token(code), presented)
