#!/usr/bin/env bash
# run.sh BIN_DIR [chat-bench options] [scenario ...] - what `make bench` runs
# once it has built the release flavour and brought the stack up.
#
# For the length of the run it
#   - starts a FerretDB of its own (the stack's binary, var/bin/ferretdb, on
#     127.0.0.1:27028 with an empty SQLite directory under var/bench/) and
#     gives it the project's indexes with migrate.sh. Why not the stack's:
#     on FerretDB a query reads the whole collection, so the stack's
#     instance is as slow as everything stored in it so far, and is often
#     busy with other people's tests; a run also stores ~50,000 messages
#     that would then slow every later ENTER in the dev database;
#   - lifts the relay's per-connection rate limit: saturation offers
#     thousands of msg/s over a few hundred connections;
#   - restarts the relay and lighttpd (whose FastCGI programs inherit its
#     environment) with those overrides, runs chat-bench, then restarts
#     both without them, stops its FerretDB and deletes its data.
# MariaDB, lighttpd and the relay are the stack's. The stack is busy and
# restarted meanwhile: do not run `make test` at the same time.
#
# Environment:
#   BENCH_ARGS             extra chat-bench options, e.g. "--rate 2000 steady"
#   BENCH_PROFILE=1        perf record the relay during saturation into
#                          var/bench/<time>.perf.data (see README.md)
#   BENCH_MAX_CONNECTIONS  the relay's max_connections for the run
#   BENCH_FERRETDB_PORT    port of the bench's FerretDB (27028)
#   BENCH_KEEP_DB=1        keep the bench's FerretDB data directory
#   BENCH_TWO_RELAYS=0     skip the two-relay run (see below)
#   BENCH_RELAY2_PORT      port of the second relay (8091)
#
# After the main run (all scenarios, no BENCH_ARGS), a second chat-bench
# run measures scale-out: the relay restarted with Redis (the stack's
# private redis-server on 6380) plus a second relay on BENCH_RELAY2_PORT,
# each room's two members on different relays, so every message crosses
# Redis pub/sub and both take their seq from Redis. Its table follows the
# first one; its JSON is <time>-tworelay.json.
set -uo pipefail

BIN=${1:?usage: bench/run.sh BIN_DIR [chat-bench options] [scenario ...]}
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CHAT_CONFIG=${CHAT_CONFIG:-$ROOT/var/chat.conf}
export CHAT_BIN_DIR=$BIN
STACK=$ROOT/deploy/dev/stack.sh
FERRETDB=$ROOT/var/bin/ferretdb
PORT=${BENCH_FERRETDB_PORT:-27028}

