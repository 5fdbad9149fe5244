-- Each room's sequence state, next to its members, so that the relay never
-- has to ask the message store for a room's newest seq (a full scan on
-- stores without pushed-down indexes). Both only ever grow.
--   seq_issued: the highest seq handed to a writer (reserved before the
--               insert; a failed insert leaves a skipped number).
--   last_seq:   the highest seq known stored in MongoDB (raised after the
--               insert); what ENTERED reports as lastSeq.
-- Rooms that already hold messages are brought up to date by
-- migrations/data/0001_room_seq_backfill.sh.
ALTER TABLE chat_rooms
    ADD COLUMN seq_issued BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN last_seq   BIGINT NOT NULL DEFAULT 0;
