#!/usr/bin/env bash
# run.sh BIN_DIR - what `make test` does after building with sanitizers:
# bring the stack up on the binaries in BIN_DIR, run the unit tests, then the
# integration tests (which include the browser test and, last, a check that
# no sanitizer report was written by any process), then put the stack back
# the way it was found. The output ends with Check's summary line of the
# integration run; the exit status is non-zero if any test failed.
set -uo pipefail

BIN=${1:?usage: tests/run.sh BIN_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CHAT_VAR_DIR=$ROOT/var CHAT_CONFIG=$ROOT/var/chat.conf CHAT_BIN_DIR=$BIN
export CHAT_TEST_OUT=${CHAT_TEST_OUT:-$ROOT/var/test-out}
mkdir -p "$CHAT_VAR_DIR/log" "$CHAT_TEST_OUT"

# Remember what ran before so we stop only what we started.
previous_bin=""
if deploy/dev/stack.sh status >/dev/null 2>&1; then
    previous_bin=$(cat "$CHAT_VAR_DIR/run/bindir" 2>/dev/null || true)
fi

rm -f "$CHAT_VAR_DIR"/log/asan.* "$CHAT_VAR_DIR"/log/ubsan.*
deploy/dev/stack.sh up || { echo "tests: the stack did not come up" >&2; exit 1; }

echo "== unit tests"
ASAN_OPTIONS=detect_leaks=1 "$BIN/unit_tests"
unit_rc=$?

echo "== integration tests (real MariaDB, FerretDB, lighttpd, relay; browser)"
# Each test runs in its own child; give slow fault tests room.
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-120}
"$BIN/integration_tests" 2>&1 | tee "$CHAT_TEST_OUT/integration.log"
integ_rc=${PIPESTATUS[0]}

# Put the stack back: stop it if we started it, else return it to the
# binaries it ran before. Quietly, so Check's summary stays the last line.
if [[ -z $previous_bin ]]; then
    deploy/dev/stack.sh down >>"$CHAT_VAR_DIR/log/stack.log" 2>&1
elif [[ $previous_bin != "$BIN" ]]; then
    CHAT_BIN_DIR=$previous_bin deploy/dev/stack.sh up >>"$CHAT_VAR_DIR/log/stack.log" 2>&1
fi

echo "== unit: $([[ $unit_rc -eq 0 ]] && echo passed || echo FAILED)," \
    "integration: $([[ $integ_rc -eq 0 ]] && echo passed || echo FAILED)"
grep -E '^[0-9]+%: Checks' "$CHAT_TEST_OUT/integration.log" | tail -n1
[[ $unit_rc -eq 0 && $integ_rc -eq 0 ]]
