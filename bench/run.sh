#!/usr/bin/env bash
# run.sh BIN_DIR [chat-bench options] [scenario ...] - what `make bench` runs
# once it has built the release flavour and brought the stack up.
#
# For the length of the run it
#   - gives the relay and the web server's API programs a scratch MongoDB
#     database, chat_bench_<time>, made by migrate.sh with the project's
#     indexes: every run starts from an empty collection (on FerretDB a
#     query reads the whole collection, so results would otherwise depend on
#     what earlier runs and tests left behind), and the hundred thousand
#     messages a run stores never land in the dev database `chat`;
#   - lifts the relay's per-connection rate limit: saturation offers
#     thousands of msg/s over a few hundred connections;
#   - restarts the relay and lighttpd with those overrides, runs chat-bench,
#     then restarts both without them and drops the scratch database.
# The stack is busy and restarted meanwhile: do not run `make test` at the
# same time.
#
# Environment:
#   BENCH_ARGS             extra chat-bench options, e.g. "--rate 2000 steady"
#   BENCH_PROFILE=1        perf record -g the relay during saturation into
#                          var/bench/<time>.perf.data (see README.md)
#   BENCH_MAX_CONNECTIONS  the relay's max_connections for the run
#   BENCH_KEEP_DB=1        keep the scratch database afterwards
set -uo pipefail

BIN=${1:?usage: bench/run.sh BIN_DIR [chat-bench options] [scenario ...]}
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CHAT_CONFIG=${CHAT_CONFIG:-$ROOT/var/chat.conf}
export CHAT_BIN_DIR=$BIN
STACK=$ROOT/deploy/dev/stack.sh

say() { printf 'bench: %s\n' "$*" >&2; }

[[ -x $BIN/chat-bench ]] || { say "$BIN/chat-bench is not built (run make)"; exit 1; }
command -v wrk >/dev/null || say "wrk is not installed: the http scenario will fail"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
db=chat_bench_${stamp//[^0-9]/}
out=$ROOT/bench/results/$stamp.json
# The commit, marked when the code the numbers depend on has local changes.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD -- bench relay shared fcgi-api 2>/dev/null; then
    commit="$commit+local-changes"
fi

drop_db() {
    local cmd
    cmd=$(mktemp)
    echo '{"dropDatabase": 1}' >"$cmd"
    CHAT_MONGO_DATABASE=$db "$BIN/chat-mongo-cmd" run "$cmd" || say "could not drop $db"
    rm -f "$cmd"
}

restore() {
    trap - EXIT INT TERM
    say "restoring the relay and lighttpd to the configured settings"
    unset CHAT_MONGO_DATABASE CHAT_RATE_PER_SEC CHAT_RATE_BURST CHAT_MAX_CONNECTIONS
    "$STACK" restart relay >/dev/null || say "relay did not restart: run make run"
    "$STACK" restart lighttpd >/dev/null || say "lighttpd did not restart: run make run"
    # dropped only now that nothing has it open
    if [[ -z ${BENCH_KEEP_DB:-} ]]; then
        drop_db
    else
        say "kept database $db"
    fi
}

say "scratch database $db"
export CHAT_MONGO_DATABASE=$db
"$ROOT/migrations/migrate.sh" >/dev/null || { say "migrate.sh failed for $db"; exit 1; }

export CHAT_RATE_PER_SEC=${BENCH_RATE_PER_SEC:-1000000}
export CHAT_RATE_BURST=${BENCH_RATE_BURST:-1000000}
[[ -n ${BENCH_MAX_CONNECTIONS:-} ]] && export CHAT_MAX_CONNECTIONS=$BENCH_MAX_CONNECTIONS
trap restore EXIT
trap 'exit 130' INT TERM
say "restarting the relay and lighttpd for the run"
"$STACK" restart relay >/dev/null || { say "relay did not start with the bench settings"; exit 1; }
"$STACK" restart lighttpd >/dev/null || { say "lighttpd did not start"; exit 1; }

args=(--var "$ROOT/var" --commit "$commit" --out "$out")
if [[ -n ${BENCH_PROFILE:-} ]]; then
    command -v perf >/dev/null || { say "BENCH_PROFILE needs perf (Debian package linux-perf)"; exit 1; }
    mkdir -p "$ROOT/var/bench"
    args+=(--perf "$ROOT/var/bench/$stamp.perf.data")
fi
# BENCH_ARGS is split on spaces on purpose: it is a list of options.
# shellcheck disable=SC2206
extra=(${BENCH_ARGS:-})
"$BIN/chat-bench" "${args[@]}" "${extra[@]}" "$@"
