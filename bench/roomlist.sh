#!/usr/bin/env bash
# roomlist.sh BIN_DIR OUT_JSON - the room list at size (`bench/run.sh BIN
# roomlist`, and after the other parts of a full run), on the stack as
# run.sh set it up: lighttpd restarted on the databases chat_bench_rooms,
# which are kept between runs.
#
# 1. The data, made once with SQL (MariaDB's sequence engine): one user
#    with BENCH_ROOMS (1,000) rooms whose activity, last seq, watermarks and
#    a few empty seqs vary, among BENCH_OTHER_ROOMS (100,000) rooms of other
#    users, so a page could not be cheap by the table being small.
# 2. GET /api/v1/rooms?limit=50 through lighttpd and chat-rooms with wrk
#    (one connection, BENCH_ROOMLIST_SECONDS each): the first page, and a
#    page deep in the list (after 900 rooms, through the cursor).
# 3. MariaDB's handler counters for one page: the rows it read, which must
#    follow the page size (limit + 1 per member column, plus the joins),
#    not the number of rooms.
# Prints a table and writes OUT_JSON.
set -uo pipefail

BIN=${1:?usage: bench/roomlist.sh BIN_DIR OUT_JSON}
OUT=${2:?usage: bench/roomlist.sh BIN_DIR OUT_JSON}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=${CHAT_TEST_WEB_BASE:-http://127.0.0.1:8080}
ROOMS=${BENCH_ROOMS:-1000}
OTHER=${BENCH_OTHER_ROOMS:-100000}
SECONDS_EACH=${BENCH_ROOMLIST_SECONDS:-10}
DB=${CHAT_MYSQL_DATABASE:?run.sh sets the bench database}
SOCK=$ROOT/var/run/mysqld.sock
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

say() { printf 'bench: %s\n' "$*" >&2; }
sql() { mariadb --no-defaults --socket="$SOCK" -uroot -N -B "$DB" "$@"; }

# seed: the owner, its peers and rooms, and the other users' rooms; once.
seed() {
    local have
    have=$(sql -e "SELECT COUNT(*) FROM users WHERE username = 'rl_owner'")
    [[ $have == 1 ]] && return 0
    say "room list: making $ROOMS rooms for rl_owner among $OTHER others (once)"
    sql <<SQL || return 1
INSERT INTO users (username, display_name) VALUES ('rl_owner', 'Room list owner');
SET @owner = LAST_INSERT_ID();
INSERT INTO users (username, display_name)
    SELECT CONCAT('rl_peer_', seq), CONCAT('Peer ', seq) FROM seq_1_to_$ROOMS;
INSERT INTO users (username, display_name)
    SELECT CONCAT('rl_other_', seq), CONCAT('Other ', seq) FROM seq_1_to_$((OTHER + 1));
-- The owner's rooms: activity spread over a month, messages and reads vary.
INSERT INTO chat_rooms (user_low, user_high, created_by, last_activity_ms, seq_issued, last_seq,
                        last_msg_seq, last_msg_type, last_msg_preview, last_msg_at_ms, last_msg_sender)
    SELECT LEAST(@owner, u.id), GREATEST(@owner, u.id), @owner,
           1796000000000 + (u.id * 7919) % 2592000000, 10 + u.id % 300, 10 + u.id % 300,
           10 + u.id % 300, 'TEXT', CONCAT('message ', u.id), 1796000000000 + (u.id * 7919) % 2592000000, u.id
    FROM users u WHERE u.username LIKE 'rl\_peer\_%';
INSERT INTO chat_room_members (room_id, user_id, last_read_seq)
    SELECT r.id, @owner, r.last_seq - r.id % 7 FROM chat_rooms r
    WHERE r.user_low = @owner OR r.user_high = @owner;
INSERT INTO chat_room_members (room_id, user_id, last_read_seq)
    SELECT r.id, IF(r.user_low = @owner, r.user_high, r.user_low), r.last_seq FROM chat_rooms r
    WHERE r.user_low = @owner OR r.user_high = @owner;
INSERT INTO chat_room_seq_gaps (room_id, seq)
    SELECT r.id, r.last_seq - 1 FROM chat_rooms r
    WHERE (r.user_low = @owner OR r.user_high = @owner) AND r.id % 5 = 0;
-- Everyone else: pairs of neighbours, each with a room and two members.
SET @first_other = (SELECT MIN(id) FROM users WHERE username LIKE 'rl\_other\_%');
INSERT INTO chat_rooms (user_low, user_high, created_by, last_activity_ms, last_seq)
    SELECT @first_other + seq - 1, @first_other + seq, @first_other + seq - 1,
           1796000000000 + (seq * 104729) % 2592000000, seq % 50
    FROM seq_1_to_$OTHER;
INSERT INTO chat_room_members (room_id, user_id)
    SELECT id, user_low FROM chat_rooms WHERE user_low >= @first_other;
INSERT INTO chat_room_members (room_id, user_id)
    SELECT id, user_high FROM chat_rooms WHERE user_low >= @first_other;
SQL
}

# page_url N: the URL of the page after the first N rooms (cursor walk).
page_url() {
    local skip=$1 url="$BASE/api/v1/rooms?limit=50" next
    while ((skip > 0)); do
        next=$(curl -sf -H "Authorization: Bearer $JWT" "$url" |
            sed -n 's/.*"nextCursor":"\([0-9.]*\)".*/\1/p')
        [[ -n $next ]] || { say "room list: no cursor after $(( ${1} - skip )) rooms"; return 1; }
        url="$BASE/api/v1/rooms?limit=50&cursor=$next"
        skip=$((skip - 50))
    done
    printf '%s\n' "$url"
}

# measure NAME URL: wrk's p50/p99 (ms) and requests/s for URL.
measure() {
    local name=$1 url=$2 res
    res=$(wrk -t1 -c1 -d"${SECONDS_EACH}s" --latency -H "Authorization: Bearer $JWT" "$url")
    local p50 p99 rps
    p50=$(awk '$1 == "50%" {print $2}' <<<"$res")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$res")
    rps=$(awk '$1 == "Requests/sec:" {print $2}' <<<"$res")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$res")
    [[ -z $non2xx ]] || { say "room list: $name answered $non2xx non-2xx"; return 1; }
    printf '%s %s %s %s\n' "$name" "$(to_ms "$p50")" "$(to_ms "$p99")" "$rps"
}

# to_ms: wrk's "812.00us", "1.20ms" or "1.02s" as milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else { sub(/s$/, "", v); printf "%.3f", v * 1000 } }'
}

