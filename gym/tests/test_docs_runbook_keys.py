"""The key-rotation runbook, for real: personal data written under one GYM_PII_KEY / GYM_BLIND_INDEX_KEY is
re-encrypted under new keys from `gymchain keygen` by gym/scripts/rotate_pii_keys.py, on a scratch database."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from conftest import create_database, drop_database

GYM = Path(__file__).resolve().parents[1]
SCRIPT = GYM / "scripts" / "rotate_pii_keys.py"
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
sys.path.insert(0, str(SCRIPT.parent))
import rotate_pii_keys as rot  # gym/scripts/rotate_pii_keys.py


def keygen() -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "gymchain.cli", "keygen"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def run(url: str, env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, "--database-url", url, *args], capture_output=True, text=True,
                          env=os.environ | env, timeout=120, check=False)


def test_rotation_reencrypts_everything_and_keeps_lookups_working():
    from gymchain.migrations import upgrade

    old, new = keygen(), keygen()
    assert old["GYM_PII_KEY"] != new["GYM_PII_KEY"]
    name = f"gym_rot_{secrets.token_hex(4)}"
    url = f"{SERVER}/{name}"
    create_database(name)
    try:
        upgrade(url)
        box = rot.aead(old["GYM_PII_KEY"], "old")
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            unit = conn.execute(sa.text("INSERT INTO units (code, name, city) VALUES ('RT-1', 'Rot', 'Natal') "
                                        "RETURNING id")).scalar_one()
            for i in range(3):
                email = f"m{i}@rot.example"
                conn.execute(sa.text(
                    "INSERT INTO members (unit_id, full_name_enc, email_enc, email_index, cpf_enc, cpf_index) "
                    "VALUES (:u, :n, :e, :ei, :c, :ci)"),
                    {"u": unit, "n": rot.encrypt(box, f"Pessoa {i}", "members.full_name"),
                     "e": rot.encrypt(box, email, "members.email"),
                     "ei": rot.blind_index(old["GYM_BLIND_INDEX_KEY"], email, "email"),
                     "c": rot.encrypt(box, f"5298237450{i}", "members.cpf"),
                     "ci": rot.blind_index(old["GYM_BLIND_INDEX_KEY"], f"5298237450{i}", "cpf")})
            conn.execute(sa.text("INSERT INTO users (email_enc, email_index, password_hash, role) "
                                 "VALUES (:e, :ei, 'x', 'admin')"),
                         {"e": rot.encrypt(box, "ADMIN@rot.example", "users.email"),
                          "ei": rot.blind_index(old["GYM_BLIND_INDEX_KEY"], "ADMIN@rot.example", "email")})
        env = {"GYM_OLD_PII_KEY": old["GYM_PII_KEY"], "GYM_OLD_BLIND_INDEX_KEY": old["GYM_BLIND_INDEX_KEY"],
               "GYM_PII_KEY": new["GYM_PII_KEY"], "GYM_BLIND_INDEX_KEY": new["GYM_BLIND_INDEX_KEY"]}

        # a wrong old key changes nothing and says so in one line
        wrong = run(url, env | {"GYM_OLD_PII_KEY": keygen()["GYM_PII_KEY"]})
        assert wrong.returncode == 1 and len(wrong.stderr.strip().splitlines()) == 1
        assert "does not decrypt with GYM_OLD_PII_KEY" in wrong.stderr and "nothing was changed" in wrong.stderr
        dry = run(url, env, "--dry-run")
        assert dry.returncode == 0 and "dry run, rolled back" in dry.stdout
        with engine.connect() as conn:
            first = conn.execute(sa.text("SELECT email_enc FROM members ORDER BY id")).scalars().first()
        assert rot.decrypt(box, first, "members.email") == "m0@rot.example"  # untouched by the dry run

        done = run(url, env)
        assert done.returncode == 0, done.stderr
        assert "members.email_enc            3 values re-encrypted" in done.stdout
        assert "users.email_enc              1 values re-encrypted" in done.stdout
        new_box = rot.aead(new["GYM_PII_KEY"], "new")
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT full_name_enc, email_enc, email_index, cpf_index FROM members "
                                        "ORDER BY id")).all()
            user = conn.execute(sa.text("SELECT email_enc, email_index FROM users")).one()
        engine.dispose()
        for i, (name_enc, email_enc, email_index, cpf_index) in enumerate(rows):
            assert rot.decrypt(new_box, name_enc, "members.full_name") == f"Pessoa {i}"
            assert rot.decrypt(new_box, email_enc, "members.email") == f"m{i}@rot.example"
            assert email_index == rot.blind_index(new["GYM_BLIND_INDEX_KEY"], f"M{i}@ROT.example", "email")
            assert cpf_index == rot.blind_index(new["GYM_BLIND_INDEX_KEY"], f"529.823.745-0{i}", "cpf")
            try:
                rot.decrypt(box, email_enc, "members.email")
                raise AssertionError("the old key still decrypts")
            except rot.RotationError:
                pass
        assert rot.decrypt(new_box, user[0], "users.email") == "ADMIN@rot.example"
        assert user[1] == rot.blind_index(new["GYM_BLIND_INDEX_KEY"], "admin@rot.example", "email")
    finally:
        drop_database(name)


def test_missing_keys_and_same_keys_are_refused():
    result = run(f"{SERVER}/postgres", {"GYM_OLD_PII_KEY": "", "GYM_PII_KEY": "", "GYM_OLD_BLIND_INDEX_KEY": "",
                                        "GYM_BLIND_INDEX_KEY": ""})
    assert result.returncode == 2 and "set GYM_OLD_PII_KEY, GYM_PII_KEY" in result.stderr
    k = keygen()
    same = run(f"{SERVER}/postgres", {"GYM_OLD_PII_KEY": k["GYM_PII_KEY"], "GYM_PII_KEY": k["GYM_PII_KEY"],
                                      "GYM_OLD_BLIND_INDEX_KEY": "a", "GYM_BLIND_INDEX_KEY": "a"})
    assert same.returncode == 1 and "equal the old ones" in same.stderr
    short = run(f"{SERVER}/postgres", {"GYM_OLD_PII_KEY": "c2hvcnQ=", "GYM_PII_KEY": k["GYM_PII_KEY"],
                                       "GYM_OLD_BLIND_INDEX_KEY": "a", "GYM_BLIND_INDEX_KEY": "b"})
    assert short.returncode == 1 and "GYM_OLD_PII_KEY: expected urlsafe base64 of 32 bytes, got 5 bytes" in short.stderr
