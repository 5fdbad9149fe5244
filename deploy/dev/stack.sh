#!/usr/bin/env bash
# stack.sh - the local development/test stack, everything under var/.
#
#   stack.sh up                  start what is not running and healthy
#   stack.sh down                stop everything this script started
#   stack.sh status              what runs, with pids and ports
#   stack.sh start|stop|restart COMPONENT   one of: mariadb postgres ferretdb relay lighttpd
#                                redis, or relayN (N >= 2) for one relay of several
#   RELAYS=N stack.sh up         N relay processes sharing the relay port (see below)
#
# Every process is tracked by a pid file in var/run/ and stopped by that pid
# only, never by name. CHAT_BIN_DIR names the directory of our binaries
# (release or sanitizer build); when it changes, `up` restarts the relay and
# lighttpd so the stack runs the binaries that were asked for. The same holds
# for the databases they use (mysql_database, mongo_database, e.g. from
# CHAT_MYSQL_DATABASE): `make test` points the stack at its own throw-away
# databases and back (var/run/databases records the ones in use).
#
# Settings are read through `chatctl config get` (deploy/lib/config.sh), the
# programs' own loader, so chatctl must be built first: make builds before
# it calls this script. Stopping needs no setting: what runs is known by
# its pid file.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VAR=${CHAT_VAR_DIR:-$ROOT/var}
RUN=$VAR/run
LOG=$VAR/log
CONF=$VAR/chat.conf
BIN_DIR=${CHAT_BIN_DIR:-$(cat "$RUN/bindir" 2>/dev/null || echo "$ROOT/build/rel/bin")}

MARIADB_PORT=3307
POSTGRES_PORT=5433
FERRETDB_PORT=27018
WEB_PORT=8080
REDIS_PORT=6380

mkdir -p "$RUN" "$LOG"
export CHAT_CONFIG=$CONF

# Sanitizer reports from any of our processes land in var/log/ where the
# tests look for them; a clean run leaves no asan.* or ubsan.* file.
export ASAN_OPTIONS=${ASAN_OPTIONS:-log_path=$LOG/asan:detect_leaks=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-log_path=$LOG/ubsan:print_stacktrace=1}

say() { printf 'stack: %s\n' "$*"; }
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

# shellcheck source=../lib/config.sh
. "$ROOT/deploy/lib/config.sh"
# shellcheck source=../lib/procs.sh
. "$ROOT/deploy/lib/procs.sh"

# ---------------------------------------------------------------- config

# write_config: the config on first use; then check that it loads, so that
# no component starts on settings the programs would refuse.
write_config() {
    if [[ -f $CONF ]]; then
        conf_check || die "$CONF does not load (see above)"
        config_add_pg_url
        return 0
    fi
    umask 077
    cat >"$CONF" <<EOF
# Written by deploy/dev/stack.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ) for the local stack.
# Every key is described in README.md; CHAT_<KEY> in the environment overrides a line.
jwt_secret = $(openssl rand -hex 32)
dev_login = 1
mysql_host = 127.0.0.1
mysql_port = $MARIADB_PORT
mysql_socket = $RUN/mysqld.sock
mysql_user = chat
mysql_password = $(openssl rand -hex 16)
mysql_database = chat
mongo_uri = mongodb://127.0.0.1:$FERRETDB_PORT/
mongo_database = chat
ferretdb_postgresql_url = $(pg_fresh_url)
relay_host = 127.0.0.1
relay_port = 8090
public_ws_url = ws://127.0.0.1:$WEB_PORT/ws
allowed_origins = http://127.0.0.1:$WEB_PORT,http://localhost:$WEB_PORT
EOF
    umask 022
    say "wrote $CONF (fresh JWT secret and database password)"
    conf_check || die "$CONF does not load (see above)"
}

pg_fresh_url() { echo "postgres://ferretdb:$(openssl rand -hex 16)@127.0.0.1:$POSTGRES_PORT/ferretdb"; }

