#!/usr/bin/env bash
# media.sh BIN_DIR OUT_JSON - the media part of `make bench` (run.sh calls
# it as `bench/run.sh BIN media`, and after the other parts of a full run),
# on the stack as run.sh set it up: relay and lighttpd restarted on the
# databases chat_bench_media, which are kept between runs.
#
# 1. The store: at least BENCH_MEDIA_STORE_MIB (500) MiB of other media in
#    GridFS, uploaded the first time (48 MiB videos), kept afterwards.
# 2. A 50 MiB video (media_max_video_bytes) uploaded with curl through
#    lighttpd to chat-media, while the resident memory (VmRSS) of every
#    chat-media process is sampled from /proc every 20 ms: the peak, less
#    the process's size before, is what the upload cost in memory.
# 3. The same file downloaded whole, and a 1 MiB range of it; a small
#    picture downloaded 20 times (its time must not grow with the store).
# 4. PostgreSQL's plan for the chunk query of one file: FerretDB must push
#    the files_id filter down (filterPushdown) and PostgreSQL answer it
#    from the GIN index of migrations/ferretdb-pg/0002, not by reading the
#    chunks of every file.
# Prints a table and writes OUT_JSON.
set -uo pipefail

BIN=${1:?usage: bench/media.sh BIN_DIR OUT_JSON}
OUT=${2:?usage: bench/media.sh BIN_DIR OUT_JSON}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=${CHAT_TEST_WEB_BASE:-http://127.0.0.1:8080}
STORE_MIB=${BENCH_MEDIA_STORE_MIB:-500}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

say() { printf 'bench: %s\n' "$*" >&2; }
mongo() { "$BIN/chat-mongo-cmd" run <(printf '%s' "$1"); }
ctl() { "$BIN/chatctl" "$@"; }

# fake_mp4 FILE BYTES: an ISO-BMFF file of exactly BYTES (ftyp, moov with
# a 1280x720 tkhd, mdat of random bytes): what chat-media checks, not a
# playable video.
fake_mp4() {
    local file=$1 bytes=$2 head=$WORK/head
    {
        printf '\x00\x00\x00\x14ftypisom\x00\x00\x00\x00isom'
        printf '\x00\x00\x00\x6cmoov\x00\x00\x00\x64trak\x00\x00\x00\x5ctkhd'
        head -c 76 /dev/zero
        printf '\x05\x00\x00\x00\x02\xd0\x00\x00'
    } >"$head"
    local rest=$((bytes - $(stat -c %s "$head") - 8))
    {
        cat "$head"
        printf "\\x$(printf %02x $((rest + 8 >> 24 & 255)))\\x$(printf %02x $((rest + 8 >> 16 & 255)))"
        printf "\\x$(printf %02x $((rest + 8 >> 8 & 255)))\\x$(printf %02x $((rest + 8 & 255)))mdat"
        head -c "$rest" /dev/urandom
    } >"$file"
}

# stored_mib: MiB of media in GridFS now.
stored_mib() {
    mongo '{"aggregate": "media.files", "pipeline": [{"$group": {"_id": null, "n": {"$sum": "$length"}}}], "cursor": {}}' |
        sed -n 's/.*"n" : \([0-9.]*\).*/\1/p' | awk '{ printf "%d", $1 / 1048576 }'
}

upload() { # FILE TOKEN ROOM -> curl's "status seconds"
    curl -sS -o "$WORK/up.json" -w '%{http_code} %{time_total}' -H "Authorization: Bearer $2" \
        --data-binary "@$1" "$BASE/api/v1/rooms/$3/media"
}

# rss_of PID: VmRSS in KiB.
rss_of() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

a=$(ctl add-user bench_media_a 2>/dev/null) && b=$(ctl add-user bench_media_b 2>/dev/null) ||
    { say "media: chatctl add-user failed"; exit 1; }
room=$(ctl room "$a" "$b") && tok=$(ctl token "$a") && tokb=$(ctl token "$b") ||
    { say "media: no room or token"; exit 1; }

have=$(stored_mib)
have=${have:-0}
if ((have < STORE_MIB)); then
    say "media: seeding GridFS to $STORE_MIB MiB (now $have MiB), kept for later runs"
    fake_mp4 "$WORK/seed.mp4" $((48 * 1048576))
    while ((have < STORE_MIB)); do
        r=$(upload "$WORK/seed.mp4" "$tok" "$room")
        [[ $r == 201* ]] || { say "media: seeding upload failed: $r $(cat "$WORK/up.json")"; exit 1; }
        have=$(stored_mib)
    done
fi
say "media: $have MiB of other media stored"

big=$((50 * 1048576))
fake_mp4 "$WORK/big.mp4" "$big"
mapfile -t pids < <(pgrep -f "$BIN/chat-media")
((${#pids[@]})) || { say "media: no chat-media process (is lighttpd up?)"; exit 1; }
declare -A base
for p in "${pids[@]}"; do base[$p]=$(rss_of "$p"); done
(
    declare -A peak
    while :; do
        for p in "${pids[@]}"; do
            v=$(rss_of "$p")
            ((v > ${peak[$p]:-0})) && peak[$p]=$v
        done
        for p in "${pids[@]}"; do echo "$p ${peak[$p]:-0}"; done >"$WORK/peak.new"
        mv "$WORK/peak.new" "$WORK/peak"
        sleep 0.02
    done
) &
sampler=$!
r=$(upload "$WORK/big.mp4" "$tok" "$room")
sleep 0.1
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null
[[ $r == 201* ]] || { say "media: 50 MiB upload failed: $r $(cat "$WORK/up.json")"; exit 1; }
up_s=${r#* }
id=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' "$WORK/up.json")
grow=0 rss_before=0 rss_peak=0
while read -r p pk; do
    g=$((pk - ${base[$p]:-0}))
    if ((g > grow)); then grow=$g rss_before=${base[$p]} rss_peak=$pk; fi
done <"$WORK/peak"

dl=$(curl -sS -o "$WORK/down.mp4" -w '%{http_code} %{time_total}' -H "Authorization: Bearer $tokb" \
    "$BASE/api/v1/media/$id")
[[ $dl == 200* ]] || { say "media: download failed: $dl"; exit 1; }
dl_s=${dl#* }
cmp -s "$WORK/big.mp4" "$WORK/down.mp4" && same=true || same=false
rg=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -H "Authorization: Bearer $tokb" \
    -H 'Range: bytes=26214400-27262975' "$BASE/api/v1/media/$id")
rg_s=${rg#* }

# a small picture among all that
r=$(upload "$ROOT/tests/fixtures/media/photo.jpg" "$tok" "$room")
small=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' "$WORK/up.json")
small_ms=()
for _ in $(seq 1 20); do
    t=$(curl -sS -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $tokb" "$BASE/api/v1/media/$small")
    small_ms+=("$(awk -v t="$t" 'BEGIN { printf "%.1f", t * 1000 }')")
done
small_med=$(printf '%s\n' "${small_ms[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
small_max=$(printf '%s\n' "${small_ms[@]}" | sort -n | tail -1)

# the plan of one file's chunk query
oid=$(mongo '{"find": "media.files", "filter": {}, "limit": 1}' | sed -n 's/.*"_id" : { "$oid" : "\([0-9a-f]*\)".*/\1/p' | head -1)
plan=$(mongo "{\"explain\": {\"find\": \"media.chunks\", \"filter\": {\"files_id\": {\"\$oid\": \"$oid\"}, \"n\": {\"\$gte\": 0}}}}")
pushdown=$(sed -n 's/.*"filterPushdown" : \(true\|false\).*/\1/p' <<<"$plan")
index=$(grep -o '"Index Name" : "[a-z_]*"' <<<"$plan" | head -1 | sed 's/.*: "\(.*\)"/\1/')
chunks=$(mongo '{"count": "media.chunks"}' | sed -n 's/.*"n" : \([0-9]*\).*/\1/p')

mib=$(awk -v b="$big" 'BEGIN { printf "%.2f", b / 1048576 }')
up_rate=$(awk -v b="$big" -v s="$up_s" 'BEGIN { printf "%.1f", b / 1048576 / s }')
dl_rate=$(awk -v b="$big" -v s="$dl_s" 'BEGIN { printf "%.1f", b / 1048576 / s }')
load=$(cut -d' ' -f1-3 /proc/loadavg)

printf '\nmedia: %s MiB stored in GridFS (%s chunks), load %s\n' "$have" "$chunks" "$load"
printf '  %-46s %s\n' \
    "upload of $mib MiB, MiB/s (seconds)" "$up_rate ($up_s)" \
    "chat-media VmRSS before / peak / growth, KiB" "$rss_before / $rss_peak / $grow" \
    "download of the same, MiB/s (seconds)" "$dl_rate ($dl_s), identical: $same" \
    "1 MiB range from its middle, seconds" "$rg_s" \
    "15 KiB picture, ms median / max of 20" "$small_med / $small_max" \
    "chunk query: filterPushdown, index" "$pushdown, ${index:-none}"
cat >"$OUT" <<JSON
{"part": "media", "stored_mib": $have, "chunks": ${chunks:-0}, "load": "$load",
 "upload_bytes": $big, "upload_seconds": $up_s, "upload_mib_s": $up_rate,
 "upload_rss_before_kib": $rss_before, "upload_rss_peak_kib": $rss_peak, "upload_rss_growth_kib": $grow,
 "download_seconds": $dl_s, "download_mib_s": $dl_rate, "download_identical": $same,
 "range_1mib_seconds": $rg_s, "small_ms_median": $small_med, "small_ms_max": $small_max,
 "chunk_filter_pushdown": ${pushdown:-false}, "chunk_index": "${index:-}"}
JSON
say "media: results in $OUT"
