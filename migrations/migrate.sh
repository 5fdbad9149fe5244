#!/usr/bin/env bash
# migrate.sh - apply the schema changes in migrations/ once each, in order.
#
#   migrate.sh            apply what is pending (MySQL, then MongoDB, then data,
#                         then FerretDB's PostgreSQL when configured)
#   migrate.sh --status   list applied and pending files, change nothing
#
# MySQL files (mysql/NNNN_name.sql) are recorded in schema_migrations in the
# MySQL database; MongoDB files (mongo/NNNN_name.json, one command document
# each) and, with ferretdb_postgresql_url set, ferretdb-pg/NNNN_name.sql
# (see below) are recorded in the schema_migrations collection of the
# MongoDB database, next to the data they shape. Data files
# (data/NNNN_name.sh, executable scripts that move facts between the two
# stores, such as each room's newest seq) run after the MySQL and MongoDB
# files and are recorded in MySQL as data/NNNN_name.sh; they get the MySQL
# client options file in MIGRATE_MYSQL_DEFAULTS and the chat-mongo-cmd path
# in MIGRATE_MONGO_CMD. Each record keeps the file's
# SHA-256: if an applied file has changed since, nothing runs and the file
# is named. A file that fails is named, is not recorded, and stops the run
# with a non-zero exit. Note that MySQL commits DDL statement by statement,
# so a failing file may leave the statements before its error applied; keep
# one change per file.
#
# Settings come from the same config as the programs (CHAT_CONFIG, default
# /etc/chat/chat.conf, with CHAT_<KEY> overrides), read by the programs' own
# loader through `chatctl config get`, defaults included. CHAT_BIN_DIR names
# where chatctl and chat-mongo-cmd live (default: build/rel/bin, then PATH).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# CHAT_MIGRATIONS_DIR: another directory of mysql/ and mongo/ files (tests).
HERE=${CHAT_MIGRATIONS_DIR:-$HERE}
CONF=${CHAT_CONFIG:-/etc/chat/chat.conf}
MODE=apply
case ${1:-} in
"") ;;
--status) MODE=status ;;
-h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "migrate: unknown argument '$1' (use --status)" >&2; exit 2 ;;
esac

# shellcheck source=../deploy/lib/config.sh
. "$ROOT/deploy/lib/config.sh"
conf_check || { echo "migrate: the config does not load ($CONF)" >&2; exit 1; }

MONGO_CMD=${CHAT_BIN_DIR:-$ROOT/build/rel/bin}/chat-mongo-cmd
[[ -x $MONGO_CMD ]] || MONGO_CMD=$(command -v chat-mongo-cmd || true)
[[ -n $MONGO_CMD ]] || { echo "migrate: chat-mongo-cmd not found (build it with make, or set CHAT_BIN_DIR)" >&2; exit 1; }

DEFAULTS=$(mktemp)
trap 'rm -f "$DEFAULTS"' EXIT
mysql_db=$(conf_get mysql_database)
mysql_defaults_write "$DEFAULTS" "$mysql_db"

sql() { mariadb --defaults-file="$DEFAULTS" --batch --skip-column-names "$@"; }

checksum() { sha256sum "$1" | cut -d' ' -f1; }

sql -e "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    VARCHAR(128) NOT NULL PRIMARY KEY,
            checksum   CHAR(64) NOT NULL,
            applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" ||
    { echo "migrate: cannot reach MySQL with the configured settings ($CONF)" >&2; exit 1; }

