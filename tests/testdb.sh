#!/usr/bin/env bash
# testdb.sh - the throw-away databases of `make test`, so that tests never
# read or write the development data.
#
#   testdb.sh create NAME PID   mark NAME as the databases of the run PID
#                               (a process), then create the MySQL schema
#   testdb.sh drop NAME         drop NAME and NAME_* (schemas and MongoDB
#                               databases a test made under the run's name)
#                               in both stores; remove the mark
#   testdb.sh list              every chat_test_* database in both stores,
#                               with the run it belongs to, if known
#   testdb.sh running           the runs of this checkout that still run
#                               (exit 0 when there is one)
#   testdb.sh sweep             drop what killed runs left: marked runs
#                               whose process is gone, and run databases
#                               (chat_test_<unix time>_<pid>[_...]) older
#                               than a day
#
# A run's databases are named chat_test_<unix time>_<pid>, the same name in
# MySQL and MongoDB; MariaDB's account set-up grants the application user
# everything on chat\_test\_%, so no root is needed. A mark is the file
# var/run/test-dbs/NAME holding the run's pid and start time: it tells a
# live run from a dead one even when the pid has been reused. The MongoDB
# database needs no create: migrating it creates it.
#
# Settings come from the config as for the programs (CHAT_CONFIG with
# CHAT_<KEY> overrides; CHAT_MYSQL_DATABASE does not matter here).
# CHAT_BIN_DIR names where chat-mongo-cmd lives (default build/rel/bin).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR=${CHAT_VAR_DIR:-$ROOT/var}
MARKS=$VAR/run/test-dbs
export CHAT_CONFIG=${CHAT_CONFIG:-$VAR/chat.conf}
CONF=$CHAT_CONFIG
MAX_AGE_S=$((24 * 3600))
PATTERN='^chat_test_[A-Za-z0-9_]+$'
RUN_PATTERN='^chat_test_([0-9]{9,11})_[0-9]+$'

die() { printf 'testdb: %s\n' "$*" >&2; exit 1; }

# shellcheck source=../deploy/lib/config.sh
. "$ROOT/deploy/lib/config.sh"

MONGO_CMD=${CHAT_BIN_DIR:-$ROOT/build/rel/bin}/chat-mongo-cmd
[[ -x $MONGO_CMD ]] || MONGO_CMD=$(command -v chat-mongo-cmd || true)

DEFAULTS=$(mktemp)
trap 'rm -f "$DEFAULTS"' EXIT
mysql_defaults_write "$DEFAULTS" || die "cannot read the MySQL settings from the config"

sql() { mariadb --defaults-file="$DEFAULTS" --batch --skip-column-names -e "$1"; }

# mysql_names / mongo_names: the chat_test_* databases of each store.
mysql_names() { sql "SHOW DATABASES LIKE 'chat\\_test\\_%'"; }
mongo_names() {
    local all
    [[ -n $MONGO_CMD ]] || { echo "testdb: chat-mongo-cmd not found (set CHAT_BIN_DIR)" >&2; return 1; }
    all=$("$MONGO_CMD" databases) || return 1
    grep -E "$PATTERN" <<<"$all" || true
}

# owner_alive NAME: the marked run of NAME still runs (same pid, same start).
owner_alive() {
    local pid started
    [[ -f $MARKS/$1 ]] || return 1
    read -r pid started <"$MARKS/$1"
    [[ $pid =~ ^[0-9]+$ && -n $started ]] || return 1
    [[ $(ps -o lstart= -p "$pid" 2>/dev/null | tr -s ' ') == "$started" ]]
}

# belongs NAME DB: DB is NAME or one made under it (NAME_...).
belongs() { [[ $2 == "$1" || $2 == "$1"_* ]]; }