# A config written before FerretDB moved to PostgreSQL has no
# ferretdb_postgresql_url; our FerretDB needs one, so it is added once.
config_add_pg_url() {
    own_ferretdb && [[ -z $(conf_get ferretdb_postgresql_url) ]] || return 0
    grep -q '^[[:space:]]*ferretdb_postgresql_url[[:space:]]*=' "$CONF" 2>/dev/null && return 0
    printf '# Added by deploy/dev/stack.sh on %s: FerretDB stores messages in PostgreSQL.\nferretdb_postgresql_url = %s\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(pg_fresh_url)" >>"$CONF"
    say "added ferretdb_postgresql_url to $CONF"
}

# Our own MariaDB/FerretDB run only when the config names them; a config or
# environment that points elsewhere means an existing server is used.
own_mariadb() { [[ $(conf_get mysql_port) == "$MARIADB_PORT" && $(conf_get mysql_host) =~ ^(127\.0\.0\.1|localhost)$ ]]; }
own_ferretdb() { [[ $(conf_get mongo_uri) == "mongodb://127.0.0.1:$FERRETDB_PORT/" ]]; }
# Our PostgreSQL runs for our FerretDB when its URL names the private port.
own_postgres() { own_ferretdb && pg_url_parse && [[ $PG_HOST =~ ^(127\.0\.0\.1|localhost)$ && $PG_PORT == "$POSTGRES_PORT" ]]; }
own_redis() { [[ $(conf_get redis_url) == "redis://127.0.0.1:$REDIS_PORT" ]]; }

# ---------------------------------------------------------------- process helpers
# (pid_of, wait_until, port_open, port_free_or_die, proc_start, stop_pid and
# failed_start are deploy/lib/procs.sh's)

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }
# http_answers URL: any HTTP response at all (the page may not exist yet).
http_answers() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1") != 000 ]]; }

# ---------------------------------------------------------------- MariaDB

mariadb_root() { mariadb --no-defaults --socket="$RUN/mysqld.sock" -uroot "$@"; }

start_mariadb() {
    own_mariadb || { say "mariadb: using the server named in the config"; return 0; }
    local data=$VAR/mysql log=$LOG/mariadb.log
    if pid_of mariadb >/dev/null; then
        if mariadb-admin --no-defaults --socket="$RUN/mysqld.sock" -uroot ping >/dev/null 2>&1; then
            mariadb_account
            return 0
        fi
        stop_pid mariadb   # alive but not answering: start it afresh
    fi
    if [[ ! -d $data/mysql ]]; then
        say "mariadb: initialising $data"
        mkdir -p "$data"
        mariadb-install-db --no-defaults --datadir="$data" --auth-root-authentication-method=socket \
            --auth-root-socket-user="$(id -un)" --skip-test-db --user="$(id -un)" >"$LOG/mariadb-install.log" 2>&1 ||
            failed_start "mariadb-install-db" "$LOG/mariadb-install.log"
    fi
    local as_root=()
    [[ $(id -u) -eq 0 ]] && as_root=(--user=root)
    proc_start mariadb "$MARIADB_PORT" "$log" 60 \
        'mariadb-admin --no-defaults --socket="$RUN/mysqld.sock" -uroot ping' -- \
        mariadbd --no-defaults --datadir="$data" --port="$MARIADB_PORT" --bind-address=127.0.0.1 \
        --socket="$RUN/mysqld.sock" --pid-file="$RUN/mariadb.pid" --log-error="$log" \
        --default-time-zone=+00:00 --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
        --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=2 --max-connections=500 \
        --skip-name-resolve "${as_root[@]}"
    mariadb_account
    say "mariadb: up on 127.0.0.1:$MARIADB_PORT (socket $RUN/mysqld.sock)"
}

