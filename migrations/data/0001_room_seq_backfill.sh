#!/usr/bin/env bash
# Bring every room's sequence state (chat_rooms.seq_issued and last_seq,
# added by mysql/0002) up to the highest seq stored in MongoDB, so that a
# store written before the relay kept seq state in MySQL continues without
# reusing a number. One pass over chat_messages; GREATEST makes it safe to
# run again and harmless next to a running relay. Run by migrate.sh.
set -euo pipefail
: "${MIGRATE_MYSQL_DEFAULTS:?run by migrate.sh}" "${MIGRATE_MONGO_CMD:?run by migrate.sh}"

seqs=$("$MIGRATE_MONGO_CMD" room-seqs)
[[ -n $seqs ]] || exit 0
while read -r room seq; do
    [[ $room =~ ^[0-9]+$ && $seq =~ ^[0-9]+$ ]] || { echo "unexpected line from room-seqs: $room $seq" >&2; exit 1; }
    echo "UPDATE chat_rooms SET seq_issued = GREATEST(seq_issued, $seq), last_seq = GREATEST(last_seq, $seq) WHERE id = $room;"
done <<<"$seqs" | mariadb --defaults-file="$MIGRATE_MYSQL_DEFAULTS" --batch
echo "room seq state raised for $(wc -l <<<"$seqs") rooms"
