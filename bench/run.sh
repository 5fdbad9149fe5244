#!/usr/bin/env bash
# run.sh BIN_DIR [chat-bench options] [scenario ...] - what `make bench` runs
# once it has built the release flavour and brought the stack up.
#
# For the length of the run it
#   - gives the bench databases of its own on the stack's servers: a MySQL
#     schema and a MongoDB database of the same name, chat_bench*, never the
#     dev database `chat`. On the stack's own MariaDB the account is granted
#     chat\_bench% through the root socket (var/run/mysqld.sock); the
#     project's migrations are applied with migrate.sh. `chat_bench` (the
#     main run) and `chat_bench_tworelay` start empty each run and are
#     dropped at the end; the stores of the bigstore part are kept (below);
#   - lifts the relay's per-connection rate limit: saturation offers
#     thousands of msg/s over a few hundred connections;
#   - restarts the relay and lighttpd (whose FastCGI programs inherit its
#     environment) with those overrides, runs chat-bench, then restarts
#     both without them.
# MariaDB, FerretDB, lighttpd and the relay are the stack's. The stack is
# busy and restarted meanwhile: do not run `make test` at the same time.
#
# Environment:
#   BENCH_ARGS             extra chat-bench options, e.g. "--rate 2000 steady"
#   BENCH_PROFILE=1        perf record the relay during saturation into
#                          var/bench/<time>.perf.data (see README.md)
#   BENCH_MAX_CONNECTIONS  the relay's max_connections for the run
#   BENCH_KEEP_DB=1        keep chat_bench and chat_bench_tworelay after the run
#   BENCH_TWO_RELAYS=0     skip the two-relay run (see below)
#   BENCH_RELAY2_PORT      port of the second relay (8091)
#   BENCH_BIG_STORE=0      skip the store runs (see below)
#   BENCH_STORE_MSGS, BENCH_STORE_ROOMS              the big store (200000, 1000)
#   BENCH_SMALL_STORE_MSGS, BENCH_SMALL_STORE_ROOMS  the small one (10000, 100)
#   BENCH_BURST_ROOMS      new rooms starting at once in the store runs (480)
#   BENCH_STORE_ARGS       extra chat-bench options for the store runs
#   BENCH_STORE_RESET=1    drop the kept stores first (they are seeded again)
#   BENCH_MEDIA=0          skip the media run (bench/media.sh; alone:
#                          `bench/run.sh BIN media`); BENCH_MEDIA_STORE_MIB
#                          other media it keeps stored (500)
#
# Before the main run (all scenarios, no BENCH_ARGS) chat-bench-jwt measures
# JWT verifications per second for each algorithm in one process
# (`bench/run.sh BIN jwt` runs it alone, BENCH_JWT=0 skips it,
# BENCH_JWT_SECONDS per algorithm, default 2); JSON: <time>-jwt.json.
#
# After the main run (all scenarios, no BENCH_ARGS), a second chat-bench
# run measures scale-out: the relay restarted with Redis (the stack's
# private redis-server on 6380) plus a second relay on BENCH_RELAY2_PORT,
# each room's two members on different relays, so every message crosses
# Redis pub/sub and both take their seq from Redis. Its table follows the
# first one; its JSON is <time>-tworelay.json.
#
# Then the store runs (`bench/run.sh BIN bigstore` runs them alone): one
# chat-bench run on a small store, one on a big one, each in a database
# named after its shape, chat_bench_store_<messages>_<rooms>, seeded the
# first time and kept for later runs (each run removes what it added).
# Each runs the bigstore scenario and the cold-start burst of saturation;
# the big run shows the small run's figures side by side. JSON:
# <time>-store<messages>.json.
set -uo pipefail

BIN=${1:?usage: bench/run.sh BIN_DIR [chat-bench options] [scenario ...]}
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CHAT_CONFIG=${CHAT_CONFIG:-$ROOT/var/chat.conf}
export CHAT_BIN_DIR=$BIN
STACK=$ROOT/deploy/dev/stack.sh
MYSQL_SOCK=$ROOT/var/run/mysqld.sock

