/*
 * mongo_cmd.c - chat-mongo-cmd, the MongoDB side of migrations/migrate.sh.
 *
 *   chat-mongo-cmd ping               exit 0 when the server answers
 *   chat-mongo-cmd run FILE           run the command document in FILE
 *                                     (JSON, e.g. createIndexes; - reads
 *                                     stdin) against the configured
 *                                     database; prints the reply as JSON
 *   chat-mongo-cmd databases          print the server's database names,
 *                                     one a line (test clean-up finds its
 *                                     throw-away databases with it)
 *   chat-mongo-cmd applied            print "NAME SHA256" per recorded file
 *   chat-mongo-cmd record NAME SHA256 record a file as applied
 *   chat-mongo-cmd room-seqs          print "ROOM_ID HIGHEST_SEQ" per room
 *                                     that holds messages (one pass over
 *                                     chat_messages; for data migrations)
 *
 * Settings come from the shared config (mongo_uri, mongo_database,
 * mongo_timeout_ms). Exit codes: 0 ok, 1 the command failed (server
 * message on stderr), 2 usage or config error, 3 server unreachable.
 */
#include "config.h"

#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATIONS_COLLECTION "schema_migrations"
#define MAX_COMMAND_BYTES     (1024 * 1024)

/* The driver's own warnings (FerretDB lacks endSessions, for one) are not
 * this tool's business; errors still reach stderr. */
static void driver_log(mongoc_log_level_t level, const char *domain, const char *message,
                       void *data)
{
    (void) data;
    if (level <= MONGOC_LOG_LEVEL_ERROR)
        fprintf(stderr, "chat-mongo-cmd: driver: %s: %s\n", domain, message);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: chat-mongo-cmd ping | run FILE | databases | applied | record NAME SHA256 | "
            "room-seqs\n");
    return 2;
}

/* read_file: whole file as a NUL-terminated malloc'd string, or NULL. */
static char *read_file(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(MAX_COMMAND_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_COMMAND_BYTES + 1, f) : 0;
    if (f != stdin)
        fclose(f);
    if (!buf || n > MAX_COMMAND_BYTES) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static int exit_for(const bson_error_t *err)
{
    /* Server selection failures mean the server is not there at all. */
    return err->domain == MONGOC_ERROR_SERVER_SELECTION || err->domain == MONGOC_ERROR_STREAM ? 3
                                                                                              : 1;
}

/* run_command: run cmd on db; with print set, the reply goes to stdout as
 * relaxed extended JSON (counts and lists for scripts). */
static int run_command(mongoc_client_t *client, const char *db, const bson_t *cmd, int print)
{
    bson_t reply;
    bson_error_t err;
    int rc = 0;
    if (!mongoc_client_command_simple(client, db, cmd, NULL, &reply, &err)) {
        fprintf(stderr, "chat-mongo-cmd: %s\n", err.message);
        rc = exit_for(&err);
    } else if (print) {
        char *json = bson_as_relaxed_extended_json(&reply, NULL);
        if (json)
            printf("%s\n", json);
        bson_free(json);
    }
    bson_destroy(&reply);
    return rc;
}

static int cmd_run(mongoc_client_t *client, const char *db, const char *path)
{
    char *json = read_file(path);
    if (!json) {
        fprintf(stderr, "chat-mongo-cmd: cannot read %s (missing or over 1 MiB)\n", path);
        return 2;
    }
    bson_error_t err;
    bson_t *cmd = bson_new_from_json((const uint8_t *) json, -1, &err);
    free(json);
    if (!cmd) {
        fprintf(stderr, "chat-mongo-cmd: %s is not a JSON document: %s\n", path, err.message);
        return 1;
    }
    int rc = run_command(client, db, cmd, 1);
    bson_destroy(cmd);
    return rc;
}

static int cmd_databases(mongoc_client_t *client)
{
    bson_error_t err;
    char **names = mongoc_client_get_database_names_with_opts(client, NULL, &err);
    if (!names) {
        fprintf(stderr, "chat-mongo-cmd: %s\n", err.message);
        return exit_for(&err);
    }
    for (char **n = names; *n; n++)
        printf("%s\n", *n);
    bson_strfreev(names);
    return 0;
}

/* cursor_end: destroy cur; its error, if any, goes to stderr and becomes the
 * exit code. */
static int cursor_end(mongoc_cursor_t *cur)
{
    bson_error_t err;
    int rc = 0;
    if (mongoc_cursor_error(cur, &err)) {
        fprintf(stderr, "chat-mongo-cmd: %s\n", err.message);
        rc = exit_for(&err);
    }
    mongoc_cursor_destroy(cur);
    return rc;
}

static int cmd_applied(mongoc_client_t *client, const char *db)
{
    mongoc_collection_t *coll = mongoc_client_get_collection(client, db, MIGRATIONS_COLLECTION);
    bson_t filter = BSON_INITIALIZER;
    bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
    const bson_t *doc;
    bson_iter_t it;
    while (mongoc_cursor_next(cur, &doc)) {
        const char *name = NULL, *sum = NULL;
        if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it))
            name = bson_iter_utf8(&it, NULL);
        if (bson_iter_init_find(&it, doc, "checksum") && BSON_ITER_HOLDS_UTF8(&it))
            sum = bson_iter_utf8(&it, NULL);
        if (name && sum)
            printf("%s %s\n", name, sum);
    }
    int rc = cursor_end(cur);
    bson_destroy(opts);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    return rc;
}

