"""The security kernel's pure parts: PII ciphertexts bound to their column, blind-index normalisation, token
expiry and tampering, argon2, production refusing development secrets, CPF check digits."""

from __future__ import annotations

import base64
from datetime import date

import pytest

from gymchain.common.errors import Forbidden, Unauthorized
from gymchain.common.security import pii
from gymchain.common.security.passwords import hash_password, verify_password
from gymchain.common.security.rbac import ensure_member_access, scoped_unit
from gymchain.common.security.tokens import Principal, decode_access_token, issue_access_token
from gymchain.common.settings import Settings, check_production


def test_ciphertext_is_randomised_and_bound_to_its_column():
    first, second = pii.encrypt("529.982.247-25", "members.cpf"), pii.encrypt("529.982.247-25", "members.cpf")
    assert first != second and pii.decrypt(first, "members.cpf") == pii.decrypt(second, "members.cpf")
    with pytest.raises(ValueError, match=r"members\.phone: ciphertext does not decrypt"):
        pii.decrypt(first, "members.phone")
    tampered = first[:-2] + ("A" if first[-2] != "A" else "B") + first[-1]
    with pytest.raises(ValueError):
        pii.decrypt(tampered, "members.cpf")
    assert pii.encrypt(None, "x") is None and pii.decrypt(None, "x") is None


def test_blind_index_normalises_email_and_cpf():
    assert pii.blind_index(" Ana@Example.COM ", "email") == pii.blind_index("ana@example.com", "email")
    assert pii.blind_index("529.982.247-25", "cpf") == pii.blind_index("52998224725", "cpf")
    assert pii.blind_index("ana@example.com", "email") != pii.blind_index("ana@example.com", "cpf")


def test_expired_and_tampered_tokens_are_refused():
    settings = Settings(access_token_minutes=1)
    token, lifetime = issue_access_token(Principal(7, "trainer", 2, None), settings)
    assert lifetime == 60 and decode_access_token(token, settings).unit_id == 2
    expired = Settings(access_token_minutes=1, jwt_issuer="gymchain-auth")
    import jwt

    stale = jwt.encode({"sub": "7", "role": "trainer", "unit": 2, "iss": "gymchain-auth", "iat": 1, "exp": 2,
                        "typ": "access"}, expired.jwt_secret, algorithm="HS256")
    with pytest.raises(Unauthorized, match="expired"):
        decode_access_token(stale, expired)
    wrong_role = jwt.encode({"sub": "7", "role": "owner", "iss": "gymchain-auth", "iat": 1, "exp": 2**40,
                             "typ": "access"}, settings.jwt_secret, algorithm="HS256")
    with pytest.raises(Unauthorized):
        decode_access_token(wrong_role, settings)


def test_argon2_hashes_verify_only_the_right_password():
    stored = hash_password("a-long-password")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "a-long-password") and not verify_password(stored, "a-long-passwor")
    assert not verify_password(None, "a-long-password") and not verify_password("not a hash", "x")


def test_production_refuses_development_secrets():
    with pytest.raises(SystemExit, match="GYM_JWT_SECRET"):
        check_production(Settings(env="production"))
    strong = base64.urlsafe_b64encode(b"k" * 32).decode()
    check_production(Settings(env="production", jwt_secret="s" * 40, pii_key=strong, blind_index_key="b" * 40,
                              sync_secret="c" * 40))


def test_unit_scoping_rules():
    manager = Principal(1, "manager", 3, None)
    assert scoped_unit(manager, None) == 3 and scoped_unit(Principal(9, "admin", None, None), None) is None
    with pytest.raises(Forbidden):
        scoped_unit(manager, 4)
    ensure_member_access(Principal(2, "member", 3, 50), 50, 3)
    with pytest.raises(Forbidden):
        ensure_member_access(Principal(2, "member", 3, 50), 51, 3)
    with pytest.raises(Forbidden):
        ensure_member_access(Principal(5, "trainer", 4, None), 50, 3)


@pytest.mark.parametrize(("cpf", "valid"), [("52998224725", True), ("529.982.247-25", True),
                                            ("52998224724", False), ("11111111111", False), ("1234", False)])
def test_cpf_check_digits(cpf, valid):
    from gymchain.members.schemas import clean_cpf

    if valid:
        assert clean_cpf(cpf) == "52998224725"
    else:
        with pytest.raises(ValueError, match="expected a valid CPF"):
            clean_cpf(cpf)


def test_add_months_clamps_to_month_end():
    from gymchain.members.routers.catalog import add_months

    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
