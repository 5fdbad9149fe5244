-- Conversation state, derived from the per-room seq so that nothing is
-- stored or rewritten per message:
--   chat_room_members.last_read_seq: how far that member has read (only
--       ever moves forward; a member's own message moves it too, since
--       writing in a room means having read it). A message is unread by a
--       member while its seq is above that member's watermark.
--   chat_rooms.last_msg_*: the newest stored message's type, a short
--       preview, time and sender, for the room list; last_msg_seq says
--       which seq they describe, so an older batch never overwrites a
--       newer summary.
--   chat_rooms.last_activity_ms: when the room last changed (created or
--       newest message), the room list's order; one index per member
--       column serves "my rooms, newest activity first" page by page.
--   chat_room_seq_gaps: seqs that were reserved but never stored (a write
--       that failed, a retry that turned out to be a duplicate), so
--       unread = last_seq - last_read_seq - gaps in between is exact.
-- Rooms that existed before start with their creation time as last
-- activity and no last message until their next message.
ALTER TABLE chat_rooms
    ADD COLUMN last_activity_ms BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN last_msg_seq     BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN last_msg_type    VARCHAR(8) NULL,
    ADD COLUMN last_msg_preview VARCHAR(100) NULL,
    ADD COLUMN last_msg_at_ms   BIGINT NULL,
    ADD COLUMN last_msg_sender  BIGINT NULL,
    ADD KEY ix_chat_rooms_low_activity (user_low, last_activity_ms, id),
    ADD KEY ix_chat_rooms_high_activity (user_high, last_activity_ms, id);

UPDATE chat_rooms
    SET last_activity_ms = CAST(UNIX_TIMESTAMP(created_at) * 1000 AS SIGNED)
    WHERE last_activity_ms = 0;

ALTER TABLE chat_room_members
    ADD COLUMN last_read_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE chat_room_seq_gaps (
    room_id BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq),
    CONSTRAINT fk_seq_gaps_room FOREIGN KEY (room_id) REFERENCES chat_rooms (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
