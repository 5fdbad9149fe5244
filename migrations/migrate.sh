#!/usr/bin/env bash
# migrate.sh - apply the schema changes in migrations/ once each, in order.
#
#   migrate.sh            apply what is pending (MySQL, then MongoDB, then data)
#   migrate.sh --status   list applied and pending files, change nothing
#
# MySQL files (mysql/NNNN_name.sql) are recorded in schema_migrations in the
# MySQL database; MongoDB files (mongo/NNNN_name.json, one command document
# each) are recorded in the schema_migrations collection of the MongoDB
# database, next to the data they shape. Data files (data/NNNN_name.sh,
# executable scripts that move facts between the two stores, such as each
# room's newest seq) run last and are recorded in MySQL as data/NNNN_name.sh;
# they get the MySQL client options file in MIGRATE_MYSQL_DEFAULTS and the
# chat-mongo-cmd path in MIGRATE_MONGO_CMD. Each record keeps the file's
# SHA-256: if an applied file has changed since, nothing runs and the file
# is named. A file that fails is named, is not recorded, and stops the run
# with a non-zero exit. Note that MySQL commits DDL statement by statement,
# so a failing file may leave the statements before its error applied; keep
# one change per file.
#
# Settings come from the same config as the programs (CHAT_CONFIG, default
# /etc/chat/chat.conf, with CHAT_<KEY> overrides). CHAT_BIN_DIR names where
# chat-mongo-cmd lives (default: build/rel/bin, then PATH).
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
-h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "migrate: unknown argument '$1' (use --status)" >&2; exit 2 ;;
esac

conf_get() {
    local env="CHAT_${1^^}"
    if [[ -n ${!env:-} ]]; then printf '%s' "${!env}"; return; fi
    [[ -r $CONF ]] || return 0
    sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\(.*\)$/\1/p" "$CONF" | tail -n1 | sed 's/[[:space:]]*$//'
}

MONGO_CMD=${CHAT_BIN_DIR:-$ROOT/build/rel/bin}/chat-mongo-cmd
[[ -x $MONGO_CMD ]] || MONGO_CMD=$(command -v chat-mongo-cmd || true)
[[ -n $MONGO_CMD ]] || { echo "migrate: chat-mongo-cmd not found (build it with make, or set CHAT_BIN_DIR)" >&2; exit 1; }

# The password goes to the client through a private defaults file, never the
# command line (where ps would show it).
DEFAULTS=$(mktemp)
trap 'rm -f "$DEFAULTS"' EXIT
chmod 600 "$DEFAULTS"
{
    echo "[client]"
    echo "user=$(conf_get mysql_user)"
    echo "password=$(conf_get mysql_password)"
    sock=$(conf_get mysql_socket)
    if [[ -n $sock && -S $sock ]]; then
        echo "socket=$sock"
    else
        echo "host=$(conf_get mysql_host)"
        echo "port=$(conf_get mysql_port)"
        echo "protocol=tcp"
    fi
    echo "database=$(conf_get mysql_database)"
    echo "default-character-set=utf8mb4"
} >"$DEFAULTS"

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

# Refuse before touching anything if history was rewritten.
changed=0
files=()
for f in "$HERE"/mysql/[0-9][0-9][0-9][0-9]_*.sql "$HERE"/mongo/[0-9][0-9][0-9][0-9]_*.json \
    "$HERE"/data/[0-9][0-9][0-9][0-9]_*.sh; do
    [[ -e $f ]] || continue
    files+=("$f")
    key=$(basename "$(dirname "$f")")/$(basename "$f")
    if [[ ! $(basename "$f") =~ ^[0-9]{4}_[A-Za-z0-9_.-]+$ ]]; then
        echo "migrate: $key: file names are NNNN_letters-digits-underscores only" >&2
        exit 1
    fi
    if [[ -n ${applied[$key]:-} && ${applied[$key]} != "$(checksum "$f")" ]]; then
        echo "migrate: $key was changed after it was applied (recorded ${applied[$key]:0:12}..., now $(checksum "$f" | cut -c1-12)...); refusing to run. Add a new migration instead." >&2
        changed=1
    fi
done
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

if [[ $MODE == apply && $pending -eq 0 ]]; then
    echo "migrate: up to date (${#files[@]} files applied)"
fi
