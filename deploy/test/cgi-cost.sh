#!/usr/bin/env bash
# cgi-cost.sh [REQUESTS] - what plain CGI costs against FastCGI, measured.
#
# Runs the same Apache with the same binaries twice: deploy/apache/chat.conf
# (mod_proxy_fcgi to the spawn-fcgi pools, 127.0.0.1:8081) and
# deploy/apache/chat-cgi.conf (mod_cgid, 127.0.0.1:8084), and sends each
# REQUESTS (default 300) sequential requests with ab for four endpoints
# (a tenth of that for history, which on the embedded FerretDB is slow in
# itself: it reads the whole room, and a read that passes mongo_timeout_ms
# fails with 503, reported as "no result").
# Needs the local stack up (make run) and ports 8081 and 8084 free; uses the
# release build unless CHAT_BIN_DIR says otherwise; stops what it started.
# Not part of make test: it measures, it does not check.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-300}
export CHAT_VAR_DIR=${CHAT_VAR_DIR:-$ROOT/var}
export CHAT_CONFIG=${CHAT_CONFIG:-$CHAT_VAR_DIR/chat.conf}
export CHAT_BIN_DIR=${CHAT_BIN_DIR:-$ROOT/build/rel/bin}
D=$ROOT/deploy/test/deploy.sh
TMP=$(mktemp -d)

cleanup() {
    "$D" stop apache >/dev/null
    "$D" stop cgi >/dev/null
    "$D" stop pools >/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

"$D" start pools >/dev/null && "$D" start apache >/dev/null && "$D" start cgi >/dev/null ||
    { echo "cgi-cost: could not start the servers" >&2; exit 1; }

json() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }
login() {
    curl -fsS -H 'Content-Type: application/json' -d "{\"username\":\"$1\"}" \
        http://127.0.0.1:8081/api/v1/dev/login | json "['$2']"
}
A=cgicost_a_$$ B=cgicost_b_$$
JWT=$(login "$A" token) && login "$B" token >/dev/null || { echo "cgi-cost: dev login failed" >&2; exit 1; }
ROOM=$(curl -fsS -H "Authorization: Bearer $JWT" -H 'Content-Type: application/json' \
    -d "{\"peerUsername\":\"$B\"}" http://127.0.0.1:8081/api/v1/rooms | json "['room']['id']")
: >"$TMP/empty"

# measure N PORT METHOD PATH: sets MEAN (ms per request) and RPS. Only
# the unknown path may (must) answer non-2xx: its 404 needs no database,
# which leaves the bare cost of starting the program.
measure() {
    local post=() failed non2xx
    [[ $3 == POST ]] && post=(-p "$TMP/empty" -T application/json)
    ab -q -n "$1" -c 1 -H "Authorization: Bearer $JWT" "${post[@]}" "http://127.0.0.1:$2$4" >"$TMP/ab" 2>&1
    failed=$(awk '/^Failed requests:/ {print $3}' "$TMP/ab")
    non2xx=$(awk '/^Non-2xx responses:/ {print $3}' "$TMP/ab")
    MEAN=$(awk '/^Time per request:/ {print $4; exit}' "$TMP/ab")
    RPS=$(awk '/^Requests per second:/ {print $4}' "$TMP/ab")
    # ab counts answers of a different length as failed: only non-2xx
    # answers and transport errors matter here.
    if [[ $4 == /api/v1/no-such-path ]]; then
        [[ ${non2xx:-0} == "$1" ]] || { echo "cgi-cost: $4 on port $2 did not answer 404" >&2; exit 1; }
        non2xx=
    fi
    if [[ -z $MEAN || -n $non2xx ]]; then
        echo "cgi-cost: $3 $4 on port $2: ${non2xx:-?} of $1 answers were not 2xx (ab: failed ${failed:-?})" >&2
        return 1
    fi
}

printf '%-28s %6s %11s %11s %11s %11s\n' "endpoint" "n" "FastCGI ms" "CGI ms" "CGI extra" "CGI/FastCGI"
for ep in "$N GET /api/v1/no-such-path" "$N GET /api/v1/me" "$N POST /api/v1/socket-token" "$((N / 10)) GET /api/v1/chat/$ROOM?limit=50"; do
    read -r n method path <<<"$ep"
    if ! measure "$n" 8081 "$method" "$path" || { fm=$MEAN; ! measure "$n" 8084 "$method" "$path"; }; then
        printf '%-28s %6s %s\n' "$method ${path%%\?*}" "$n" "no result: some requests failed (see above)"
        continue
    fi
    cm=$MEAN
    printf '%-28s %6s %11s %11s %11s %10.1fx\n' "$method ${path%%\?*}" "$n" "$fm" "$cm" \
        "$(awk -v a="$cm" -v b="$fm" 'BEGIN { printf "%.1f", a - b }')" \
        "$(awk -v a="$cm" -v b="$fm" 'BEGIN { print a / b }')"
done
