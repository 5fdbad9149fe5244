-- GIN indexes on chat_messages for FerretDB on PostgreSQL.
--
-- FerretDB v1 hands PostgreSQL a top-level equality as
-- `_jsonb -> 'field' @> value` and keeps ranges, sort and limit to itself.
-- Its own indexes (btree, made by createIndexes) cannot answer `@>`, so
-- without these every find on chat_messages reads the whole table. With
-- them PostgreSQL reads only the rows of the room asked for: history pages,
-- replay and the newest-seq look-up cost the size of the room, the
-- idempotency look-up (chatRoomId, senderId, clientMsgId) a row or two.
-- The expressions must read exactly `_jsonb -> 'field'` for the planner to
-- match FerretDB's filter. FerretDB passes the field name as a statement
-- parameter, so only a plan made with the values can use them: set
-- plan_cache_mode = force_custom_plan for FerretDB's account or server
-- (`make run`'s cluster does), or PostgreSQL may settle on a generic plan
-- that reads the whole table.
\set ON_ERROR_STOP on

-- The table FerretDB made for the collection; no row ("no rows returned for
-- \gset") means chat_messages does not exist (mongo/0001 creates it).
SELECT _jsonb ->> 'table' AS messages_table
  FROM :"mongo_database"._ferretdb_database_metadata
 WHERE _jsonb ->> '_id' = 'chat_messages' \gset

CREATE INDEX IF NOT EXISTS chat_messages_room_gin ON :"mongo_database".:"messages_table"
    USING gin ((_jsonb -> 'chatRoomId') jsonb_path_ops);

CREATE INDEX IF NOT EXISTS chat_messages_client_msg_gin ON :"mongo_database".:"messages_table"
    USING gin ((_jsonb -> 'clientMsgId') jsonb_path_ops);
