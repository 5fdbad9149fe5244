-- A GIN index on media.chunks for FerretDB on PostgreSQL.
--
-- A download reads the chunks of one file: find {files_id: <ObjectId>,
-- n: {$gte, $lte}}. FerretDB hands the files_id equality to PostgreSQL as
-- `_jsonb -> 'files_id' @> value` (and filters n itself); without this index
-- PostgreSQL reads every chunk of every file to answer it, so fetching a
-- small picture would cost the whole media store. mongo/0002 creates the
-- collection (and the unique index GridFS asks for).
\set ON_ERROR_STOP on

SELECT _jsonb ->> 'table' AS chunks_table
  FROM :"mongo_database"._ferretdb_database_metadata
 WHERE _jsonb ->> '_id' = 'media.chunks' \gset

CREATE INDEX IF NOT EXISTS media_chunks_files_id_gin ON :"mongo_database".:"chunks_table"
    USING gin ((_jsonb -> 'files_id') jsonb_path_ops);