static int cmd_record(mongoc_client_t *client, const char *db, const char *name, const char *sum)
{
    mongoc_collection_t *coll = mongoc_client_get_collection(client, db, MIGRATIONS_COLLECTION);
    bson_t *doc = BCON_NEW("_id", BCON_UTF8(name), "checksum", BCON_UTF8(sum), "appliedAt",
                           BCON_DATE_TIME((int64_t) time(NULL) * 1000));
    bson_error_t err;
    int rc = 0;
    if (!mongoc_collection_insert_one(coll, doc, NULL, NULL, &err)) {
        fprintf(stderr, "chat-mongo-cmd: %s\n", err.message);
        rc = exit_for(&err);
    }
    bson_destroy(doc);
    mongoc_collection_destroy(coll);
    return rc;
}

/* cmd_room_seqs: the highest stored seq of every room, in one pass over
 * chat_messages sorted by {chatRoomId, seq desc} (MongoDB walks its unique
 * index; FerretDB sorts in memory): a migration's job, never a hot path.
 * Not an aggregation: FerretDB v1 has no $max or $first accumulator. */
static int cmd_room_seqs(mongoc_client_t *client, const char *db)
{
    mongoc_collection_t *coll = mongoc_client_get_collection(client, db, "chat_messages");
    bson_t filter = BSON_INITIALIZER;
    bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(0), "chatRoomId", BCON_INT32(1),
                            "seq", BCON_INT32(1), "}", "sort", "{", "chatRoomId", BCON_INT32(1),
                            "seq", BCON_INT32(-1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
    const bson_t *doc;
    bson_iter_t it;
    int64_t prev = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        int64_t room = 0, seq = 0;
        if (bson_iter_init_find(&it, doc, "chatRoomId") && BSON_ITER_HOLDS_NUMBER(&it))
            room = bson_iter_as_int64(&it);
        if (bson_iter_init_find(&it, doc, "seq") && BSON_ITER_HOLDS_NUMBER(&it))
            seq = bson_iter_as_int64(&it);
        if (room > 0 && room != prev && seq > 0) {
            printf("%lld %lld\n", (long long) room, (long long) seq);
            prev = room;
        }
    }
    int rc = cursor_end(cur);
    bson_destroy(opts);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    struct config cfg;
    char cerr[1024];
    if (config_load(&cfg, NULL, cerr, sizeof cerr) != 0) {
        fprintf(stderr, "chat-mongo-cmd: %s\n", cerr);
        return 2;
    }

    mongoc_log_set_handler(driver_log, NULL);
    mongoc_init();
    int rc = 2;
    bson_error_t err;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(cfg.mongo_uri, &err);
    mongoc_client_t *client = NULL;
    if (!uri) {
        fprintf(stderr, "chat-mongo-cmd: config: mongo_uri is invalid: %s\n", err.message);
        goto out;
    }
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, cfg.mongo_timeout_ms);
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, cfg.mongo_timeout_ms);
    client = mongoc_client_new_from_uri(uri);
    if (!client)
        goto out;
    mongoc_client_set_appname(client, "chat-mongo-cmd");

    if (strcmp(argv[1], "ping") == 0 && argc == 2) {
        bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
        rc = run_command(client, "admin", ping, 0);
        bson_destroy(ping);
    } else if (strcmp(argv[1], "run") == 0 && argc == 3) {
        rc = cmd_run(client, cfg.mongo_database, argv[2]);
    } else if (strcmp(argv[1], "databases") == 0 && argc == 2) {
        rc = cmd_databases(client);
    } else if (strcmp(argv[1], "applied") == 0 && argc == 2) {
        rc = cmd_applied(client, cfg.mongo_database);
    } else if (strcmp(argv[1], "record") == 0 && argc == 4) {
        rc = cmd_record(client, cfg.mongo_database, argv[2], argv[3]);
    } else if (strcmp(argv[1], "room-seqs") == 0 && argc == 2) {
        rc = cmd_room_seqs(client, cfg.mongo_database);
    } else {
        rc = usage();
    }
out:
    mongoc_client_destroy(client);
    mongoc_uri_destroy(uri);
    mongoc_cleanup();
    return rc;
}
