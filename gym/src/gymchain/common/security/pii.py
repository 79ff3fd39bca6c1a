"""PII encryption at rest (AES-256-GCM) and blind indexes (HMAC-SHA256) for equality lookups.

A ciphertext is ``v1.`` + urlsafe-base64(nonce || ciphertext+tag); the column name is bound as associated data,
so a value copied into another column does not decrypt. The blind index lets the database enforce uniqueness and
find a member by e-mail or CPF without ever storing them in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gymchain.common.settings import get_settings

PREFIX = "v1."


@lru_cache
def _aead(key_b64: str) -> AESGCM:
    key = base64.urlsafe_b64decode(key_b64.encode())
    if len(key) != 32:
        raise SystemExit(f"GYM_PII_KEY: expected urlsafe base64 of 32 bytes, got {len(key)} bytes")
    return AESGCM(key)


def encrypt(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    nonce = os.urandom(12)
    sealed = _aead(get_settings().pii_key).encrypt(nonce, value.encode(), field.encode())
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(token: str | None, field: str) -> str | None:
    if token is None:
        return None
    if not token.startswith(PREFIX):
        raise ValueError(f"{field}: not a gymchain ciphertext")
    raw = base64.urlsafe_b64decode(token[len(PREFIX):].encode())
    try:
        return _aead(get_settings().pii_key).decrypt(raw[:12], raw[12:], field.encode()).decode()
    except InvalidTag:
        raise ValueError(f"{field}: ciphertext does not decrypt with the configured GYM_PII_KEY") from None


def normalise(value: str, kind: str) -> str:
    """Canonical form before indexing: e-mails lower-cased, CPFs digits only."""
    value = unicodedata.normalize("NFKC", value).strip()
    if kind == "email":
        return value.lower()
    if kind == "cpf":
        return "".join(ch for ch in value if ch.isdigit())
    return value


def blind_index(value: str | None, kind: str) -> str | None:
    if value is None:
        return None
    key = get_settings().blind_index_key.encode()
    return hmac.new(key, f"{kind}:{normalise(value, kind)}".encode(), hashlib.sha256).hexdigest()


def new_key() -> str:
    """A fresh GYM_PII_KEY value."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()