say() { printf 'bench: %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
CONF=$CHAT_CONFIG
# shellcheck source=../deploy/lib/config.sh
. "$ROOT/deploy/lib/config.sh"
mariadb_root() { mariadb --no-defaults --socket="$MYSQL_SOCK" -uroot "$@"; }

[[ -x $BIN/chat-bench ]] || { say "$BIN/chat-bench is not built (run make)"; exit 1; }
command -v wrk >/dev/null || say "wrk is not installed: the http scenario will fail"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$ROOT/bench/results/$stamp.json
# The commit, marked when the code the numbers depend on has local changes.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD -- bench relay shared fcgi-api 2>/dev/null; then
    commit="$commit+local-changes"
fi

# bench_db NAME [fresh]: the MySQL schema and the MongoDB database NAME,
# created if missing (emptied first with `fresh`), migrations applied.
bench_db() {
    local name=$1 fresh=${2:-} user
    if [[ -S $MYSQL_SOCK ]] && mariadb_root -e 'SELECT 1' >/dev/null 2>&1; then
        user=$(conf_get mysql_user)
        # The stack's account is granted `chat` and chat\_test\_% only.
        mariadb_root <<SQL || { say "MariaDB: cannot create $name"; return 1; }
${fresh:+DROP DATABASE IF EXISTS \`$name\`;}
CREATE DATABASE IF NOT EXISTS \`$name\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
GRANT ALL PRIVILEGES ON \`chat\\_bench%\`.* TO '$user'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`chat\\_bench%\`.* TO '$user'@'localhost';
SQL
    else
        say "MySQL is not the stack's own: schema $name must exist and be granted to the account"
    fi
    if [[ -n $fresh ]]; then
        CHAT_MONGO_DATABASE=$name "$BIN/chat-mongo-cmd" run <(echo '{"dropDatabase": 1}') \
            >/dev/null || { say "MongoDB: cannot drop $name"; return 1; }
    fi
    CHAT_MYSQL_DATABASE=$name CHAT_MONGO_DATABASE=$name "$ROOT/migrations/migrate.sh" >/dev/null ||
        { say "migrate.sh failed for $name"; return 1; }
}

# drop_db NAME: the schema and the database NAME, gone.
drop_db() {
    [[ -S $MYSQL_SOCK ]] && mariadb_root -e "DROP DATABASE IF EXISTS \`$1\`" 2>/dev/null
    CHAT_MONGO_DATABASE=$1 "$BIN/chat-mongo-cmd" run <(echo '{"dropDatabase": 1}') >/dev/null 2>&1
}

# use_db NAME: the relay and lighttpd restarted on the databases NAME.
use_db() {
    export CHAT_MONGO_DATABASE=$1 CHAT_MYSQL_DATABASE=$1
    "$STACK" restart relay >/dev/null || { say "relay did not start on $1"; return 1; }
    "$STACK" restart lighttpd >/dev/null || { say "lighttpd did not start on $1"; return 1; }
}

r2pid=
redis_started=
dropped=()
restore() {
    trap - EXIT INT TERM
    say "restoring the relay and lighttpd to the configured settings"
    if [[ -n $r2pid ]]; then
        kill -TERM "$r2pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$r2pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$r2pid" 2>/dev/null && kill -KILL "$r2pid" 2>/dev/null
        rm -f "$ROOT/var/run/relay2.pid"
    fi
    [[ -n $redis_started ]] && "$STACK" stop redis >/dev/null
    unset CHAT_RATE_PER_SEC CHAT_RATE_BURST CHAT_MAX_CONNECTIONS CHAT_REDIS_URL \
        CHAT_MONGO_DATABASE CHAT_MYSQL_DATABASE CHAT_MAX_CONNECTIONS_PER_USER \
        CHAT_SOCKET_TOKENS_PER_MINUTE CHAT_MEDIA_UPLOADS_PER_HOUR CHAT_MEDIA_QUOTA_MB
    "$STACK" restart relay >/dev/null || say "relay did not restart: run make run"
    "$STACK" restart lighttpd >/dev/null || say "lighttpd did not restart: run make run"
    local db
    for db in "${dropped[@]}"; do
        if [[ -z ${BENCH_KEEP_DB:-} ]]; then drop_db "$db"; else say "kept database $db"; fi
    done
}
trap restore EXIT
trap 'exit 130' INT TERM

export CHAT_RATE_PER_SEC=${BENCH_RATE_PER_SEC:-1000000}
export CHAT_RATE_BURST=${BENCH_RATE_BURST:-1000000}
# The generator opens hundreds of connections per user and asks one user's
# socket tokens as fast as it can: the per-user caps would measure refusals.
export CHAT_MAX_CONNECTIONS_PER_USER=0 CHAT_SOCKET_TOKENS_PER_MINUTE=0
[[ -n ${BENCH_MAX_CONNECTIONS:-} ]] && export CHAT_MAX_CONNECTIONS=$BENCH_MAX_CONNECTIONS

args=(--var "$ROOT/var" --commit "$commit")
# BENCH_ARGS is split on spaces on purpose: it is a list of options.
# shellcheck disable=SC2206
extra=(${BENCH_ARGS:-})
# shellcheck disable=SC2206
store_extra=(${BENCH_STORE_ARGS:-})
what="$* ${BENCH_ARGS:-}"
what=${what# }
what=${what% }
full=0
[[ $# -eq 0 && ${#extra[@]} -eq 0 ]] && full=1
rc=0

# main: the scenarios of the table in README.md on an empty chat_bench.
main_run() {
    bench_db chat_bench fresh || return 1
    dropped+=(chat_bench)
    say "restarting the relay and lighttpd for the run (databases chat_bench)"
    use_db chat_bench || return 1
    local margs=("${args[@]}" --out "$out")
    if [[ -n ${BENCH_PROFILE:-} ]]; then
        command -v perf >/dev/null || { say "BENCH_PROFILE needs perf (Debian package linux-perf)"; return 1; }
        mkdir -p "$ROOT/var/bench"
        margs+=(--perf "$ROOT/var/bench/$stamp.perf.data")
    fi
    "$BIN/chat-bench" "${margs[@]}" "${extra[@]}" "$@"
}

# relay2_up PORT: Redis started (the stack's private one), the relay
# restarted with it on chat_bench_tworelay, and a second relay on PORT
# sharing it, its pid in var/run/relay2.pid (chat-bench counts the CPU of
# every relayN.pid). relay2_down: the second relay and the Redis we started
# stopped.
relay2_up() {
    local port2=$1
    export CHAT_REDIS_URL=redis://127.0.0.1:6380
    [[ -f $ROOT/var/run/redis.pid ]] && kill -0 "$(<"$ROOT/var/run/redis.pid")" 2>/dev/null ||
        redis_started=1
    "$STACK" start redis >/dev/null || { say "redis did not start"; return 1; }
    say "two relays: restarting the relay with Redis, starting a second one on $port2"
    use_db chat_bench_tworelay || return 1
    CHAT_RELAY_PORT=$port2 nohup "$BIN/chat-relay" >>"$ROOT/var/log/bench-relay2.log" 2>&1 &
    r2pid=$!
    echo "$r2pid" >"$ROOT/var/run/relay2.pid"
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port2/healthz" 2>/dev/null && return 0
        sleep 0.1
    done
    say "the second relay did not start (var/log/bench-relay2.log)"
    return 1
}

relay2_down() {
    kill -TERM "$r2pid" 2>/dev/null
    wait "$r2pid" 2>/dev/null
    r2pid=
    rm -f "$ROOT/var/run/relay2.pid"
    unset CHAT_REDIS_URL
    [[ -n $redis_started ]] && "$STACK" stop redis >/dev/null
    redis_started=
}

# two_relays: the scale-out run described at the top.
two_relays() {
    local port2=${BENCH_RELAY2_PORT:-8091} r=1
    port_open "$port2" && { say "port $port2 is taken: set BENCH_RELAY2_PORT"; return 1; }
    bench_db chat_bench_tworelay fresh || return 1
    dropped+=(chat_bench_tworelay)
    if relay2_up "$port2"; then
        "$BIN/chat-bench" "${args[@]}" --out "${out%.json}-tworelay.json" \
            --relay2 "ws://127.0.0.1:$port2/ws" tworelay
        r=$?
    fi
    relay2_down
    return $r
}

# two_relays_sat: saturation across two relays sharing Redis (issue 17:
# two relays on one machine against one). Like two_relays, on a fresh
# chat_bench_tworelay, the second relay on BENCH_RELAY2_PORT. Half the
# rooms have a member on each relay, the other half both members on one
# of them. Before it, on the same databases, one relay without Redis gets
# the same stepping on its own 100 rooms (saturation): both tables in one
# run. JSON: <time>-onerelay-sat.json and <time>-tworelay-sat.json.
# BENCH_TWOSAT_ONE=0 skips the one-relay part; BENCH_ARGS are passed on
# (e.g. "--sat-rates 3000 --sat-seconds 10"); BENCH_PROFILE=1
# perf-records the relays of each part into var/bench/.
two_relays_sat() {
    local port2=${BENCH_RELAY2_PORT:-8091} r=0 pbase=
    [[ -n ${BENCH_PROFILE:-} ]] && mkdir -p "$ROOT/var/bench" && pbase=$ROOT/var/bench/$stamp
    port_open "$port2" && { say "port $port2 is taken: set BENCH_RELAY2_PORT"; return 1; }
    bench_db chat_bench_tworelay fresh || return 1
    dropped+=(chat_bench_tworelay)
    if [[ ${BENCH_TWOSAT_ONE:-1} == 1 ]]; then
        say "one relay (no Redis): saturation on chat_bench_tworelay"
        use_db chat_bench_tworelay || return 1
        "$BIN/chat-bench" "${args[@]}" --out "${out%.json}-onerelay-sat.json" \
            ${pbase:+--perf "$pbase-onerelay.perf.data"} "${extra[@]}" saturation || r=1
    fi
    if relay2_up "$port2"; then
        "$BIN/chat-bench" "${args[@]}" --out "${out%.json}-tworelay-sat.json" \
            ${pbase:+--perf "$pbase-tworelay.perf.data"} --relay2 "ws://127.0.0.1:$port2/ws" \
            "${extra[@]}" tworelay-sat || r=1
    else
        r=1
    fi
    relay2_down
    return $r
}

# store_run MESSAGES ROOMS OUT [COMPARE]: bigstore and the saturation burst
# on the kept store of that shape.
store_run() {
    local msgs=$1 rooms=$2 sout=$3 cmp=${4:-} name=chat_bench_store_$1_$2
    bench_db "$name" ${BENCH_STORE_RESET:+fresh} || return 1
    say "store of $msgs messages in $rooms rooms and a big one: databases $name"
    use_db "$name" || return 1
    local sargs=("${args[@]}" --out "$sout" --store-msgs "$msgs" --store-rooms "$rooms"
        --sat-rates none --sat-burst-rooms "${BENCH_BURST_ROOMS:-480}")
    [[ -n $cmp ]] && sargs+=(--compare "$cmp")
    "$BIN/chat-bench" "${sargs[@]}" "${store_extra[@]}" bigstore saturation
}

stores() {
    local small=${BENCH_SMALL_STORE_MSGS:-10000} big=${BENCH_STORE_MSGS:-200000} r=0
    local small_out=${out%.json}-store$small.json
    store_run "$small" "${BENCH_SMALL_STORE_ROOMS:-100}" "$small_out" || r=1
    store_run "$big" "${BENCH_STORE_ROOMS:-1000}" "${out%.json}-store$big.json" "$small_out" || r=1
    return $r
}

# jwt_run: token verifications per second per algorithm (chat-bench-jwt,
# one process, no server): what each API request pays to check its JWT.
jwt_run() {
    say "JWT verifications per second, one process (${BENCH_JWT_SECONDS:-2} s per algorithm)"
    "$BIN/chat-bench-jwt" --seconds "${BENCH_JWT_SECONDS:-2}" --out "${out%.json}-jwt.json"
}

# media: uploads and downloads on a GridFS holding >= 500 MiB (media.sh).
media_run() {
    bench_db chat_bench_media || return 1
    say "media: restarting the relay and lighttpd on chat_bench_media (kept between runs)"
    export CHAT_MEDIA_UPLOADS_PER_HOUR=0 CHAT_MEDIA_QUOTA_MB=0
    use_db chat_bench_media || return 1
    "$ROOT/bench/media.sh" "$BIN" "${out%.json}-media.json"
}

# roomlist: GET /api/v1/rooms for a user with 1,000 rooms among 100,000
# (roomlist.sh).
roomlist_run() {
    bench_db chat_bench_rooms || return 1
    say "room list: restarting the relay and lighttpd on chat_bench_rooms (kept between runs)"
    use_db chat_bench_rooms || return 1
    "$ROOT/bench/roomlist.sh" "$BIN" "${out%.json}-roomlist.json"
}

case $what in
jwt) jwt_run || rc=1 ;;
media) media_run || rc=1 ;;
roomlist) roomlist_run || rc=1 ;;
tworelay) two_relays || rc=1 ;;
tworelay-sat | "tworelay-sat "*) two_relays_sat || rc=1 ;;
bigstore) stores || rc=1 ;;
*)
    if ((full)) && [[ ${BENCH_JWT:-1} == 1 ]]; then jwt_run || rc=1; fi
    main_run "$@" || rc=1
    if ((full)) && [[ ${BENCH_TWO_RELAYS:-1} == 1 ]]; then two_relays || rc=1; fi
    if ((full)) && [[ ${BENCH_BIG_STORE:-1} == 1 ]]; then stores || rc=1; fi
    if ((full)) && [[ ${BENCH_MEDIA:-1} == 1 ]]; then media_run || rc=1; fi
    if ((full)) && [[ ${BENCH_ROOMLIST:-1} == 1 ]]; then roomlist_run || rc=1; fi
    ;;
esac
exit $rc