# sql_name_ok WHAT NAME: NAME may be written into SQL as an identifier or
# account name (letters, digits, _ $ -), or the script stops.
sql_name_ok() {
    [[ $2 =~ ^[A-Za-z0-9_$-]{1,64}$ ]] || die "mariadb: $1 '$2' is not letters, digits, _ \$ and - only"
}

# mysql_password_hash PASSWORD: the mysql_native_password hash of it
# (*HEX of SHA-1 of SHA-1), so that the SQL carries that and never the
# password, whatever characters it holds.
mysql_password_hash() {
    local h
    h=$(printf '%s' "$1" | openssl dgst -sha1 -binary | openssl dgst -sha1 -hex | sed 's/^.*= *//')
    printf '*%s' "${h^^}"
}

# mariadb_account: (re)state the application account and its grants; cheap
# and idempotent, so every `up` runs it and a changed password takes effect.
mariadb_account() {
    # The password lives only in var/chat.conf; the SQL gets its hash.
    local pw db user hash own_db="" seen="" file_db
    { read -r user && IFS= read -r pw; } < <(conf_get mysql_user mysql_password) ||
        die "mariadb: cannot read mysql_user and mysql_password from $CONF"
    sql_name_ok mysql_user "$user"
    hash=$(mysql_password_hash "$pw")
    # The database in effect and the one the config file names (the dev
    # data, which a test run overrides in the environment but whose
    # isolation it checks). A test run's database (chat_test_*,
    # tests/testdb.sh) is made and dropped by the run under the pattern
    # grant below; a grant naming it would outlive it.
    file_db=$(unset CHAT_MYSQL_DATABASE && conf_get mysql_database)
    for db in "$(conf_get mysql_database)" "$file_db"; do
        [[ -z $db || $db == chat_test_* || $db == "$seen" ]] && continue
        sql_name_ok mysql_database "$db"
        seen=$db
        own_db+="CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
GRANT ALL PRIVILEGES ON \`$db\`.* TO '$user'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`$db\`.* TO '$user'@'localhost';
"
    done
    mariadb_root <<SQL || failed_start "mariadb (account set-up)" "$LOG/mariadb.log"
CREATE USER IF NOT EXISTS '$user'@'127.0.0.1' IDENTIFIED BY PASSWORD '$hash';
CREATE USER IF NOT EXISTS '$user'@'localhost' IDENTIFIED BY PASSWORD '$hash';
ALTER USER '$user'@'127.0.0.1' IDENTIFIED BY PASSWORD '$hash';
ALTER USER '$user'@'localhost' IDENTIFIED BY PASSWORD '$hash';
$own_db
-- Tests create throw-away databases named chat_test_*.
GRANT ALL PRIVILEGES ON \`chat\\_test\\_%\`.* TO '$user'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`chat\\_test\\_%\`.* TO '$user'@'localhost';
GRANT PROCESS ON *.* TO '$user'@'127.0.0.1';
GRANT PROCESS ON *.* TO '$user'@'localhost';
SQL
}

# Stopping goes by pid file alone: it exists only for what we started.
stop_mariadb() { stop_pid mariadb; }

# ---------------------------------------------------------------- PostgreSQL
#
# FerretDB's storage: a private cluster in var/postgres that nothing else
# uses, on 127.0.0.1:$POSTGRES_PORT, with its Unix socket in the data
# directory (only this script's administration uses the socket). FerretDB
# signs in with the account of ferretdb_postgresql_url (password over TCP);
# the cluster's superuser is reached only through the socket, by the
# system user who owns the cluster. PostgreSQL refuses to run as root: as
# root, the cluster belongs to and runs as Debian's `postgres` user.

# pg_url_parse: split ferretdb_postgresql_url into PG_USER, PG_PASSWORD,
# PG_HOST, PG_PORT, PG_DB; false when it is not such a URL.
pg_url_parse() {
    local re='^postgres(ql)?://([A-Za-z0-9_]+)(:([^@/]*))?@([^:/?]+)(:([0-9]+))?/([A-Za-z0-9_]+)([?].*)?$'
    [[ $(conf_get ferretdb_postgresql_url) =~ $re ]] || return 1
    PG_USER=${BASH_REMATCH[2]} PG_PASSWORD=${BASH_REMATCH[4]} PG_HOST=${BASH_REMATCH[5]}
    PG_PORT=${BASH_REMATCH[7]:-5432} PG_DB=${BASH_REMATCH[8]}
}

# pg_bin: the directory of Debian's newest PostgreSQL server programs.
pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
    [[ -x $d/postgres ]] || die "postgres: no PostgreSQL server in /usr/lib/postgresql; run deploy/dev/deps.sh (make run does)"
    echo "$d"
}

if [[ $(id -u) -eq 0 ]]; then
    PG_OS_USER=postgres
    PG_AS=(setpriv --reuid=postgres --regid=postgres --init-groups --)
else
    PG_OS_USER=$(id -un)
    PG_AS=()
fi

# pg_can NAME...: the cluster's owner may search every directory named.
pg_can() {
    local d
    for d in "$@"; do (cd / && "${PG_AS[@]}" test -x "$d") 2>/dev/null || return 1; done
}

# pg_data_dir: print the data directory's real path, created (empty) if
# missing.
# The cluster's owner must reach it; a checkout inside a directory it cannot
# enter (/root, some CI workspaces) hides var/, and then var/postgres is a
# link to /var/lib/chat-dev/postgres-<hash of the var path>, a directory
# under one that root owns. Only the link points there: when var/postgres
# has gone (`rm -rf var`), whatever that directory held is discarded.
pg_data_dir() {
    local link=$VAR/postgres alt base=/var/lib/chat-dev
    if [[ -d $link ]] && pg_can "$link"; then
        (cd "$link" && pwd -P)
        return
    fi
    if [[ ! -e $link && ! -L $link ]] && pg_can "$VAR"; then
        mkdir -p "$link" && chmod 0700 "$link" && chown "$PG_OS_USER:" "$link" || die "postgres: cannot create $link"
        echo "$link"
        return
    fi
    [[ $(id -u) -eq 0 ]] || die "postgres: $link is not usable"
    alt=$base/postgres-$(printf '%s' "$VAR" | sha256sum | cut -c1-12)
    if [[ -d $link && ! -L $link ]]; then
        # A cluster made while the checkout was reachable: move it out.
        say "postgres: $link cannot be reached by $PG_OS_USER; moving it to $alt" >&2
        rm -rf "$alt" && mkdir -p "$base" && mv "$link" "$alt" || die "postgres: cannot move $link to $alt"
    elif [[ ! -L $link ]]; then
        rm -rf "$alt"
    fi
    mkdir -p "$base" "$alt" || die "postgres: cannot create $alt"
    [[ ! -L $base && $(stat -c %u "$base") == 0 ]] || die "postgres: $base is not a directory of root's"
    chmod 0755 "$base" && chmod 0700 "$alt" && chown "$PG_OS_USER:" "$alt" || die "postgres: cannot prepare $alt"
    [[ -L $link && $(readlink "$link") != "$alt" ]] && rm -f "$link"
    [[ -L $link ]] || ln -s "$alt" "$link" || die "postgres: cannot link $link to $alt"
    echo "$alt"
}

# pg_ready: the server accepts connections on its TCP port (asking as
# FerretDB's account, so that the server logs nothing about it).
pg_ready() { pg_isready -q -h 127.0.0.1 -p "$POSTGRES_PORT" -U "$PG_USER" -d "$PG_DB"; }

# pg_admin DATA_DIR: psql as the cluster's superuser over its socket.
pg_admin() {
    local data=$1
    shift
    (cd / && "${PG_AS[@]}" psql -X -q -v ON_ERROR_STOP=1 -h "$data" -p "$POSTGRES_PORT" \
        -U "$PG_OS_USER" -d postgres "$@")
}

start_postgres() {
    if ! own_postgres; then
        own_ferretdb && say "postgres: FerretDB uses the PostgreSQL named in ferretdb_postgresql_url"
        return 0
    fi
    local log=$LOG/postgres.log data bin fresh=0
    data=$(pg_data_dir) || exit 1
    if pid_of postgres >/dev/null; then
        if pg_ready; then
            postgres_account "$data"
            return 0
        fi
        stop_postgres # alive but not answering: start it afresh
    fi
    bin=$(pg_bin) || exit 1
    if [[ ! -f $data/PG_VERSION ]]; then
        say "postgres: initialising $data"
        (cd / && "${PG_AS[@]}" "$bin/initdb" -D "$data" -U "$PG_OS_USER" --auth-local=peer \
            --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8) >"$LOG/postgres-initdb.log" 2>&1 ||
            failed_start "initdb" "$LOG/postgres-initdb.log"
        fresh=1
    fi
    # No log collector: the log is this process's stderr. plan_cache_mode:
    # FerretDB prepares one statement per query shape, with the field name
    # as a parameter; a generic plan of it (which PostgreSQL may settle on
    # after five runs) cannot match the GIN expression indexes and reads the
    # whole table, so every run is planned with its values.
    proc_start postgres "$POSTGRES_PORT" "$log" 60 pg_ready -- \
        env -C / "${PG_AS[@]}" "$bin/postgres" -D "$data" -c listen_addresses=127.0.0.1 \
        -c port="$POSTGRES_PORT" -c unix_socket_directories="$data" -c logging_collector=off \
        -c log_line_prefix='%m [%p] ' -c plan_cache_mode=force_custom_plan
    postgres_account "$data"
    say "postgres: up on 127.0.0.1:$POSTGRES_PORT (data in $data)"
    if ((fresh)) && compgen -G "$VAR/ferretdb/*.sqlite" >/dev/null; then
        say "postgres: messages stored earlier in FerretDB's SQLite files ($VAR/ferretdb/) are not"
        say "          carried over; they are left as they were (README.md, \"Message store\")"
    fi
}

# postgres_account DATA_DIR: (re)state FerretDB's account and database from
# ferretdb_postgresql_url; idempotent, so a changed password takes effect.
postgres_account() {
    pg_url_parse || die "postgres: ferretdb_postgresql_url is not postgres://USER:PASSWORD@HOST:PORT/DATABASE"
    CHAT_PG_PASSWORD=$PG_PASSWORD pg_admin "$1" -v user="$PG_USER" -v db="$PG_DB" <<'SQL' ||
\getenv password CHAT_PG_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
        failed_start "postgres (account set-up)" "$LOG/postgres.log"
}

stop_postgres() { stop_pid postgres INT QUIT; }

# ---------------------------------------------------------------- FerretDB

mongo_ping() { "$BIN_DIR/chat-mongo-cmd" ping >/dev/null 2>&1 || port_open "$FERRETDB_PORT"; }

# FerretDB stores in PostgreSQL (ferretdb_postgresql_url): on SQLite it
# filters nothing in SQL but `_id`, so every query read the whole message
# collection; on PostgreSQL equality on chatRoomId reaches SQL and, with the
# GIN indexes of migrations/ferretdb-pg/, costs the size of the room.
start_ferretdb() {
    own_ferretdb || { say "ferretdb: using the MongoDB named in the config"; return 0; }
    local log=$LOG/ferretdb.log url
    url=$(conf_get ferretdb_postgresql_url)
    [[ -n $url ]] || die "ferretdb: ferretdb_postgresql_url is not set in $CONF"
    if own_postgres && ! pid_of postgres >/dev/null; then
        start_postgres
    fi
    local pid
    if pid=$(pid_of ferretdb) && port_open "$FERRETDB_PORT"; then
        # One started before the move to PostgreSQL still serves SQLite.
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- '--handler=postgresql' && return 0
        say "ferretdb: the running one stores in SQLite; restarting it on PostgreSQL"
    fi
    stop_pid ferretdb
    [[ -x $VAR/bin/ferretdb ]] || die "ferretdb: $VAR/bin/ferretdb is missing; run deploy/dev/deps.sh (make run does)"
    mkdir -p "$VAR/ferretdb-state"
    # The URL (with its password) goes through the environment, not argv.
    FERRETDB_POSTGRESQL_URL=$url proc_start ferretdb "$FERRETDB_PORT" "$log" 30 \
        "port_open $FERRETDB_PORT" -- "$VAR/bin/ferretdb" --handler=postgresql \
        --state-dir="$VAR/ferretdb-state" --listen-addr="127.0.0.1:$FERRETDB_PORT" \
        --debug-addr=127.0.0.1:27019 --telemetry=disable --log-level=warn
    say "ferretdb: up on 127.0.0.1:$FERRETDB_PORT (stores in PostgreSQL)"
}

stop_ferretdb() { stop_pid ferretdb; }

# ---------------------------------------------------------------- Redis

start_redis() {
    own_redis || return 0
    local log=$LOG/redis.log
    if pid_of redis >/dev/null && port_open "$REDIS_PORT"; then
        return 0
    fi
    stop_pid redis
    mkdir -p "$VAR/redis"
    proc_start redis "$REDIS_PORT" "$log" 20 "port_open $REDIS_PORT" -- \
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$VAR/redis" --save '' \
        --appendonly no --daemonize no --logfile ''
    say "redis: up on 127.0.0.1:$REDIS_PORT"
}

stop_redis() { stop_pid redis; }

# ---------------------------------------------------------------- relay
#
# RELAYS=N (`make run RELAYS=2`) starts N relay processes on the one relay
# port (SO_REUSEPORT; the kernel spreads connections over them): relay,
# relay2, ... relayN, each with its own pid file and log. `up` without
# RELAYS runs one; the number is remembered in var/run/relays so status,
# start, stop and down see the same set. Several
# relays need Redis to reach each other's members: when redis_url is not
# configured, N > 1 uses the private redis-server on $REDIS_PORT.

relay_port() { conf_get relay_port; }

relay_count() {
    local n=${RELAYS:-$(cat "$RUN/relays" 2>/dev/null || echo 1)}
    [[ $n =~ ^[1-9][0-9]?$ ]] || die "RELAYS must be a number from 1 to 99 (got '$n')"
    echo "$n"
}

relay_name() { if (($1 == 1)); then echo relay; else echo "relay$1"; fi; }

# relay_names: every relay with a pid file, plus the configured number.
relay_names() {
    local n i f names=()
    n=$(relay_count)
    for ((i = 1; i <= n; i++)); do names+=("$(relay_name "$i")"); done
    for f in "$RUN"/relay[0-9]*.pid; do
        [[ -e $f ]] || continue
        f=$(basename "$f" .pid)
        [[ " ${names[*]} " == *" $f "* ]] || names+=("$f")
    done
    echo "${names[@]}"
}

need_redis_for_relays() {
    (($(relay_count) > 1)) || return 0
    [[ -n $(conf_get redis_url) ]] && return 0
    export CHAT_REDIS_URL=redis://127.0.0.1:$REDIS_PORT
    say "RELAYS=$(relay_count) without redis_url: using $CHAT_REDIS_URL"
}

# listens PID PORT: that process holds a listening socket on PORT.
listens() { ss -ltnpH "sport = :$2" 2>/dev/null | grep -q "pid=$1,"; }

# port_ours PORT: every listener on PORT is one of our relays.
port_ours() {
    local pids p name
    pids=$(ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
    [[ -n $pids ]] || return 1
    for p in $pids; do
        local ok=1
        for name in $(relay_names); do
            [[ $(pid_of "$name" 2>/dev/null) == "$p" ]] && ok=0
        done
        ((ok == 0)) || return 1
    done
}

start_relay_one() {
    local name=$1 log=$LOG/$1.log port pid
    port=$(relay_port)
    if pid=$(pid_of "$name") && listens "$pid" "$port"; then
        return 0
    fi
    stop_pid "$name"
    [[ -x $BIN_DIR/chat-relay ]] || die "relay: $BIN_DIR/chat-relay is not built (run make)"
    # The port may be shared with our other relays (SO_REUSEPORT), so it is
    # checked here rather than by proc_start; ready: this very process
    # listens and a relay answers /healthz.
    port_ours "$port" || port_free_or_die "$name" "$port"
    proc_start "$name" 0 "$log" 20 \
        "listens \$(<\"\$RUN/$name.pid\") $port && http_ok http://127.0.0.1:$port/healthz" -- \
        "$BIN_DIR/chat-relay"
    say "$name: up on 127.0.0.1:$port (pid $(pid_of "$name"))"
}

start_relay() {
    local n i name previous
    n=$(relay_count)
    need_redis_for_relays
    previous=$(cat "$RUN/relays" 2>/dev/null || echo 1)
    if [[ $previous != "$n" ]]; then
        # One relay runs without Redis, several with it: restart them all.
        say "relays: $previous -> $n, restarting the relays"
        stop_relay
    fi
    echo "$n" >"$RUN/relays"
    # Relays beyond the number asked for are stopped.
    for name in $(relay_names); do
        [[ $name == relay ]] && continue
        ((${name#relay} > n)) && stop_pid "$name"
    done
    for ((i = 1; i <= n; i++)); do start_relay_one "$(relay_name "$i")"; done
}

stop_relay() {
    local name
    for name in $(relay_names); do stop_pid "$name"; done
}

# ---------------------------------------------------------------- lighttpd

render_lighttpd() {
    sed -e "s|@ROOT@|$ROOT|g" -e "s|@VAR@|$VAR|g" -e "s|@BIN@|$BIN_DIR|g" \
        -e "s|@PORT@|$WEB_PORT|g" -e "s|@RELAY_PORT@|$(relay_port)|g" \
        -e "s|@ASAN_OPTIONS@|$ASAN_OPTIONS|g" -e "s|@UBSAN_OPTIONS@|$UBSAN_OPTIONS|g" \
        "$ROOT/deploy/dev/lighttpd.conf.in" >"$VAR/lighttpd.conf"
}

start_lighttpd() {
    local log=$LOG/lighttpd-error.log
    if pid_of lighttpd >/dev/null && http_answers "http://127.0.0.1:$WEB_PORT/"; then
        return 0
    fi
    stop_pid lighttpd
    mkdir -p "$VAR/lighttpd"
    render_lighttpd
    lighttpd -tt -f "$VAR/lighttpd.conf" >"$LOG/lighttpd-check.log" 2>&1 ||
        failed_start "lighttpd (config check)" "$LOG/lighttpd-check.log"
    proc_start lighttpd "$WEB_PORT" "$log" 20 "http_answers http://127.0.0.1:$WEB_PORT/" -- \
        lighttpd -D -f "$VAR/lighttpd.conf"
    say "lighttpd: up on 127.0.0.1:$WEB_PORT"
}

stop_lighttpd() { stop_pid lighttpd; }

# ---------------------------------------------------------------- whole stack

# serving: a relay or lighttpd runs.
serving() {
    local name
    for name in $(relay_names) lighttpd; do
        pid_of "$name" >/dev/null && return 0
    done
    return 1
}

migrate() {
    CHAT_BIN_DIR=$BIN_DIR "$ROOT/migrations/migrate.sh" || die "migrations failed (see above)"
}

up() {
    # `up` (make run) runs RELAYS relays, 1 unless asked; other commands
    # act on the number the last `up` recorded.
    RELAYS=${RELAYS:-1}
    write_config
    local previous dbs previous_dbs
    previous=$(cat "$RUN/bindir" 2>/dev/null || true)
    dbs="$(conf_get mysql_database) $(conf_get mongo_database)"
    previous_dbs=$(cat "$RUN/databases" 2>/dev/null || true)
    if [[ -n $previous && $previous != "$BIN_DIR" ]]; then
        say "binaries changed ($previous -> $BIN_DIR): restarting relay and lighttpd"
        stop_lighttpd
        stop_relay
    elif [[ $previous_dbs != "$dbs" ]] && serving; then
        # Unrecorded counts as changed: the running ones may use any.
        say "databases changed (${previous_dbs:-not recorded} -> $dbs): restarting relay and lighttpd"
        stop_lighttpd
        stop_relay
    fi
    echo "$BIN_DIR" >"$RUN/bindir"
    echo "$dbs" >"$RUN/databases"
    need_redis_for_relays
    start_mariadb
    start_postgres
    start_ferretdb
    start_redis
    migrate
    start_relay
    start_lighttpd
    local store=""
    own_postgres && store="   (stored in PostgreSQL, 127.0.0.1:$POSTGRES_PORT)"
    cat <<EOF

  chat page          http://127.0.0.1:$WEB_PORT/
  HTTP API           http://127.0.0.1:$WEB_PORT/api/v1/
  WebSocket          ws://127.0.0.1:$WEB_PORT/ws   (relay direct: ws://127.0.0.1:$(relay_port)/ws)
  relay health       http://127.0.0.1:$(relay_port)/healthz   metrics: /metrics
  MariaDB            127.0.0.1:$MARIADB_PORT, socket $RUN/mysqld.sock
  MongoDB (FerretDB) mongodb://127.0.0.1:$FERRETDB_PORT/$store
  config             $CONF
  logs               $LOG/

EOF
}

down() {
    stop_lighttpd
    stop_relay
    rm -f "$RUN/databases"   # what the stopped relay and lighttpd used
    stop_redis
    stop_ferretdb
    stop_postgres
    stop_mariadb
}

status() {
    local c pid rc=0
    for c in mariadb postgres ferretdb redis $(relay_names) lighttpd; do
        if pid=$(pid_of "$c"); then
            printf '  %-9s running  pid %s\n' "$c" "$pid"
        else
            printf '  %-9s stopped\n' "$c"
            [[ $c == redis ]] || rc=3
        fi
    done
    printf '  binaries  %s\n' "$(cat "$RUN/bindir" 2>/dev/null || echo '(none yet)')"
    local mysql_db mongo_db
    if [[ -f $RUN/databases ]] && read -r mysql_db mongo_db <"$RUN/databases"; then
        printf '  databases MySQL %s, MongoDB %s\n' "$mysql_db" "$mongo_db"
    else
        printf '  databases (not recorded)\n'
    fi
    return $rc
}

component() {
    case $2 in
    mariadb | postgres | ferretdb | relay | lighttpd | redis) ;;
    relay[0-9]*)
        # One relay of several: start|stop|restart relayN alone.
        [[ ${2#relay} =~ ^[1-9][0-9]?$ ]] || die "unknown component '$2'"
        case $1 in
        start) write_config && need_redis_for_relays && start_relay_one "$2" ;;
        stop) stop_pid "$2" ;;
        restart) write_config && need_redis_for_relays && stop_pid "$2" && start_relay_one "$2" ;;
        esac
        return
        ;;
    *) die "unknown component '$2' (mariadb postgres ferretdb relay relayN lighttpd redis)" ;;
    esac
    case $1 in
    start) write_config && "start_$2" ;;
    stop) "stop_$2" ;;
    restart) write_config && "stop_$2" && "start_$2" ;;
    esac
}

case ${1:-} in
up) up ;;
down) down ;;
status) status ;;
start | stop | restart) [[ $# -eq 2 ]] || die "usage: $0 $1 COMPONENT"; component "$1" "$2" ;;
*) echo "usage: $0 up|down|status|start C|stop C|restart C" >&2; exit 2 ;;
esac
