#!/usr/bin/env bash
# run.sh OUT_DIR SECONDS NAME... - what `make fuzz` does once the harnesses
# are built: run each OUT_DIR/fuzz_NAME for SECONDS, starting from the
# committed seeds (tests/fuzz/corpus/NAME, never written to) and a working
# corpus of its own (OUT_DIR/corpus/NAME, kept between runs), then print
# one line per harness with executions and coverage. A crashing input is
# written to tests/fuzz/crashes/NAME-<kind>-<hash> (not tracked by git);
# the status is non-zero when any harness crashed.
set -uo pipefail

OUT=${1:?usage: tests/fuzz/run.sh OUT_DIR SECONDS NAME...}
SECONDS_EACH=${2:?usage: tests/fuzz/run.sh OUT_DIR SECONDS NAME...}
shift 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
CRASHES=tests/fuzz/crashes
mkdir -p "$CRASHES" "$OUT/log"

summary=() failed=0
for name in "$@"; do
    mkdir -p "$OUT/corpus/$name"
    log=$OUT/log/$name.log
    echo "== fuzz $name for ${SECONDS_EACH}s (log: $log)"
    # UBSan reports abort (the harnesses are built with
    # -fno-sanitize-recover), so libFuzzer saves the input like a crash.
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$OUT/fuzz_$name" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        -artifact_prefix="$CRASHES/$name-" "$OUT/corpus/$name" "tests/fuzz/corpus/$name" \
        >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n1)
    line=$(printf '%-10s runs %-10s %s' "$name" "${runs:-?}" "${cov:-cov: ?}")
    if ((rc != 0)); then
        failed=1
        line+="  CRASH: $(grep -m1 -oE 'Test unit written to [^ ]+' "$log")"
    fi
    summary+=("$line")
done

echo "== fuzz summary (${SECONDS_EACH}s each; cov = coverage points, ft = features)"
printf '%s\n' "${summary[@]}"
exit $failed
