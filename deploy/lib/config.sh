# config.sh - sourced by the project's shell scripts (migrate.sh, the dev
# stack, the deploy tests, testdb.sh, the bench) so that they read the
# settings exactly as the C programs do. There is one reader: `chatctl
# config get`, which runs the programs' own loader (config_load: built-in
# default, then the file, then CHAT_<KEY>), so no script parses the file or
# knows a default, and an unknown key or a bad value fails here as it would
# fail the programs. Not a migration: migrate.sh only runs files in mysql/,
# mongo/, data/ and ferretdb-pg/.
#
# The file is CONF when the caller sets it, else CHAT_CONFIG, else
# /etc/chat/chat.conf. chatctl is looked for in CHAT_BIN_DIR, then in
# BIN_DIR (the stack's), then in this checkout's build/rel/bin and
# build/san/bin, then on PATH: the scripts need it built first (make does
# that before it runs them).

CONF_LIB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CONF_CHATCTL=${CONF_CHATCTL:-}

# conf_chatctl: the path of chatctl, found once; false when there is none.
conf_chatctl() {
    local d
    if [[ -z $CONF_CHATCTL ]]; then
        for d in "${CHAT_BIN_DIR:-}" "${BIN_DIR:-}" "$CONF_LIB_ROOT/build/rel/bin" "$CONF_LIB_ROOT/build/san/bin"; do
            [[ -n $d && -x $d/chatctl ]] && { CONF_CHATCTL=$d/chatctl; break; }
        done
        [[ -n $CONF_CHATCTL ]] || CONF_CHATCTL=$(command -v chatctl) || CONF_CHATCTL=""
    fi
    [[ -n $CONF_CHATCTL ]] && { echo "$CONF_CHATCTL"; return 0; }
    echo "config: chatctl not found (build it with make, or set CHAT_BIN_DIR)" >&2
    return 1
}

# conf_get KEY...: the effective value of each KEY, one a line. Fails, with
# the loader's one-line reason on stderr, on an unknown key or a config
# that does not load.
conf_get() {
    local tool
    tool=$(conf_chatctl) || return 1
    if [[ -n ${CONF:-} ]]; then
        CHAT_CONFIG=$CONF "$tool" config get "$@"
    else
        "$tool" config get "$@"
    fi
}

# conf_check: the config loads (every program would start with it).
conf_check() { conf_get log_level >/dev/null; }

# conf_option_value VALUE: VALUE quoted for a MariaDB option file, where a
# bare value ends at a `#` and loses surrounding blanks.
conf_option_value() {
    local v=${1//\\/\\\\}
    printf '"%s"' "${v//\"/\\\"}"
}

# mysql_defaults_write FILE [DATABASE]: a MariaDB client options file for
# the configured account, so the password reaches the client through a
# private file and never its command line (where ps would show it).
mysql_defaults_write() {
    local user pw sock host port
    : >"$1"
    chmod 600 "$1"
    { read -r user && IFS= read -r pw && IFS= read -r sock && read -r host && read -r port; } < <(
        conf_get mysql_user mysql_password mysql_socket mysql_host mysql_port
    ) || return 1
    {
        echo "[client]"
        echo "user=$(conf_option_value "$user")"
        echo "password=$(conf_option_value "$pw")"
        if [[ -n $sock && -S $sock ]]; then
            echo "socket=$(conf_option_value "$sock")"
        else
            echo "host=$(conf_option_value "$host")"
            echo "port=$port"
            echo "protocol=tcp"
        fi
        [[ -z ${2:-} ]] || echo "database=$(conf_option_value "$2")"
        echo "default-character-set=utf8mb4"
    } >"$1"
}