declare -A applied=()
while read -r version sum; do
    [[ -z $version ]] && continue
    if [[ $version == data/* ]]; then applied[$version]=$sum; else applied[mysql/$version]=$sum; fi
done < <(sql -e "SELECT version, checksum FROM schema_migrations ORDER BY version")
mongo_applied=$("$MONGO_CMD" applied) ||
    { echo "migrate: cannot reach MongoDB with the configured settings ($CONF)" >&2; exit 1; }
while read -r version sum; do
    [[ -n $version ]] && applied[mongo/$version]=$sum
done <<<"$mongo_applied"

# ---------------------------------------------------------------- FerretDB on PostgreSQL
#
# ferretdb-pg/NNNN_name.sql: SQL for the PostgreSQL database that a FerretDB
# stores its data in, run with psql, only when ferretdb_postgresql_url names
# that database (`make run` sets it for its private FerretDB; a real MongoDB
# has nothing of the kind). FerretDB keeps MongoDB database D in schema D,
# each collection in a table listed in D._ferretdb_database_metadata; a file
# gets D as the psql variable mongo_database. The files run after the
# MongoDB ones, which create the collections, and are recorded with their
# SHA-256 in the MongoDB schema_migrations collection as ferretdb-pg/NAME.
# Before the first pending file, a probe checks that the MongoDB in use
# really is stored there: a value written through mongo_uri must be seen in
# PostgreSQL. If not (another MongoDB, e.g. the bench's own FerretDB, or no
# PostgreSQL answering there), the files are skipped with a notice.

pg_url=$(conf_get ferretdb_postgresql_url)
mongo_db=$(conf_get mongo_database)
declare -A pg_applied=()
pg_files=()
if [[ -n $pg_url ]]; then
    while read -r version sum; do
        [[ $version == ferretdb-pg/* ]] && pg_applied[$version]=$sum
    done <<<"$mongo_applied"
    for f in "$HERE"/ferretdb-pg/[0-9][0-9][0-9][0-9]_*.sql; do
        [[ -e $f ]] && pg_files+=("$f")
    done
fi

# pg_psql ARGS...: psql on ferretdb_postgresql_url, the password passed in
# the environment rather than on the command line.
pg_psql() {
    local url=$pg_url pw=""
    local re='^(postgres(ql)?://[^:@/]*):([^@/]*)@(.*)$'
    if [[ $url =~ $re ]]; then
        url=${BASH_REMATCH[1]}@${BASH_REMATCH[4]}
        pw=$(printf '%b' "${BASH_REMATCH[3]//%/\\x}")
    fi
    (
        [[ -n $pw ]] && export PGPASSWORD=$pw
        PGCONNECT_TIMEOUT=10 exec psql -X -q -v ON_ERROR_STOP=1 -d "$url" \
            -v mongo_database="$mongo_db" "$@"
    )
}

# check_file KEY FILE RECORDED: stop on a badly named file; flag (changed=1)
# an applied file whose checksum is no longer the RECORDED one.
check_file() {
    if [[ ! $(basename "$2") =~ ^[0-9]{4}_[A-Za-z0-9_.-]+$ ]]; then
        echo "migrate: $1: file names are NNNN_letters-digits-underscores only" >&2
        exit 1
    fi
    if [[ -n $3 && $3 != "$(checksum "$2")" ]]; then
        echo "migrate: $1 was changed after it was applied (recorded ${3:0:12}..., now $(checksum "$2" | cut -c1-12)...); refusing to run. Add a new migration instead." >&2
        changed=1
    fi
}

# ferretdb_pg_check: the same check for ferretdb-pg/ files.
ferretdb_pg_check() {
    local f key
    for f in "${pg_files[@]}"; do
        key=ferretdb-pg/$(basename "$f")
        check_file "$key" "$f" "${pg_applied[$key]:-}"
    done
}

# ferretdb_pg_same_store: true when the MongoDB database at mongo_uri is
# stored in ferretdb_postgresql_url; otherwise says why not. A PostgreSQL
# that does not answer cannot be the store of a FerretDB that just did (a
# real MongoDB named in the environment while the config still names the
# private PostgreSQL, for one); only one that answers gets the probe.
ferretdb_pg_same_store() {
    local nonce seen
    if ! pg_psql -At -c 'SELECT 1' >/dev/null 2>&1; then
        echo "migrate: ferretdb-pg: skipped, no PostgreSQL answers at ferretdb_postgresql_url"
        return 1
    fi
    nonce=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    printf '{"update": "schema_migrations", "updates": [{"q": {"_id": "ferretdb-pg probe"}, "u": {"nonce": "%s"}, "upsert": true}]}' \
        "$nonce" | "$MONGO_CMD" run - >/dev/null ||
        { echo "migrate: ferretdb-pg: cannot write the probe through mongo_uri" >&2; exit 1; }
    seen=$(pg_psql -At -v nonce="$nonce" <<'SQL'
SELECT to_regclass(format('%I._ferretdb_database_metadata', :'mongo_database')) IS NOT NULL AS has_meta \gset
\if :has_meta
SELECT max(_jsonb ->> 'table') IS NOT NULL AS has_table, coalesce(max(_jsonb ->> 'table'), '') AS tab
  FROM :"mongo_database"._ferretdb_database_metadata WHERE _jsonb ->> '_id' = 'schema_migrations' \gset
\if :has_table
SELECT count(*) FROM :"mongo_database".:"tab"
 WHERE _jsonb ->> '_id' = 'ferretdb-pg probe' AND _jsonb ->> 'nonce' = :'nonce';
\else
SELECT 0;
\endif
\else
SELECT 0;
\endif
SQL
    ) || { echo "migrate: ferretdb-pg: the probe query failed at ferretdb_postgresql_url" >&2; exit 1; }
    if [[ $seen != 1 ]]; then
        echo "migrate: ferretdb-pg: skipped, the MongoDB at mongo_uri is not stored in ferretdb_postgresql_url"
        return 1
    fi
}

# ferretdb_pg_apply: apply (or, for --status, list) the ferretdb-pg/ files.
ferretdb_pg_apply() {
    local f key name sum out probed=0
    for f in "${pg_files[@]}"; do
        name=$(basename "$f")
        key=ferretdb-pg/$name
        if [[ -n ${pg_applied[$key]:-} ]]; then
            [[ $MODE == status ]] && echo "applied  $key"
            continue
        fi
        if [[ $MODE == status ]]; then
            echo "pending  $key"
            continue
        fi
        if ((!probed)); then
            command -v psql >/dev/null ||
                { echo "migrate: psql not found; ferretdb_postgresql_url needs it (Debian: postgresql-client)" >&2; exit 1; }
            ferretdb_pg_same_store || return 0
            probed=1
        fi
        pending=$((pending + 1))
        sum=$(checksum "$f")
        if ! out=$(pg_psql -f "$f" 2>&1); then
            echo "migrate: $key failed: $out" >&2
            exit 1
        fi
        "$MONGO_CMD" record "$key" "$sum" >/dev/null
        echo "migrate: applied $key"
    done
    files+=("${pg_files[@]}")
}

# Refuse before touching anything if history was rewritten.
changed=0
files=()
for f in "$HERE"/mysql/[0-9][0-9][0-9][0-9]_*.sql "$HERE"/mongo/[0-9][0-9][0-9][0-9]_*.json \
    "$HERE"/data/[0-9][0-9][0-9][0-9]_*.sh; do
    [[ -e $f ]] || continue
    files+=("$f")
    key=$(basename "$(dirname "$f")")/$(basename "$f")
    check_file "$key" "$f" "${applied[$key]:-}"
done
ferretdb_pg_check
((changed == 0)) || exit 1

pending=0
for f in "${files[@]}"; do
    kind=$(basename "$(dirname "$f")")
    name=$(basename "$f")
    key=$kind/$name
    if [[ -n ${applied[$key]:-} ]]; then
        [[ $MODE == status ]] && echo "applied  $key"
        continue
    fi
    pending=$((pending + 1))
    if [[ $MODE == status ]]; then
        echo "pending  $key"
        continue
    fi
    sum=$(checksum "$f")
    if [[ $kind == mysql ]]; then
        if ! out=$(sql <"$f" 2>&1); then
            echo "migrate: $key failed: $out" >&2
            exit 1
        fi
        sql -e "INSERT INTO schema_migrations (version, checksum) VALUES ('$name', '$sum')"
    elif [[ $kind == data ]]; then
        if ! out=$(MIGRATE_MYSQL_DEFAULTS=$DEFAULTS MIGRATE_MONGO_CMD=$MONGO_CMD bash "$f" 2>&1); then
            echo "migrate: $key failed: $out" >&2
            exit 1
        fi
        sql -e "INSERT INTO schema_migrations (version, checksum) VALUES ('data/$name', '$sum')"
    else
        if ! out=$("$MONGO_CMD" run "$f" 2>&1); then
            echo "migrate: $key failed: $out" >&2
            exit 1
        fi
        "$MONGO_CMD" record "$name" "$sum" >/dev/null
    fi
    echo "migrate: applied $key"
done
ferretdb_pg_apply

if [[ $MODE == apply && $pending -eq 0 ]]; then
    echo "migrate: up to date (${#files[@]} files applied)"
fi
