#!/usr/bin/env bash
# Restore a dump made by backup_db.sh into a database: checks the SHA-256, creates the target database, restores in
# ONE transaction (all or nothing) and prints the row count of every table. Refuses a target that exists unless
# --replace (which drops it first), so a typo cannot overwrite the live database.
#   bash gym/scripts/restore_db.sh DUMP TARGET_DB [--replace]
# Environment: GYM_DATABASE_URL names the server (its database part is ignored).
set -euo pipefail
die() { echo "restore_db: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: restore_db.sh DUMP TARGET_DB [--replace]"
dump="$1"; target="$2"; replace="${3:-}"
[ -f "$dump" ] || die "$dump: no such file"
[[ "$target" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "TARGET_DB '$target': expected lower-case letters, digits, _"
[ -z "$replace" ] || [ "$replace" = "--replace" ] || die "third argument '$replace': expected --replace"
if [ -f "$dump.sha256" ]; then
  (cd "$(dirname "$dump")" && sha256sum --quiet --check "$(basename "$dump").sha256" >/dev/null 2>&1) \
    || die "$dump: SHA-256 does not match $dump.sha256 (corrupt or altered dump)"
else
  die "$dump.sha256 missing: cannot verify the dump"
fi
URL="${GYM_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/gymchain}"
LIBPQ="${URL/+psycopg/}"
server="${LIBPQ%/*}"
admin="$server/postgres"
exists="$(psql -X -At "$admin" -c "SELECT 1 FROM pg_database WHERE datname = '$target'")"
if [ "$exists" = "1" ]; then
  [ "$replace" = "--replace" ] || die "database $target exists (add --replace to drop and restore it)"
  psql -X -q "$admin" -c "DROP DATABASE \"$target\" WITH (FORCE)" >/dev/null
fi
psql -X -q "$admin" -c "CREATE DATABASE \"$target\"" >/dev/null
if ! pg_restore --no-owner --no-privileges --single-transaction --exit-on-error --dbname "$server/$target" "$dump" \
     2>"/tmp/restore_db.$$.err"; then
  msg="$(grep -m1 -i error "/tmp/restore_db.$$.err" || tail -1 "/tmp/restore_db.$$.err")"; rm -f "/tmp/restore_db.$$.err"
  psql -X -q "$admin" -c "DROP DATABASE IF EXISTS \"$target\"" >/dev/null
  die "pg_restore into $target failed (nothing kept): $msg"
fi
rm -f "/tmp/restore_db.$$.err"
echo "restore_db: $dump -> $target" >&2
psql -X -At "$server/$target" <<'SQL'
SELECT format('%s %s', table_name,
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name),
                                            false, true, '')))[1]::text)
FROM information_schema.tables
WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name;
SQL
