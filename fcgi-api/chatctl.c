/*
 * chatctl - the developer's command line for users, tokens and rooms,
 * reading the same config as the API programs (CHAT_CONFIG).
 *
 *   chatctl add-user NAME [DISPLAY]   create a user (an existing NAME is
 *                                     reported and not an error); prints the id
 *   chatctl token NAME|ID             prints a JWT for the user (jwt_ttl)
 *   chatctl room A B                  find or create the room of two users
 *                                     (names or ids); prints the room id
 *   chatctl config get KEY...         prints each KEY's effective value, one
 *                                     a line: the default, the file, then
 *                                     CHAT_<KEY>, as every program reads it
 *                                     (the shell scripts' one config reader)
 *   chatctl media-gc [SECONDS]        remove uploads no message names that
 *                                     are older than SECONDS (default
 *                                     media_unreferenced_ttl), and chunks of
 *                                     uploads that never finished; prints
 *                                     "removed N kept M". For cron or
 *                                     deploy/systemd/chat-media-gc.timer.
 *
 * Output is the bare value on stdout so scripts can capture it; messages go
 * to stderr. Exit status: 0 done, 1 failed (e.g. unknown user, database
 * down), 2 usage or configuration error (an unknown KEY included).
 */
#include "config.h"
#include "errors.h"
#include "ids.h"
#include "jwt.h"
#include "mediastore.h"
#include "msgstore.h"
#include "rooms.h"
#include "sqldb.h"
#include "users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(void)
{
    fputs("usage: chatctl add-user NAME [DISPLAY]\n"
          "       chatctl token NAME|ID\n"
          "       chatctl room A B          (A, B: user names or ids)\n"
          "       chatctl config get KEY...\n"
          "       chatctl media-gc [SECONDS]\n",
          stderr);
}

/* find_user: by id when arg is one (ids.h), else by name. */
static int find_user(struct sqldb *db, const char *arg, struct user *u)
{
    int64_t id;
    if (id_parse(arg, strlen(arg), &id) == 0)
        return users_find_by_id(db, id, u);
    return users_find_by_name(db, arg, u);
}

static int fail(const char *what, const char *arg, int rc)
{
    if (rc == ERR_NOT_FOUND)
        fprintf(stderr, "chatctl: %s: no such user '%s'\n", what, arg);
    else
        fprintf(stderr, "chatctl: %s: %s\n", what, err_str(rc));
    return 1;
}

static int cmd_add_user(struct sqldb *db, const char *name, const char *display)
{
    struct user u;
    if (!users_name_valid(name)) {
        fprintf(stderr, "chatctl: add-user: username must be 1 to 32 characters of "
                        "A-Z a-z 0-9 _ . -\n");
        return 2;
    }
    if (display && !users_display_valid(display)) {
        fprintf(stderr, "chatctl: add-user: display name must be 1 to 128 printable "
                        "characters of UTF-8\n");
        return 2;
    }
    int rc = users_create(db, name, display, &u);
    if (rc == ERR_CONFLICT) {
        rc = users_find_by_name(db, name, &u);
        if (rc == 0)
            fprintf(stderr, "chatctl: add-user: '%s' exists already (id %lld)\n", name,
                    (long long) u.id);
    }
    if (rc != 0)
        return fail("add-user", name, rc);
    printf("%lld\n", (long long) u.id);
    return 0;
}

static int cmd_token(const struct config *cfg, struct sqldb *db, const char *who)
{
    struct user u;
    char jwt[JWT_MAX_LEN];
    int rc = find_user(db, who, &u);
    if (rc == 0)
        rc = jwt_sign(cfg, u.id, (int64_t) time(NULL), jwt, sizeof jwt);
    if (rc != 0)
        return fail("token", who, rc);
    printf("%s\n", jwt);
    return 0;
}

static int cmd_room(struct sqldb *db, const char *a, const char *b)
{
    struct user ua, ub;
    struct room r;
    int created = 0, rc;
    if ((rc = find_user(db, a, &ua)) != 0)
        return fail("room", a, rc);
    if ((rc = find_user(db, b, &ub)) != 0)
        return fail("room", b, rc);
    if (ua.id == ub.id) {
        fprintf(stderr, "chatctl: room: a room needs two different users\n");
        return 2;
    }
    if ((rc = rooms_find_or_create(db, ua.id, ub.id, &r, &created)) != 0)
        return fail("room", a, rc);
    printf("%lld\n", (long long) r.id);
    return 0;
}

/* cmd_config_get: every value is checked before any is printed, so a
 * script never reads a partial answer. */
static int cmd_config_get(const struct config *cfg, int nkeys, char **keys)
{
    static char values[64][CONFIG_STR_MAX];
    if (nkeys > 64) {
        fprintf(stderr, "chatctl: config get: at most 64 keys at a time\n");
        return 2;
    }
    for (int i = 0; i < nkeys; i++) {
        if (config_value(cfg, keys[i], values[i], sizeof values[i]) != 0) {
            fprintf(stderr, "chatctl: config get: unknown key %s\n", keys[i]);
            return 2;
        }
    }
    for (int i = 0; i < nkeys; i++)
        printf("%s\n", values[i]);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmd_media_gc(const struct config *cfg, const char *age)
{
    char err[512] = "";
    long secs = cfg->media_unreferenced_ttl;
    if (age) {
        char *end;
        secs = strtol(age, &end, 10);
        if (!*age || *end || secs < 0) {
            fprintf(stderr, "chatctl: media-gc: SECONDS must be a whole number >= 0\n");
            return 2;
        }
    }
    struct msgstore *ms = msgstore_new(cfg, err, sizeof err);
    if (!ms) {
        fprintf(stderr, "chatctl: media-gc: %s\n", err);
        return 1;
    }
    int removed = 0, kept = 0;
    int rc = mediastore_gc(ms, cfg->mongo_database, cfg->media_key,
                           now_ms() - (int64_t) secs * 1000, &removed, &kept);
    msgstore_free(ms);
    if (rc != 0)
        return fail("media-gc", "-", rc);
    printf("removed %d kept %d\n", removed, kept);
    return 0;
}

int main(int argc, char **argv)
{
    static struct config cfg;
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    int ok_args = (strcmp(cmd, "add-user") == 0 && (argc == 3 || argc == 4)) ||
                  (strcmp(cmd, "token") == 0 && argc == 3) ||
                  (strcmp(cmd, "room") == 0 && argc == 4) ||
                  (strcmp(cmd, "config") == 0 && argc >= 4 && strcmp(argv[2], "get") == 0) ||
                  (strcmp(cmd, "media-gc") == 0 && (argc == 2 || argc == 3));
    if (!ok_args) {
        usage();
        return 2;
    }
    config_load_or_exit(&cfg, "chatctl");
    if (strcmp(cmd, "config") == 0)
        return cmd_config_get(&cfg, argc - 3, argv + 3);
    if (strcmp(cmd, "media-gc") == 0)
        return cmd_media_gc(&cfg, argc == 3 ? argv[2] : NULL);
    struct sqldb *db = sqldb_new(&cfg);
    if (!db) {
        fprintf(stderr, "chatctl: out of memory\n");
        return 1;
    }
    int rc;
    if (strcmp(cmd, "add-user") == 0)
        rc = cmd_add_user(db, argv[2], argc == 4 ? argv[3] : NULL);
    else if (strcmp(cmd, "token") == 0)
        rc = cmd_token(&cfg, db, argv[2]);
    else
        rc = cmd_room(db, argv[2], argv[3]);
    sqldb_free(db);
    return rc;
}
