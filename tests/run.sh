#!/usr/bin/env bash
# run.sh [--unit|--integration] BIN_DIR [SUITE [TEST]] - what `make test`
# does after building with sanitizers: run the unit tests (no servers
# needed), then bring the stack up on the binaries in BIN_DIR, run the
# integration tests (which include the browser test and, last, a check that
# no sanitizer report was written by any process), then put the stack back
# the way it was found. With SUITE (make test SUITE=relay), only that
# integration suite runs, or only its TEST, and the unit tests are skipped.
# --unit (make unit) runs only the unit tests and touches no stack;
# --integration (make integration) only the integration part. The output
# ends with Check's summary line of the last run; the exit status is
# non-zero if any test failed.
#
# The tests never see the development data: the run makes its own MySQL
# schema and MongoDB database, both chat_test_<unix time>_<pid>, and
# exports them as CHAT_MYSQL_DATABASE and CHAT_MONGO_DATABASE, so migrate.sh
# fills them and every process the tests start or talk to uses them
# (stack.sh restarts the relay and lighttpd when the databases change).
# However the run ends they are dropped and the stack returns to the
# databases it used; what a run killed outright leaves, the next run drops
# first (tests/testdb.sh sweep).
set -uo pipefail

PARTS=all
case ${1:-} in
--unit) PARTS=unit; shift ;;
--integration) PARTS=integration; shift ;;
esac
BIN=${1:?usage: tests/run.sh [--unit|--integration] BIN_DIR [SUITE [TEST]]}
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# run_unit: the unit tests, which need no server, config or database.
run_unit() {
    echo "== unit tests"
    ASAN_OPTIONS=detect_leaks=1 "$BIN/unit_tests"
}

if [[ $PARTS == unit ]]; then
    run_unit
    exit
fi
unit_rc=skipped
if [[ $PARTS == all && $# -eq 0 ]]; then
    run_unit
    unit_rc=$?
fi
export CHAT_VAR_DIR=$ROOT/var CHAT_CONFIG=$ROOT/var/chat.conf CHAT_BIN_DIR=$BIN
export CHAT_TEST_OUT=${CHAT_TEST_OUT:-$ROOT/var/test-out}
RUN=$CHAT_VAR_DIR/run
STACK_LOG=$CHAT_VAR_DIR/log/stack.log
mkdir -p "$CHAT_VAR_DIR/log" "$CHAT_TEST_OUT"

if live=$(tests/testdb.sh running); then
    echo "tests: another test run of this checkout is in progress ($live); it shares this stack" >&2
    exit 1
fi

# Remember what ran before so we stop only what we started and give the
# rest back its binaries, databases and number of relays.
previous_bin="" previous_dbs="" previous_relays=1
if deploy/dev/stack.sh status >/dev/null 2>&1; then
    previous_bin=$(cat "$RUN/bindir" 2>/dev/null || true)
    previous_dbs=$(cat "$RUN/databases" 2>/dev/null || true)
    previous_relays=$(cat "$RUN/relays" 2>/dev/null || echo 1)
fi

TESTDB=chat_test_$(date +%s)_$$
export CHAT_MYSQL_DATABASE=$TESTDB CHAT_MONGO_DATABASE=$TESTDB

# restore: stop the deploy test servers, return the stack to what ran
# before, drop the run's databases. Runs once, from the EXIT trap, which
# every way out of this script passes (INT and TERM exit through it).
restored=0 made=0
restore() {
    ((restored)) && return 0
    restored=1
    trap '' INT TERM HUP
    deploy/test/deploy.sh stop-all >>"$STACK_LOG" 2>&1
    if [[ -n $previous_bin ]]; then
        local mysql_db mongo_db
        read -r mysql_db mongo_db <<<"$previous_dbs"
        (
            unset CHAT_MYSQL_DATABASE CHAT_MONGO_DATABASE
            [[ -n $mysql_db ]] && export CHAT_MYSQL_DATABASE=$mysql_db
            [[ -n $mongo_db ]] && export CHAT_MONGO_DATABASE=$mongo_db
            CHAT_BIN_DIR=$previous_bin RELAYS=$previous_relays deploy/dev/stack.sh up
        ) >>"$STACK_LOG" 2>&1 || echo "tests: could not put the stack back (see $STACK_LOG)" >&2
    else
        # Nothing may hold the databases while they are dropped.
        deploy/dev/stack.sh stop lighttpd >>"$STACK_LOG" 2>&1
        deploy/dev/stack.sh stop relay >>"$STACK_LOG" 2>&1
    fi
    if ((made)); then
        tests/testdb.sh drop "$TESTDB" >>"$STACK_LOG" 2>&1 ||
            echo "tests: could not drop the databases $TESTDB; the next run does (tests/testdb.sh sweep)" >&2
    fi
    [[ -n $previous_bin ]] || deploy/dev/stack.sh down >>"$STACK_LOG" 2>&1
}
trap restore EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

rm -f "$CHAT_VAR_DIR"/log/asan.* "$CHAT_VAR_DIR"/log/ubsan.*
# The databases first: the run's own are made before the stack migrates them.
{ deploy/dev/stack.sh start mariadb && deploy/dev/stack.sh start ferretdb; } >>"$STACK_LOG" 2>&1 ||
    { echo "tests: MariaDB or FerretDB did not start (see $STACK_LOG)" >&2; exit 1; }
tests/testdb.sh sweep
made=1
tests/testdb.sh create "$TESTDB" $$ || exit 1
deploy/dev/stack.sh up || { echo "tests: the stack did not come up" >&2; exit 1; }
echo "== databases of this run: $TESTDB (MySQL and MongoDB; dropped at the end)"

echo "== integration tests (real MariaDB, FerretDB, lighttpd, relay; browser)${1:+: $*}"
# Each test runs in its own child; give slow fault tests room.
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-120}
"$BIN/integration_tests" "$@" 2>&1 | tee "$CHAT_TEST_OUT/integration.log"
integ_rc=${PIPESTATUS[0]}

# Put the stack back now, quietly, so Check's summary stays the last line.
restore

echo "== unit: $(case $unit_rc in skipped) echo skipped ;; 0) echo passed ;; *) echo FAILED ;; esac)," \
    "integration: $([[ $integ_rc -eq 0 ]] && echo passed || echo FAILED)"
grep -E '^[0-9]+%: Checks' "$CHAT_TEST_OUT/integration.log" | tail -n1
[[ ($unit_rc == skipped || $unit_rc -eq 0) && $integ_rc -eq 0 ]]