create() {
    local name=$1 pid=$2 started
    [[ $name =~ $RUN_PATTERN ]] || die "create: '$name' is not chat_test_<unix time>_<pid>"
    started=$(ps -o lstart= -p "$pid" 2>/dev/null | tr -s ' ')
    [[ -n $started ]] || die "create: no process $pid"
    mkdir -p "$MARKS"
    echo "$pid $started" >"$MARKS/$name"
    sql "CREATE DATABASE IF NOT EXISTS \`$name\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" ||
        die "create: cannot create the MySQL database $name (is MariaDB up, and chat\\_test\\_% granted?)"
}

# drop NAME: every database that belongs to NAME, in both stores; the mark
# goes only when both stores answered, so a later sweep retries.
drop() {
    local name=$1 db names rc=0
    [[ $name =~ $PATTERN ]] || die "drop: '$name' is not a chat_test_* name"
    if names=$(mysql_names); then
        for db in $names; do
            belongs "$name" "$db" || continue
            sql "DROP DATABASE IF EXISTS \`$db\`" || rc=1
        done
    else
        echo "testdb: MySQL did not answer; $name is left there" >&2
        rc=1
    fi
    if names=$(mongo_names); then
        for db in $names; do
            belongs "$name" "$db" || continue
            echo '{"dropDatabase": 1}' | CHAT_MONGO_DATABASE=$db "$MONGO_CMD" run - >/dev/null || rc=1
        done
    else
        echo "testdb: MongoDB did not answer; $name is left there" >&2
        rc=1
    fi
    ((rc == 0)) && rm -f "$MARKS/$name"
    return $rc
}

# run_of DB: the run name DB belongs to (itself for a run database), or
# nothing for another chat_test_* name.
run_of() {
    local f
    for f in "$MARKS"/*; do
        [[ -e $f ]] || continue
        belongs "$(basename "$f")" "$1" && { basename "$f"; return; }
    done
    [[ $1 =~ ^(chat_test_[0-9]{9,11}_[0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}

list() {
    local db store run note
    for store in mysql mongo; do
        for db in $("${store}_names"); do
            run=$(run_of "$db")
            if [[ -z $run ]]; then
                note="no run's; if unwanted: testdb.sh drop $db"
            elif owner_alive "$run"; then
                note="run $run, in progress"
            elif [[ -f $MARKS/$run ]]; then
                note="run $run, which ended without dropping it; the next sweep does"
            else
                note="run $run, not marked here; a sweep drops it when a day old"
            fi
            printf '%-6s %-40s %s\n' "$store" "$db" "$note"
        done
    done
}

running() {
    local f any=1
    for f in "$MARKS"/*; do
        [[ -e $f ]] || continue
        owner_alive "$(basename "$f")" && { echo "$(basename "$f") pid $(cut -d' ' -f1 "$f")"; any=0; }
    done
    return $any
}

sweep() {
    local f name db rc=0 now runs=()
    now=$(date +%s)
    for f in "$MARKS"/*; do
        [[ -e $f ]] || continue
        name=$(basename "$f")
        owner_alive "$name" || runs+=("$name")
    done
    for db in $(mysql_names) $(mongo_names); do
        [[ $db =~ ^(chat_test_([0-9]{9,11})_[0-9]+)(_.*)?$ ]] || continue
        ((now - BASH_REMATCH[2] > MAX_AGE_S)) || continue
        owner_alive "${BASH_REMATCH[1]}" || runs+=("${BASH_REMATCH[1]}")
    done
    for name in $(printf '%s\n' "${runs[@]}" | sort -u); do
        echo "testdb: dropping $name (left by a run that did not finish)"
        drop "$name" || rc=1
    done
    return $rc
}

case ${1:-} in
create) [[ $# -eq 3 ]] || die "usage: $0 create NAME PID"; create "$2" "$3" ;;
drop) [[ $# -eq 2 ]] || die "usage: $0 drop NAME"; drop "$2" ;;
list) list ;;
running) running ;;
sweep) sweep ;;
*) echo "usage: $0 create NAME PID | drop NAME | list | running | sweep" >&2; exit 2 ;;
esac
