/*
 * dbcount.c - one count command against the configured MongoDB (see
 * dbcount.h). Runs twice per bench run.
 */
#include "dbcount.h"

#include "config.h"
#include "errors.h"

#include <mongoc/mongoc.h>

/* Driver warnings (FerretDB lacks some session commands) are noise here. */
static void quiet_log(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
    (void) level;
    (void) domain;
    (void) message;
    (void) data;
}

int dbcount_messages(int64_t *n)
{
    static int ready;
    struct config cfg;
    char err[256];
    if (config_load(&cfg, NULL, err, sizeof err) != 0)
        return ERR_INVALID;
    if (!ready) {
        mongoc_init();
        mongoc_log_set_handler(quiet_log, NULL);
        ready = 1;
    }
    bson_error_t berr;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(cfg.mongo_uri, &berr);
    if (!uri)
        return ERR_INVALID;
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 3000);
    int rc = ERR_UNAVAILABLE;
    mongoc_client_t *client = mongoc_client_new_from_uri(uri);
    if (client) {
        mongoc_collection_t *coll =
            mongoc_client_get_collection(client, cfg.mongo_database, "chat_messages");
        int64_t c = mongoc_collection_estimated_document_count(coll, NULL, NULL, NULL, &berr);
        if (c >= 0) {
            *n = c;
            rc = 0;
        }
        mongoc_collection_destroy(coll);
        mongoc_client_destroy(client);
    }
    mongoc_uri_destroy(uri);
    return rc;
}
