-- Read watermarks (0005) start at 0, which would make every message that
-- existed before the upgrade unread for everybody. What was sent before
-- the watermarks existed counts as read: each member's watermark starts
-- at the room's last stored seq. Rows a member already moved are left
-- alone; on a new database there is nothing to change.
UPDATE chat_room_members m
    JOIN chat_rooms r ON r.id = m.room_id
    SET m.last_read_seq = r.last_seq
    WHERE m.last_read_seq = 0 AND r.last_seq > 0;
