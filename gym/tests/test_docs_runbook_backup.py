"""The backup-and-restore runbook, for real: pg_dump of a scratch gymchain database (migrated, with a member whose
personal data is encrypted, a class, a booking and an outbox event), pg_restore into a new database, and every
table's rows compared; plus the refusals (existing target, altered dump) as one-line errors."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import sqlalchemy as sa

from conftest import create_database, drop_database

GYM = Path(__file__).resolve().parents[1]
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def sh(script: str, *args, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(GYM / "scripts" / script), *map(str, args)], capture_output=True,
                          text=True, env=os.environ | env, timeout=240, check=False)


def table_digests(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an md5 of every row (ordered by its text) per table (partitions folded into their parent)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            names = conn.execute(sa.text("""
                SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition""")).scalars().all()
            out = {}
            for name in names:
                row = conn.execute(sa.text(
                    f'SELECT count(*), md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\')) '
                    f'FROM "{name}" t')).one()
                out[name] = (row[0], row[1])
            return out
    finally:
        engine.dispose()


def populate(url: str) -> None:
    from gymchain.common.security import pii
    from gymchain.migrations import upgrade

    upgrade(url)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        unit = conn.execute(sa.text("INSERT INTO units (code, name, city) VALUES ('BK-1', 'Backup', 'Recife') "
                                    "RETURNING id")).scalar_one()
        cols = {c["name"] for c in sa.inspect(conn).get_columns("members")}
        values = {"unit_id": unit, "full_name_enc": pii.encrypt("Ana Backup", "members.full_name"),
                  "email_enc": pii.encrypt("ana@backup.example", "members.email"),
                  "email_index": pii.blind_index("ana@backup.example", "email")}
        assert set(values) <= cols, set(values) - cols
        conn.execute(sa.text(f"INSERT INTO members ({', '.join(values)}) VALUES "
                             f"({', '.join(':' + k for k in values)})"), values)
        from gymchain.common.outbox import add_event

        add_event(conn, topic="bookings", key="BK-1", payload={"what": "backup test"})


def test_backup_and_restore_round_trip(tmp_path):
    source = f"gym_bk_{secrets.token_hex(4)}"
    target = f"{source}_restored"
    create_database(source)
    env = {"GYM_DATABASE_URL": f"{SERVER}/{source}"}
    try:
        populate(f"{SERVER}/{source}")
        before = table_digests(f"{SERVER}/{source}")
        assert before["members"][0] == 1 and before["units"][0] == 1 and before["outbox_events"][0] == 1

        made = sh("backup_db.sh", tmp_path, env=env)
        assert made.returncode == 0, made.stderr
        dump = Path(made.stdout.strip())
        assert dump.exists() and dump.with_name(dump.name + ".sha256").exists()
        assert oct(dump.stat().st_mode & 0o777) == "0o600"  # the dump is readable by its owner only
        assert b"ana@backup.example" not in dump.read_bytes()  # compressed, and the PII is ciphertext anyway

        restored = sh("restore_db.sh", dump, target, env=env)
        assert restored.returncode == 0, restored.stderr
        assert "members 1" in restored.stdout.splitlines()
        assert table_digests(f"{SERVER}/{target}") == before

        # the restored ciphertext decrypts with the same key (what the runbook says to keep apart)
        from gymchain.common.security import pii

        engine = sa.create_engine(f"{SERVER}/{target}", poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            email = conn.execute(sa.text("SELECT email_enc FROM members")).scalar_one()
        engine.dispose()
        assert pii.decrypt(email, "members.email") == "ana@backup.example"

        # refusals: an existing target without --replace, an altered dump
        again = sh("restore_db.sh", dump, target, env=env)
        assert again.returncode == 1
        assert again.stderr.strip() == f"restore_db: database {target} exists (add --replace to drop and restore it)"
        assert sh("restore_db.sh", dump, target, "--replace", env=env).returncode == 0
        data = bytearray(dump.read_bytes())
        data[len(data) // 2] ^= 0xFF
        dump.write_bytes(bytes(data))
        altered = sh("restore_db.sh", dump, f"{source}_x", env=env)
        assert altered.returncode == 1 and "SHA-256 does not match" in altered.stderr
        assert len(altered.stderr.strip().splitlines()) == 1
    finally:
        drop_database(target)
        drop_database(source)
        drop_database(f"{source}_x")


def test_bad_arguments_are_one_line_errors(tmp_path):
    env = {"GYM_DATABASE_URL": f"{SERVER}/postgres"}
    missing = sh("restore_db.sh", tmp_path / "none.dump", "x", env=env)
    assert missing.returncode == 1 and missing.stderr.strip() == f"restore_db: {tmp_path / 'none.dump'}: no such file"
    (tmp_path / "a.dump").write_bytes(b"x")
    bad_name = sh("restore_db.sh", tmp_path / "a.dump", "Drop Table", env=env)
    assert bad_name.returncode == 1 and "expected lower-case letters" in bad_name.stderr
    no_db = sh("backup_db.sh", tmp_path, env={"GYM_DATABASE_URL": f"{SERVER}/gym_no_such_db_{secrets.token_hex(3)}"})
    assert no_db.returncode == 1 and "pg_dump of gym_no_such_db_" in no_db.stderr
    assert len(no_db.stderr.strip().splitlines()) == 1
