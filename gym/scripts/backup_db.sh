#!/usr/bin/env bash
# Back up the gymchain database with pg_dump (custom format: compressed, restorable table by table) and write a
# SHA-256 beside it. The dump holds personal data as ciphertext only (docs/security-privacy.md): restoring it is
# useful only with the same GYM_PII_KEY and GYM_BLIND_INDEX_KEY, which are backed up apart (docs/runbooks.md).
#   bash gym/scripts/backup_db.sh [OUT_DIR]       (default gym/var/backups; prints the dump's path)
# Environment: GYM_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/gymchain).
set -euo pipefail
GYM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
URL="${GYM_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/gymchain}"
LIBPQ="${URL/+psycopg/}"                      # SQLAlchemy URL -> libpq URL
OUT="${1:-$GYM_DIR/var/backups}"
command -v pg_dump >/dev/null || { echo "backup_db: pg_dump not found (apt-get install postgresql-client)" >&2; exit 1; }
mkdir -p "$OUT" && chmod 700 "$OUT"
db="${LIBPQ##*/}"; db="${db%%\?*}"
file="$OUT/${db}-$(date -u +%Y%m%dT%H%M%SZ).dump"
umask 077
if ! pg_dump --format=custom --compress=6 --no-owner --no-privileges --file "$file.partial" "$LIBPQ" 2>"$file.err"; then
  echo "backup_db: pg_dump of $db failed: $(tail -1 "$file.err")" >&2; rm -f "$file.partial" "$file.err"; exit 1
fi
rm -f "$file.err"
mv "$file.partial" "$file"
(cd "$OUT" && sha256sum "$(basename "$file")" > "$(basename "$file").sha256")
pg_restore --list "$file" >/dev/null   # the archive reads back
echo "backup_db: $(du -h "$file" | cut -f1) $file" >&2
echo "$file"