say() { printf 'bench: %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

[[ -x $BIN/chat-bench ]] || { say "$BIN/chat-bench is not built (run make)"; exit 1; }
[[ -x $FERRETDB ]] || { say "$FERRETDB is missing: run make run (deploy/dev/deps.sh builds it)"; exit 1; }
command -v wrk >/dev/null || say "wrk is not installed: the http scenario will fail"
port_open "$PORT" && { say "port $PORT is taken: set BENCH_FERRETDB_PORT"; exit 1; }

stamp=$(date -u +%Y%m%dT%H%M%SZ)
data=$ROOT/var/bench/ferretdb-$stamp
out=$ROOT/bench/results/$stamp.json
# The commit, marked when the code the numbers depend on has local changes.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD -- bench relay shared fcgi-api 2>/dev/null; then
    commit="$commit+local-changes"
fi

fpid=
r2pid=
redis_started=
restore() {
    trap - EXIT INT TERM
    say "restoring the relay and lighttpd to the configured settings"
    if [[ -n $r2pid ]]; then
        kill -TERM "$r2pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$r2pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$r2pid" 2>/dev/null && kill -KILL "$r2pid" 2>/dev/null
    fi
    [[ -n $redis_started ]] && "$STACK" stop redis >/dev/null
    unset CHAT_MONGO_URI CHAT_RATE_PER_SEC CHAT_RATE_BURST CHAT_MAX_CONNECTIONS CHAT_REDIS_URL \
        CHAT_MONGO_DATABASE
    "$STACK" restart relay >/dev/null || say "relay did not restart: run make run"
    "$STACK" restart lighttpd >/dev/null || say "lighttpd did not restart: run make run"
    if [[ -n $fpid ]]; then
        kill -TERM "$fpid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$fpid" 2>/dev/null && kill -KILL "$fpid" 2>/dev/null
    fi
    if [[ -z ${BENCH_KEEP_DB:-} ]]; then
        rm -rf "$data"
    else
        say "kept $data"
    fi
}
trap restore EXIT
trap 'exit 130' INT TERM

mkdir -p "$data" "$ROOT/var/log"
"$FERRETDB" --handler=sqlite --sqlite-url="file:$data/" --state-dir="$data" \
    --listen-addr="127.0.0.1:$PORT" --debug-addr="127.0.0.1:$((PORT + 1))" \
    --telemetry=disable --log-level=warn >>"$ROOT/var/log/bench-ferretdb.log" 2>&1 &
fpid=$!
for _ in $(seq 1 100); do port_open "$PORT" && break; sleep 0.1; done
port_open "$PORT" || { say "the bench's FerretDB did not start (var/log/bench-ferretdb.log)"; exit 1; }
say "FerretDB for the run on 127.0.0.1:$PORT (pid $fpid, data $data)"

export CHAT_MONGO_URI=mongodb://127.0.0.1:$PORT/
"$ROOT/migrations/migrate.sh" >/dev/null || { say "migrate.sh failed on the bench's FerretDB"; exit 1; }

export CHAT_RATE_PER_SEC=${BENCH_RATE_PER_SEC:-1000000}
export CHAT_RATE_BURST=${BENCH_RATE_BURST:-1000000}
[[ -n ${BENCH_MAX_CONNECTIONS:-} ]] && export CHAT_MAX_CONNECTIONS=$BENCH_MAX_CONNECTIONS
say "restarting the relay and lighttpd for the run"
"$STACK" restart relay >/dev/null || { say "relay did not start with the bench settings"; exit 1; }
"$STACK" restart lighttpd >/dev/null || { say "lighttpd did not start"; exit 1; }

args=(--var "$ROOT/var" --commit "$commit" --out "$out" --pid "ferretdb=$fpid")
if [[ -n ${BENCH_PROFILE:-} ]]; then
    command -v perf >/dev/null || { say "BENCH_PROFILE needs perf (Debian package linux-perf)"; exit 1; }
    mkdir -p "$ROOT/var/bench"
    args+=(--perf "$ROOT/var/bench/$stamp.perf.data")
fi
# BENCH_ARGS is split on spaces on purpose: it is a list of options.
# shellcheck disable=SC2206
extra=(${BENCH_ARGS:-})
rc=0
# `bench/run.sh BIN tworelay` runs the two-relay part alone.
if [[ "$*" != tworelay ]]; then
    "$BIN/chat-bench" "${args[@]}" "${extra[@]}" "$@"
    rc=$?
fi

# two_relays: the scale-out run described at the top.
two_relays() {
    local port2=${BENCH_RELAY2_PORT:-8091}
    port_open "$port2" && { say "port $port2 is taken: set BENCH_RELAY2_PORT"; return 1; }
    export CHAT_REDIS_URL=redis://127.0.0.1:6380
    # A database of its own on the bench's FerretDB: ENTER reads the whole
    # collection there, and the main run stored tens of thousands of messages.
    export CHAT_MONGO_DATABASE=chat_tworelay
    "$ROOT/migrations/migrate.sh" >/dev/null || { say "migrate.sh failed for chat_tworelay"; return 1; }
    [[ -f $ROOT/var/run/redis.pid ]] && kill -0 "$(<"$ROOT/var/run/redis.pid")" 2>/dev/null ||
        redis_started=1
    "$STACK" start redis >/dev/null || { say "redis did not start"; return 1; }
    say "two relays: restarting the relay with Redis, starting a second one on $port2"
    "$STACK" restart relay >/dev/null || { say "relay did not start with Redis"; return 1; }
    CHAT_RELAY_PORT=$port2 nohup "$BIN/chat-relay" >>"$ROOT/var/log/bench-relay2.log" 2>&1 &
    r2pid=$!
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port2/healthz" 2>/dev/null && break
        sleep 0.1
    done
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port2/healthz" ||
        { say "the second relay did not start (var/log/bench-relay2.log)"; return 1; }
    "$BIN/chat-bench" --var "$ROOT/var" --commit "$commit" --out "${out%.json}-tworelay.json" \
        --pid "ferretdb=$fpid" --relay2 "ws://127.0.0.1:$port2/ws" tworelay
}
if [[ "$*" == tworelay || (${BENCH_TWO_RELAYS:-1} == 1 && $# -eq 0 && ${#extra[@]} -eq 0) ]]; then
    two_relays || rc=1
fi
exit $rc
