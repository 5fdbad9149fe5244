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
# relay_mongo_uri: when set, the relays (not lighttpd) use this store
# (tworelay-sat on the stand-in).
relay_mongo_uri=
use_db() {
    export CHAT_MONGO_DATABASE=$1 CHAT_MYSQL_DATABASE=$1
    env ${relay_mongo_uri:+CHAT_MONGO_URI=$relay_mongo_uri} "$STACK" restart relay >/dev/null ||
        { say "relay did not start on $1"; return 1; }
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
    env ${relay_mongo_uri:+CHAT_MONGO_URI=$relay_mongo_uri} CHAT_RELAY_PORT="$port2" \
        nohup "$BIN/chat-relay" >>"$ROOT/var/log/bench-relay2.log" 2>&1 &
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
# perf-records the relays of each part into var/bench/. BENCH_TWOSAT_STUB=1
# puts both parts' relays on chat-bench-mongostub (lighttpd on the store),
# so that the relays, not the store, are what runs out (JSON names end in
# -stub).
two_relays_sat() {
    local port2=${BENCH_RELAY2_PORT:-8091} r=0 pbase= spid= sfx=
    local sport=${BENCH_STUB_PORT:-27038}
    [[ -n ${BENCH_PROFILE:-} ]] && mkdir -p "$ROOT/var/bench" && pbase=$ROOT/var/bench/$stamp
    port_open "$port2" && { say "port $port2 is taken: set BENCH_RELAY2_PORT"; return 1; }
    bench_db chat_bench_tworelay fresh || return 1
    dropped+=(chat_bench_tworelay)
    if [[ ${BENCH_TWOSAT_STUB:-0} == 1 ]]; then
        port_open "$sport" && { say "port $sport is taken: set BENCH_STUB_PORT"; return 1; }
        stub_start "$sport" /dev/null
        trap 'relayonly_stub_stop "$spid"; restore' EXIT
        relay_mongo_uri=mongodb://127.0.0.1:$sport/
        sfx=-stub
        say "tworelay-sat: the relays on the stand-in (127.0.0.1:$sport), lighttpd on the store"
    fi
    if [[ ${BENCH_TWOSAT_ONE:-1} == 1 ]]; then
        say "one relay (no Redis): saturation on chat_bench_tworelay"
        use_db chat_bench_tworelay || return 1
        "$BIN/chat-bench" "${args[@]}" --out "${out%.json}-onerelay-sat$sfx.json" \
            ${pbase:+--perf "$pbase-onerelay.perf.data"} "${extra[@]}" saturation || r=1
    fi
    if relay2_up "$port2"; then
        "$BIN/chat-bench" "${args[@]}" --out "${out%.json}-tworelay-sat$sfx.json" \
            ${pbase:+--perf "$pbase-tworelay.perf.data"} --relay2 "ws://127.0.0.1:$port2/ws" \
            "${extra[@]}" tworelay-sat || r=1
    else
        r=1
    fi
    relay2_down
    relay_mongo_uri=
    [[ -n $spid ]] && use_db chat_bench_tworelay && relayonly_stub_stop "$spid"
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

# evpass: one event-loop pass at 1,000 and 10,000 idle sockets (no stack):
# CPU time per pass, and user-space instructions per pass when valgrind
# is there (this machine's perf has no hardware counters).
evpass_run() {
    local n res="${out%.json}-evpass.json" line ir per
    : >"$res"
    for n in 1000 10000; do # the child that holds the other ends counts 0
        say "event loop: one pass with $n idle sockets (chat-bench-evpass)"
        line=$("$BIN/chat-bench-evpass" "$n" 2000) || return 1
        ir=
        if command -v valgrind >/dev/null; then
            ir=$(valgrind --tool=callgrind --toggle-collect=evpass_run \
                --callgrind-out-file=/dev/null "$BIN/chat-bench-evpass" "$n" 2000 2>&1 |
                sed -n 's/.*Collected : \([0-9]*\).*/\1/p' | sort -n | tail -1)
        fi
        per=null
        [[ -n $ir ]] && per=$((ir / 2000))
        say "event loop: $line user instructions per pass: $per"
        printf '{"idle":%s,"pass":%s,"userInstructionsPerPass":%s}\n' "$n" "$line" "$per" >>"$res"
    done
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

# relayonly: the store and the relay told apart. steady (1,000 msg/s) and
# saturation twice on chat_bench: first on the embedded store, then with
# the relay alone restarted on chat-bench-mongostub (a MongoDB-wire
# stand-in that acknowledges writes at once; lighttpd and the FastCGI
# programs keep the real store, MySQL is unchanged for both, seqs
# included). During each steady run, perf stat counts the relay's
# instructions (where the CPU has counters: not in most virtual machines)
# and its CPU time (task-clock, exact where /proc has 10 ms ticks) over
# BENCH_RELAYONLY_SPAN seconds (10) of load, divided by the messages it
# stored meanwhile; during each saturation run, over the whole run. One
# table side by side; JSON <time>-relayonly.json holding both chat-bench
# results and the counts. BENCH_STUB_PORT: the stand-in's port (27038);
# BENCH_RELAYONLY_SECONDS: steady's length (15).
relayonly_run() {
    local sport=${BENCH_STUB_PORT:-27038} rport pass spid= r=0 tmp
    local secs=${BENCH_RELAYONLY_SECONDS:-15} span=${BENCH_RELAYONLY_SPAN:-10}
    rport=$(conf_get relay_port)
    port_open "$sport" && { say "port $sport is taken: set BENCH_STUB_PORT"; return 1; }
    [[ -x $BIN/chat-bench-mongostub ]] || { say "$BIN/chat-bench-mongostub is not built"; return 1; }
    command -v perf >/dev/null || say "no perf (Debian package linux-perf): no instruction or task-clock counts"
    tmp=$(mktemp -d)
    # The stand-in goes with the run however it ends; restore() does the rest.
    trap 'relayonly_stub_stop "$spid"; restore' EXIT
    bench_db chat_bench fresh || return 1
    dropped+=(chat_bench)
    for pass in store stub; do
        if [[ $pass == stub ]]; then
            stub_start "$sport" "$tmp/stub.log"
            say "relayonly: the relay on the stand-in (127.0.0.1:$sport), lighttpd on the store"
            export CHAT_MONGO_DATABASE=chat_bench CHAT_MYSQL_DATABASE=chat_bench
            "$STACK" restart lighttpd >/dev/null &&
                CHAT_MONGO_URI=mongodb://127.0.0.1:$sport/ "$STACK" restart relay >/dev/null ||
                { say "relay did not start on the stand-in"; r=1; break; }
        else
            say "relayonly: the relay on the embedded store"
            use_db chat_bench || { r=1; break; }
        fi
        local pid=() rpid
        rpid=$(<"$ROOT/var/run/relay.pid")
        [[ -n $spid ]] && pid=(--pid "ferretdb=$spid")
        relayonly_perf_steady "$rpid" "$rport" "$span" "$tmp/$pass-steady" &
        local watcher=$!
        "$BIN/chat-bench" "${args[@]}" "${pid[@]}" --out "$tmp/$pass-steady.json" \
            --seconds "$secs" "${extra[@]}" steady || r=1
        wait "$watcher"
        relayonly_stored "$rport" >"$tmp/$pass-sat.before"
        relayonly_pg_ticks >"$tmp/$pass-sat.pg.before"
        local perf=
        if command -v perf >/dev/null; then
            perf stat -x, -e instructions,task-clock -p "$rpid" -o "$tmp/$pass-sat.perf" 2>/dev/null &
            perf=$!
        fi
        "$BIN/chat-bench" "${args[@]}" "${pid[@]}" --out "$tmp/$pass-sat.json" \
            "${extra[@]}" saturation || r=1
        [[ -n $perf ]] && { kill -INT "$perf"; wait "$perf"; }
        relayonly_stored "$rport" >"$tmp/$pass-sat.after"
        relayonly_pg_ticks >"$tmp/$pass-sat.pg.after"
    done
    # The relay leaves the stand-in first, so its goodbye is tallied too.
    use_db chat_bench || r=1
    relayonly_stub_stop "$spid"
    [[ -s $tmp/stub.log ]] && say "stand-in: $(tail -n 1 "$tmp/stub.log")"
    grep -h 'unknown command\|malformed command' "$tmp/stub.log" 2>/dev/null | sed 's/^/bench: /' >&2
    spid=
    trap restore EXIT
    relayonly_report "$tmp" "${out%.json}-relayonly.json" || r=1
    rm -rf "$tmp"
    return $r
}

# stub_start PORT LOG: chat-bench-mongostub on PORT, its stderr to LOG;
# the caller's spid set to its pid; waits up to 5 s for it to listen.
stub_start() {
    "$BIN/chat-bench-mongostub" --port "$1" 2>"$2" &
    spid=$!
    for _ in $(seq 1 50); do port_open "$1" && break; sleep 0.1; done
}

relayonly_stub_stop() {
    [[ -n ${1:-} ]] || return 0
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# relayonly_stored RELAY_PORT: the relay's count of stored messages.
relayonly_stored() {
    curl -fsS --max-time 2 "http://127.0.0.1:$1/metrics" |
        awk '$1 == "chat_relay_messages_stored_total" { print $2 }'
}

# relayonly_pg_ticks: CPU ticks (utime + stime) of the stack's PostgreSQL,
# the postmaster and its backends: FerretDB's storage, which chat-bench does
# not measure.
relayonly_pg_ticks() {
    local pp t=0 p f
    pp=$(head -n 1 "$ROOT/var/run/postgres.pid" 2>/dev/null) || { echo null; return; }
    for p in "$pp" $(pgrep -P "$pp"); do
        f=$(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null) || continue
        # shellcheck disable=SC2086
        set -- $f
        t=$((t + ${12} + ${13}))
    done
    echo "$t"
}

# relayonly_wait_load RELAY_PORT PER_SEC: back once the relay has stored
# PER_SEC messages or more within a second (at most five minutes).
relayonly_wait_load() {
    local a b
    a=$(relayonly_stored "$1")
    for _ in $(seq 1 300); do
        sleep 1
        b=$(relayonly_stored "$1")
        ((${b:-0} - ${a:-0} >= $2)) && return 0
        a=$b
    done
    return 1
}

# relayonly_perf_steady RELAY_PID RELAY_PORT SPAN PREFIX: once the relay
# stores 800 msg/s or more (steady has begun: the warm-up is one message
# per client), its instructions over SPAN seconds into PREFIX.perf and the
# stored counts before and after into PREFIX.before / PREFIX.after.
relayonly_perf_steady() {
    relayonly_wait_load "$2" 800
    relayonly_stored "$2" >"$4.before"
    relayonly_pg_ticks >"$4.pg.before"
    if command -v perf >/dev/null; then
        perf stat -x, -e instructions,task-clock -p "$1" -o "$4.perf" -- sleep "$3" 2>/dev/null
    else
        sleep "$3"
    fi
    relayonly_stored "$2" >"$4.after"
    relayonly_pg_ticks >"$4.pg.after"
}

# relayonly_num FILE: the whole number FILE holds, or null (a pass that
# failed leaves files empty or missing).
relayonly_num() {
    local v
    v=$(cat "$1" 2>/dev/null)
    [[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo null
}

# relayonly_callgrind: the relay's user-space instructions per message,
# on the embedded store and on the stand-in, counted by valgrind's
# callgrind (for machines whose CPU gives perf no instruction counter).
# The relay runs by hand under callgrind, ten to fifty times slower, so the
# load is a steady BENCH_CALLGRIND_RATE msg/s (50) for
# BENCH_CALLGRIND_SECONDS (40); the count covers BENCH_CALLGRIND_SPAN
# seconds (20) of it (callgrind_control zeroes, then dumps), divided by the
# messages stored meanwhile. JSON <time>-relayonly-callgrind.json.
relayonly_callgrind() {
    local sport=${BENCH_STUB_PORT:-27038} rport pass spid= vp= r=0 tmp
    local rate=${BENCH_CALLGRIND_RATE:-50} secs=${BENCH_CALLGRIND_SECONDS:-40}
    local span=${BENCH_CALLGRIND_SPAN:-20}
    command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
        { say "relayonly-callgrind needs valgrind"; return 1; }
    [[ -x $BIN/chat-bench-mongostub ]] || { say "$BIN/chat-bench-mongostub is not built"; return 1; }
    rport=$(conf_get relay_port)
    port_open "$sport" && { say "port $sport is taken: set BENCH_STUB_PORT"; return 1; }
    tmp=$(mktemp -d)
    trap 'relayonly_stub_stop "$vp"; relayonly_stub_stop "$spid"; restore' EXIT
    bench_db chat_bench fresh || return 1
    dropped+=(chat_bench)
    use_db chat_bench || return 1
    "$STACK" stop relay >/dev/null
    for pass in store stub; do
        local uri=()
        if [[ $pass == stub ]]; then
            stub_start "$sport" "$tmp/stub.log"
            uri=(CHAT_MONGO_URI=mongodb://127.0.0.1:$sport/)
        fi
        say "relayonly-callgrind: the relay under callgrind on the $pass, $rate msg/s"
        env "${uri[@]}" valgrind --tool=callgrind --callgrind-out-file="$tmp/$pass.cg" \
            "$BIN/chat-relay" >"$tmp/$pass-relay.log" 2>&1 &
        vp=$!
        for _ in $(seq 1 300); do
            curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$rport/healthz" 2>/dev/null && break
            sleep 0.2
        done
        local pid=(--pid "relay=$vp")
        [[ -n $spid ]] && pid+=(--pid "ferretdb=$spid")
        relayonly_callgrind_span "$vp" "$rport" "$rate" "$span" "$tmp/$pass" &
        local watcher=$!
        "$BIN/chat-bench" "${args[@]}" "${pid[@]}" --out "$tmp/$pass.json" --rate "$rate" \
            --seconds "$secs" steady || r=1
        wait "$watcher"
        relayonly_stub_stop "$vp"
        vp=
        relayonly_stub_stop "$spid"
        spid=
    done
    trap restore EXIT
    "$STACK" start relay >/dev/null || r=1
    local p
    for p in store stub; do
        jq -n --argjson a "$(relayonly_num "$tmp/$p.before")" \
            --argjson b "$(relayonly_num "$tmp/$p.after")" \
            --argjson ir "$(awk '$1 == "summary:" { print $2; exit }' "$tmp/$p.cg".* 2>/dev/null |
                grep -E '^[0-9]+$' || echo null)" \
            --slurpfile run "$tmp/$p.json" \
            '{stored: (if $a and $b then $b - $a else null end), instructions: $ir,
              steady: $run[0].scenarios[0]}
             | .instructionsPerMsg = (if $ir and .stored > 0 then ($ir / .stored | floor)
                                      else null end)' >"$tmp/$p.count.json" || r=1
    done
    local cout=${out%.json}-relayonly-callgrind.json
    jq -n --slurpfile s "$tmp/store.count.json" --slurpfile u "$tmp/stub.count.json" \
        --argjson rate "$rate" --argjson span "$span" \
        '{scenario: "relayonly-callgrind", rateMsgPerSec: $rate, spanSeconds: $span,
          store: $s[0], stub: $u[0]}' >"$cout" || { rm -rf "$tmp"; return 1; }
    jq -r '
        def i(x): if x == null then "-" else (x | round | tostring) end;
        def f(x): if x == null then "-" else (x * 100 | round / 100 | tostring) end;
        def row(name; g): "| \(name) | \(.store | g) | \(.stub | g) |";
        "| relayonly-callgrind, \(.rateMsgPerSec) msg/s, \(.spanSeconds) s | embedded store | stand-in |",
        "| --- | --- | --- |",
        row("messages stored in the span"; i(.stored)),
        row("relay instructions (user space) in the span"; i(.instructions)),
        row("relay instructions per message"; i(.instructionsPerMsg)),
        row("mean insert batch"; f(.steady.meanBatchSize))' "$cout"
    say "relayonly-callgrind: results in $cout"
    rm -rf "$tmp"
    return $r
}

# relayonly_callgrind_span VALGRIND_PID RELAY_PORT RATE SPAN PREFIX: once
# the load runs, callgrind's counts zeroed, SPAN seconds later dumped (to
# the relay's output file .1); the stored counts into PREFIX.before/.after.
relayonly_callgrind_span() {
    relayonly_wait_load "$2" $(($3 / 2))
    sleep 2
    relayonly_stored "$2" >"$5.before"
    callgrind_control -z "$1" >/dev/null 2>&1
    sleep "$4"
    callgrind_control -d "$1" >/dev/null 2>&1
    relayonly_stored "$2" >"$5.after"
}

# relayonly_report TMP OUT: both passes into OUT and one table.
relayonly_report() {
    local t=$1 pass
    for pass in store stub; do
        local k
        for k in steady sat; do
            local ins=null ms=null
            if [[ -s $t/$pass-$k.perf ]]; then
                ins=$(awk -F, '$3 ~ /^instructions/ { print $1; exit }' "$t/$pass-$k.perf")
                ms=$(awk -F, '$3 ~ /^task-clock/ { print $1; exit }' "$t/$pass-$k.perf")
            fi
            [[ $ins =~ ^[0-9]+$ ]] || ins=null
            [[ $ms =~ ^[0-9]+(\.[0-9]+)?$ ]] || ms=null
            jq -n --argjson ins "$ins" --argjson ms "$ms" \
                --argjson a "$(relayonly_num "$t/$pass-$k.before")" \
                --argjson b "$(relayonly_num "$t/$pass-$k.after")" \
                --argjson pa "$(relayonly_num "$t/$pass-$k.pg.before")" \
                --argjson pb "$(relayonly_num "$t/$pass-$k.pg.after")" \
                --argjson hz "$(getconf CLK_TCK)" \
                '{instructions: $ins, cpuMs: $ms, storedBefore: $a, storedAfter: $b,
                  stored: (if $a and $b then $b - $a else null end),
                  postgresCpuS: (if $pa and $pb then ($pb - $pa) / $hz else null end)}
                 | .postgresUsPerMsg = (if .postgresCpuS and .stored > 0
                                        then .postgresCpuS * 1e6 / .stored else null end)
                 | .instructionsPerMsg = (if $ins and .stored > 0
                                          then ($ins / .stored | floor) else null end)
                 | .cpuUsPerMsg = (if $ms and .stored > 0 then $ms * 1000 / .stored else null end)' \
                >"$t/$pass-$k.count.json"
        done
    done
    jq -n --slurpfile ss "$t/store-steady.json" --slurpfile st "$t/store-sat.json" \
        --slurpfile us "$t/stub-steady.json" --slurpfile ut "$t/stub-sat.json" \
        --slurpfile ssc "$t/store-steady.count.json" --slurpfile stc "$t/store-sat.count.json" \
        --slurpfile usc "$t/stub-steady.count.json" --slurpfile utc "$t/stub-sat.count.json" \
        --arg span "${BENCH_RELAYONLY_SPAN:-10}" '
        def pass(s; t; sc; tc): {steady: s.scenarios[0], saturation: t.scenarios[0],
            steadyPerf: (sc + {spanSeconds: ($span | tonumber)}), saturationPerf: tc,
            loadAvg1AtStart: {steady: s.machine.loadAvg1AtStart,
                              saturation: t.machine.loadAvg1AtStart},
            machine: s.machine, commit: s.git.commit};
        {scenario: "relayonly", store: pass($ss[0]; $st[0]; $ssc[0]; $stc[0]),
         stub: pass($us[0]; $ut[0]; $usc[0]; $utc[0])}' >"$2" ||
        { say "relayonly: a pass left no results (see above)"; return 1; }
    jq -r '
        def f(x): if x == null then "-" else (x * 100 | round / 100 | tostring) end;
        def i(x): if x == null then "-" else (x | round | tostring) end;
        def row(name; g): "| \(name) | \(.store | g) | \(.stub | g) |";
        "| relayonly | embedded store | stand-in (writes acknowledged at once) |",
        "| --- | --- | --- |",
        row("steady: delivered msg/s"; i(.steady.deliveredPerSec)),
        row("steady: e2e p50 / p99 / max ms"; "\(f(.steady.e2eP50Ms)) / \(f(.steady.e2eP99Ms)) / \(f(.steady.e2eMaxMs))"),
        row("steady: ACK p50 / p99 ms"; "\(f(.steady.ackP50Ms)) / \(f(.steady.ackP99Ms))"),
        row("steady: store write p50 / p99 ms (at most)"; "\(i(.steady.storeWriteP50MsAtMost)) / \(i(.steady.storeWriteP99MsAtMost))"),
        row("steady: mean insert batch"; f(.steady.meanBatchSize)),
        row("steady: relay CPU us/msg (/proc)"; f(.steady.cpu.relayUsPerMsg)),
        row("steady: store process CPU us/msg"; f(.steady.cpu.ferretdbUsPerMsg)),
        row("steady: MariaDB CPU us/msg"; f(.steady.cpu.mariadbUsPerMsg)),
        row("steady: PostgreSQL CPU us/msg (same span as perf)"; f(.steadyPerf.postgresUsPerMsg)),
        row("steady: relay CPU us/msg (perf task-clock, \(.store.steadyPerf.spanSeconds) s)"; f(.steadyPerf.cpuUsPerMsg)),
        row("steady: relay instructions/msg (perf, same span)"; i(.steadyPerf.instructionsPerMsg)),
        row("saturation: highest step with p99 < 50 ms (offered / delivered)"; "\(i(.saturation.bestOfferedPerSec)) / \(i(.saturation.bestDeliveredPerSec))"),
        row("saturation: p99 at that step ms"; f(.saturation.bestE2eP99Ms)),
        row("saturation: first failing step"; i(.saturation.firstFailingOfferedPerSec)),
        row("saturation: peak delivered msg/s"; i(.saturation.peakDeliveredPerSec)),
        row("saturation: relay CPU us/msg at the passing peak"; f(.saturation.cpu.relayUsPerMsg)),
        row("saturation: relay CPU us/msg (perf task-clock, whole run)"; f(.saturationPerf.cpuUsPerMsg)),
        row("saturation: relay instructions/msg (perf, whole run)"; i(.saturationPerf.instructionsPerMsg)),
        row("load average at the start (steady / saturation)"; "\(f(.loadAvg1AtStart.steady)) / \(f(.loadAvg1AtStart.saturation))")
        ' "$2"
    say "relayonly: results in $2"
}

# nodepeer: issue 17's yardstick. bench/nodepeer/peer.js (Node.js, ws,
# mysql2, mongodb: one process) and then the C relay under the same burst
# of BENCH_BURST_ROOMS new rooms, then both under steady 1,000 msg/s
# (BENCH_NODEPEER_STEADY=0 skips it), on one fresh database. node_modules is installed from
# package-lock.json with `npm ci` when missing or stale (network needed
# once, as for tests/browser). JSON: <time>-nodepeer.json (the burst on
# the peer), <time>-nodepeer-relay.json (on the relay), and
# <time>-nodepeer-steady.json, <time>-nodepeer-steady-relay.json.
nodepeer_modules() {
    local dir=$ROOT/bench/nodepeer want have
    command -v node >/dev/null && command -v npm >/dev/null ||
        { say "nodepeer needs node and npm (deploy/dev/deps.sh installs them)"; return 1; }
    want=$(cd "$dir" && node -p "JSON.stringify(require('./package.json').dependencies)")
    have=$(cd "$dir" && node -p "const d = require('./package.json').dependencies, o = {};
        for (const k of Object.keys(d)) { try { o[k] = require('./node_modules/' + k + '/package.json').version } catch (e) {} }
        JSON.stringify(o)")
    [[ $have == "$want" ]] && return 0
    say "nodepeer: installing $want (npm ci)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >npm-ci.log 2>&1) ||
        { cat "$dir/npm-ci.log" >&2; say "nodepeer: npm ci failed"; return 1; }
    rm -f "$dir/npm-ci.log"
}

nodepeer_pid=
# nodepeer_start PORT NAME: the Node peer on PORT, databases NAME, in
# nodepeer_pid.
nodepeer_start() {
    local port=$1 name=$2 k
    local -a vals keys=(mysql_host mysql_port mysql_user mysql_password mongo_uri allowed_origins
        max_text_chars max_message_bytes max_outbuf_bytes max_pending_messages)
    mapfile -t vals < <(CHAT_MYSQL_DATABASE=$name conf_get "${keys[@]}") &&
        ((${#vals[@]} == ${#keys[@]})) || { say "nodepeer: cannot read the settings"; return 1; }
    local -a penv=(NODEPEER_PORT="$port" NODEPEER_PARENT=$$ CHAT_MYSQL_DATABASE="$name"
        CHAT_MONGO_DATABASE="$name")
    for k in "${!keys[@]}"; do penv+=("CHAT_${keys[k]^^}=${vals[k]}"); done
    # the settings (a password among them) go through the environment, not argv
    env "${penv[@]}" node "$ROOT/bench/nodepeer/peer.js" >>"$ROOT/var/log/bench-nodepeer.log" 2>&1 &
    nodepeer_pid=$!
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" 2>/dev/null && return 0
        kill -0 "$nodepeer_pid" 2>/dev/null || break
        sleep 0.1
    done
    say "the Node peer did not start (var/log/bench-nodepeer.log)"
    nodepeer_stop
    return 1
}

nodepeer_stop() {
    [[ -n $nodepeer_pid ]] || return 0
    kill -TERM "$nodepeer_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$nodepeer_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$nodepeer_pid" 2>/dev/null && kill -KILL "$nodepeer_pid" 2>/dev/null
    wait "$nodepeer_pid" 2>/dev/null
    nodepeer_pid=
}

# nodepeer_run: the burst against the peer then the relay, then steady
# against each, every one in a chat-bench run of its own (no server holds
# another scenario's clients meanwhile).
nodepeer_run() {
    local port=${BENCH_NODEPEER_PORT:-8095} name=chat_bench_nodepeer r=0 scen
    nodepeer_modules || return 1
    port_open "$port" && { say "port $port is taken: set BENCH_NODEPEER_PORT"; return 1; }
    bench_db "$name" fresh || return 1
    dropped+=("$name")
    use_db "$name" || return 1
    local burst=(--sat-rates none --sat-burst-rooms "${BENCH_BURST_ROOMS:-480}"
        --sat-burst-rate 15 --sat-burst-seconds 8 saturation)
    local node=(--relay "ws://127.0.0.1:$port/ws")
    for scen in burst steady; do
        [[ $scen == steady && ${BENCH_NODEPEER_STEADY:-1} != 1 ]] && break
        local sargs=("${burst[@]}") sfx=
        [[ $scen == steady ]] && sargs=(steady) sfx=-steady
        nodepeer_start "$port" "$name" || return 1
        say "nodepeer: $scen against the Node peer (pid $nodepeer_pid, port $port), database $name"
        "$BIN/chat-bench" "${args[@]}" --out "${out%.json}-nodepeer$sfx.json" "${node[@]}" \
            --pid "relay=$nodepeer_pid" "${sargs[@]}" || r=1
        nodepeer_stop
        say "nodepeer: $scen against the C relay, database $name"
        "$BIN/chat-bench" "${args[@]}" --out "${out%.json}-nodepeer$sfx-relay.json" "${sargs[@]}" || r=1
    done
    return $r
}

case $what in
jwt) jwt_run || rc=1 ;;
media) media_run || rc=1 ;;
roomlist) roomlist_run || rc=1 ;;
evpass) evpass_run || rc=1 ;;
nodepeer) nodepeer_run || rc=1 ;;
tworelay) two_relays || rc=1 ;;
tworelay-sat | "tworelay-sat "*) two_relays_sat || rc=1 ;;
bigstore) stores || rc=1 ;;
relayonly) relayonly_run || rc=1 ;;
relayonly-callgrind) relayonly_callgrind || rc=1 ;;
*)
    if ((full)) && [[ ${BENCH_JWT:-1} == 1 ]]; then jwt_run || rc=1; fi
    if ((full)) && [[ ${BENCH_EVPASS:-1} == 1 ]]; then evpass_run || rc=1; fi
    main_run "$@" || rc=1
    if ((full)) && [[ ${BENCH_RELAYONLY:-1} == 1 ]]; then relayonly_run || rc=1; fi
    if ((full)) && [[ ${BENCH_CALLGRIND:-1} == 1 ]]; then relayonly_callgrind || rc=1; fi
    if ((full)) && [[ ${BENCH_TWO_RELAYS:-1} == 1 ]]; then two_relays || rc=1; fi
    if ((full)) && [[ ${BENCH_TWOSAT:-1} == 1 ]]; then two_relays_sat || rc=1; fi
    if ((full)) && [[ ${BENCH_BIG_STORE:-1} == 1 ]]; then stores || rc=1; fi
    if ((full)) && [[ ${BENCH_MEDIA:-1} == 1 ]]; then media_run || rc=1; fi
    if ((full)) && [[ ${BENCH_ROOMLIST:-1} == 1 ]]; then roomlist_run || rc=1; fi
    if ((full)) && [[ ${BENCH_NODEPEER:-1} == 1 ]]; then nodepeer_run || rc=1; fi
    ;;
esac
exit $rc
