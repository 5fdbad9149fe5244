/*
 * config.h - the settings every program reads at start.
 *
 * Source, in order of precedence: the environment variable CHAT_<KEY>
 * (upper case), then the `key = value` file named by CHAT_CONFIG (default
 * /etc/chat/chat.conf), then the built-in default. A key the program does
 * not know, a value out of range, or a missing required key is an error that
 * names the key; programs print it as one line and exit. Read once at start,
 * never on a hot path.
 */
#ifndef CHAT_CONFIG_H
#define CHAT_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define CONFIG_DEFAULT_PATH   "/etc/chat/chat.conf"
#define CONFIG_STR_MAX        512
#define CONFIG_SECRET_MIN_LEN 32

struct config {
    /* MySQL / MariaDB */
    char mysql_host[CONFIG_STR_MAX];
    int mysql_port;
    char mysql_socket[CONFIG_STR_MAX]; /* empty: use host and port */
    char mysql_user[CONFIG_STR_MAX];
    char mysql_password[CONFIG_STR_MAX];
    char mysql_database[CONFIG_STR_MAX];
    int mysql_timeout; /* seconds, connect/read/write */

    /* MongoDB */
    char mongo_uri[CONFIG_STR_MAX];
    char mongo_database[CONFIG_STR_MAX];
    char mongo_write_concern[CONFIG_STR_MAX]; /* "1", "majority", ... */
    int mongo_timeout_ms;
    /* The PostgreSQL database a FerretDB named in mongo_uri stores its data
     * in; empty: none (a real MongoDB). Read by migrate.sh and stack.sh. */
    char ferretdb_postgresql_url[CONFIG_STR_MAX];

    /* Auth */
    char jwt_secret[CONFIG_STR_MAX];
    char jwt_issuer[CONFIG_STR_MAX];   /* empty: not checked */
    char jwt_audience[CONFIG_STR_MAX]; /* empty: not checked */
    int jwt_leeway;                    /* seconds of clock skew allowed */
    int jwt_ttl;                       /* seconds, for tokens we mint */
    int jwt_max_lifetime;              /* seconds a JWT may live; 0: no limit */
    int socket_token_ttl;              /* seconds */
    int socket_tokens_per_minute;      /* per user, counted in MySQL; 0: no limit */
    int dev_login;                     /* 0 or 1 */

    /* Tokens of an identity provider (jwk.h, jwks_source.h) */
    char jwt_algorithms[CONFIG_STR_MAX];      /* allow-list, e.g. "HS256,RS256" */
    int jwt_alg_mask;                         /* the list as enum jwt_alg bits (derived) */
    char jwt_jwks_url[CONFIG_STR_MAX];        /* https:// (http:// only to loopback) */
    char jwt_jwks_file[CONFIG_STR_MAX];       /* a JWKS document on disk */
    char jwt_public_key_file[CONFIG_STR_MAX]; /* one PEM public key or certificate */
    char jwt_public_key_alg[CONFIG_STR_MAX];  /* its algorithm; empty: from its type */
    char jwt_jwks_cache_dir[CONFIG_STR_MAX];  /* shared cache of the URL's keys; empty: none */
    int jwt_jwks_max_age;         /* seconds keys live without Cache-Control, and at most */
    int jwt_jwks_min_interval;    /* seconds between two fetches of the URL */
    int jwt_jwks_timeout;         /* seconds for one fetch */
    char jwt_typ[CONFIG_STR_MAX]; /* required header typ; empty: JWT, at+jwt or none */
    char jwt_identity_claim[CONFIG_STR_MAX]; /* claim naming the user at the provider */
    char jwt_name_claims[CONFIG_STR_MAX];    /* claims tried, in order, for a new user's name */

    /* HTTP API */
    int max_body_bytes;
    char public_ws_url[CONFIG_STR_MAX]; /* what socket-token answers point at */

    /* Media uploads (pictures and videos in GridFS) */
    char media_secret[CONFIG_STR_MAX]; /* key of media id MACs; empty: derived from jwt_secret */
    int media_max_image_bytes;
    int media_max_video_bytes;
    int media_max_pixels;          /* width x height of an image, checked before decoding */
    int media_uploads_per_hour;    /* per user; 0: no limit */
    int media_quota_mb;            /* MiB one user may keep stored; 0: no limit */
    int media_unreferenced_ttl;    /* seconds before `chatctl media-gc` removes unsent uploads */
    unsigned char media_key[32];   /* derived at load from media_secret or jwt_secret */

    /* Relay */
    char relay_host[CONFIG_STR_MAX];
    int relay_port;
    int relay_workers;                    /* database worker threads */
    char allowed_origins[CONFIG_STR_MAX]; /* comma separated; empty: none */
    int max_connections;
    int max_message_bytes;
    int max_text_chars;
    int rate_per_sec;
    int rate_burst;
    int max_outbuf_bytes;
    int handshake_timeout; /* seconds */
    int max_handshakes;    /* connections in the HTTP stage; 0: a quarter of max_connections */
    int max_handshakes_per_address; /* per IPv4 address or IPv6 /64; 0: no limit */
    int handshake_limit_loopback;   /* 1: the per-address limit applies to loopback peers too */
    int max_connections_per_user;   /* open WebSockets of one user; 0: no limit */
    int ping_interval;              /* seconds */
    int pong_timeout;               /* seconds */
    int max_rooms_per_conn;
    int write_batch_max;      /* messages per insertMany */
    int max_pending_messages; /* relay: messages waiting for MongoDB before sends are refused */
    char redis_url[CONFIG_STR_MAX]; /* empty: run alone */

    char log_level[CONFIG_STR_MAX]; /* debug, info, warn, error */
};

/*
 * config_load: fill *cfg from defaults, the file at `path` (NULL: CHAT_CONFIG
 * or the default path) and the environment. A missing file is an error only
 * when required keys are then missing. Returns 0, or ERR_INVALID with a
 * one-line message naming the key (or file) in errbuf.
 */
int config_load(struct config *cfg, const char *path, char *errbuf, size_t errlen);

/* config_load_or_exit: config_load, and on failure print the line and exit(2). */
void config_load_or_exit(struct config *cfg, const char *program);

/*
 * config_value: the value of key `name` in *cfg as text (a number in
 * decimal), unmasked, into buf. Returns 0, ERR_NOT_FOUND for a key the
 * config does not have, or ERR_INVALID when buf is too small.
 */
int config_value(const struct config *cfg, const char *name, char *buf, size_t cap);

/* config_dump: write every key and its value to a stream, secrets and the
 * passwords inside URLs (mongo_uri, ferretdb_postgresql_url) masked. */
void config_dump(const struct config *cfg, FILE *out);

#endif