# rows_read URL: rows the server's handlers read for one page (the
# difference of Handler_read_* around one request; the stack is otherwise
# idle, so nothing else is counted).
rows_read() {
    local before after
    before=$(sql -e "SELECT SUM(VARIABLE_VALUE) FROM information_schema.GLOBAL_STATUS
                     WHERE VARIABLE_NAME LIKE 'HANDLER\_READ\_%'")
    curl -sf -o /dev/null -H "Authorization: Bearer $JWT" "$1" || return 1
    after=$(sql -e "SELECT SUM(VARIABLE_VALUE) FROM information_schema.GLOBAL_STATUS
                    WHERE VARIABLE_NAME LIKE 'HANDLER\_READ\_%'")
    echo $((after - before))
}

seed || { say "room list: seeding failed"; exit 1; }
JWT=$("$BIN/chatctl" token rl_owner) || { say "room list: no token for rl_owner"; exit 1; }
rooms=$(sql -e "SELECT COUNT(*) FROM chat_rooms")
mine=$(sql -e "SELECT COUNT(*) FROM chat_room_members m JOIN users u ON u.id = m.user_id
               WHERE u.username = 'rl_owner'")
deep=$(page_url 900) || exit 1
first=$(measure first_page "$BASE/api/v1/rooms?limit=50") || exit 1
late=$(measure page_after_900 "$deep") || exit 1
rows_first=$(rows_read "$BASE/api/v1/rooms?limit=50") || exit 1
rows_deep=$(rows_read "$deep") || exit 1

say "room list: $mine rooms of rl_owner among $rooms, 50 per page, wrk 1 connection ${SECONDS_EACH}s"
printf '%-16s %10s %10s %10s %10s\n' page p50_ms p99_ms req_s rows_read
read -r n1 a1 b1 c1 <<<"$first"
read -r n2 a2 b2 c2 <<<"$late"
printf '%-16s %10s %10s %10s %10s\n' "$n1" "$a1" "$b1" "$c1" "$rows_first" "$n2" "$a2" "$b2" "$c2" "$rows_deep"
cat >"$OUT" <<JSON
{"scenario": "roomlist", "rooms_total": $rooms, "rooms_of_user": $mine, "page": 50,
 "first_page": {"p50_ms": $a1, "p99_ms": $b1, "requests_per_s": $c1, "rows_read": $rows_first},
 "page_after_900": {"p50_ms": $a2, "p99_ms": $b2, "requests_per_s": $c2, "rows_read": $rows_deep}}
JSON
say "room list: results in $OUT"
