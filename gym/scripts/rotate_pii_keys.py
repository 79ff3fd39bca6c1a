"""Re-encrypt every personal-data column under a new GYM_PII_KEY and recompute the blind indexes under a new
GYM_BLIND_INDEX_KEY, in ONE transaction (docs/runbooks.md, "Rotate keys").

    # new values from `gymchain keygen`; the old ones from the secret store
    GYM_OLD_PII_KEY=... GYM_OLD_BLIND_INDEX_KEY=... GYM_PII_KEY=<new> GYM_BLIND_INDEX_KEY=<new> \\
      gym/.venv/bin/python gym/scripts/rotate_pii_keys.py [--database-url URL] [--dry-run]

The columns are found, not listed: every ``<name>_enc`` column of the public schema holds a ciphertext of
``common.security.pii`` with ``<table>.<name>`` as associated data, and an ``email_index`` / ``cpf_index`` column
beside an ``email_enc`` / ``cpf_enc`` one is that value's blind index. The tables are locked for the run (stop the
services first: a write with the old key during the run would be rejected afterwards); if any value does not
decrypt with the old key nothing is changed. Prints one line per column and the totals.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import sys
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gymchain.common.security.pii import PREFIX, normalise

INDEXED = ("email", "cpf")


class RotationError(Exception):
    pass


def aead(key_b64: str, name: str) -> AESGCM:
    try:
        key = base64.urlsafe_b64decode(key_b64.encode())
    except ValueError:
        raise RotationError(f"{name}: not urlsafe base64") from None
    if len(key) != 32:
        raise RotationError(f"{name}: expected urlsafe base64 of 32 bytes, got {len(key)} bytes")
    return AESGCM(key)


def decrypt(box: AESGCM, token: str, field: str) -> str:
    if not token.startswith(PREFIX):
        raise RotationError(f"{field}: a value is not a gymchain ciphertext")
    raw = base64.urlsafe_b64decode(token[len(PREFIX):].encode())
    try:
        return box.decrypt(raw[:12], raw[12:], field.encode()).decode()
    except InvalidTag:
        raise RotationError(f"{field}: a value does not decrypt with GYM_OLD_PII_KEY (wrong old key?)") from None


def encrypt(box: AESGCM, value: str, field: str) -> str:
    nonce = os.urandom(12)
    return PREFIX + base64.urlsafe_b64encode(nonce + box.encrypt(nonce, value.encode(), field.encode())).decode()


def blind_index(key: str, value: str, kind: str) -> str:
    return hmac.new(key.encode(), f"{kind}:{normalise(value, kind)}".encode(), hashlib.sha256).hexdigest()


def encrypted_columns(conn) -> dict[str, list[str]]:
    rows = conn.execute(sa.text("""SELECT table_name, column_name FROM information_schema.columns
                                   WHERE table_schema = 'public' AND column_name LIKE '%\\_enc'
                                   ORDER BY table_name, column_name""")).all()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def rotate(url: str, old_pii: str, new_pii: str, old_index: str, new_index: str, dry_run: bool = False) -> dict:
    """Re-encrypt every *_enc column and recompute the blind indexes; returns {"table.column": values changed}."""
    if old_pii == new_pii and old_index == new_index:
        raise RotationError("the new keys equal the old ones: run `gymchain keygen` for new values")
    old_box, new_box = aead(old_pii, "GYM_OLD_PII_KEY"), aead(new_pii, "GYM_PII_KEY")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    counts: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            trans = conn.begin()
            tables = encrypted_columns(conn)
            for table in tables:
                conn.execute(sa.text(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE'))
            for table, columns in tables.items():
                all_cols = {c["name"] for c in sa.inspect(conn).get_columns(table)}
                indexed = [c for c in columns if c[:-4] in INDEXED and f"{c[:-4]}_index" in all_cols]
                select = ", ".join(f'"{c}"' for c in columns)
                rows = conn.execute(sa.text(f'SELECT ctid, {select} FROM "{table}"')).all()
                for row in rows:
                    changes = {}
                    for column, token in zip(columns, row[1:], strict=True):
                        if token is None:
                            continue
                        field = f"{table}.{column[:-4]}"
                        plain = decrypt(old_box, token, field)
                        changes[column] = encrypt(new_box, plain, field)
                        if column in indexed:
                            changes[f"{column[:-4]}_index"] = blind_index(new_index, plain, column[:-4])
                        counts[f"{table}.{column}"] = counts.get(f"{table}.{column}", 0) + 1
                    if changes:
                        sets = ", ".join(f'"{k}" = :{k}' for k in changes)
                        conn.execute(sa.text(f'UPDATE "{table}" SET {sets} WHERE ctid = :ctid'),
                                     {**changes, "ctid": row[0]})
            if dry_run:
                trans.rollback()
            else:
                trans.commit()
    finally:
        engine.dispose()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("GYM_DATABASE_URL",
                                                                  "postgresql+psycopg://postgres@127.0.0.1:5432/gymchain"))
    parser.add_argument("--dry-run", action="store_true", help="decrypt and re-encrypt, then roll back")
    args = parser.parse_args(argv)
    env = {n: os.environ.get(n, "") for n in ("GYM_OLD_PII_KEY", "GYM_PII_KEY", "GYM_OLD_BLIND_INDEX_KEY",
                                                "GYM_BLIND_INDEX_KEY")}
    missing = [n for n, v in env.items() if not v]
    if missing:
        print(f"rotate_pii_keys: set {', '.join(missing)} (old values from the secret store, new from gymchain keygen)",
              file=sys.stderr)
        return 2
    try:
        counts = rotate(args.database_url, env["GYM_OLD_PII_KEY"], env["GYM_PII_KEY"],
                        env["GYM_OLD_BLIND_INDEX_KEY"], env["GYM_BLIND_INDEX_KEY"], args.dry_run)
    except RotationError as exc:
        print(f"rotate_pii_keys: {exc}; nothing was changed", file=sys.stderr)
        return 1
    except sa.exc.SQLAlchemyError as exc:
        print(f"rotate_pii_keys: database error: {str(exc.orig or exc).splitlines()[0]}; nothing was changed",
              file=sys.stderr)
        return 1
    for column, n in sorted(counts.items()):
        print(f"{column:<28} {n} values re-encrypted")
    verb = "would be re-encrypted (dry run, rolled back)" if args.dry_run else "re-encrypted in one transaction"
    print(f"rotate_pii_keys: {sum(counts.values())} values in {len(counts)} columns {verb}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
