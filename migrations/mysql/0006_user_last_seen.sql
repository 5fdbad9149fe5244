-- When each user was last connected: set when the user's last WebSocket on
-- a relay closes, shown as "last seen" to the people they talk to while
-- they are offline. NULL: never seen since this column exists.
ALTER TABLE users
    ADD COLUMN last_seen_at_ms BIGINT NULL;
