# conf.sh - sourced by the project's shell scripts (migrate.sh, the test and
# bench scripts, the dev stack) so they read settings exactly as the C
# programs do. Not a migration: migrate.sh only runs files in mysql/,
# mongo/, data/ and ferretdb-pg/.
#
# The caller sets CONF to the config file's path first.

# conf_get KEY: the effective value of KEY (CHAT_<KEY> in the environment
# wins over the file; the last line of the file wins over earlier ones).
conf_get() {
    local env="CHAT_${1^^}"
    if [[ -n ${!env:-} ]]; then
        printf '%s' "${!env}"
        return
    fi
    [[ -r $CONF ]] || return 0
    sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\(.*\)$/\1/p" "$CONF" | tail -n1 |
        sed 's/[[:space:]]*$//'
}

# mysql_defaults_write FILE [DATABASE]: a MariaDB client options file for
# the configured account, so the password reaches the client through a
# private file and never its command line (where ps would show it).
mysql_defaults_write() {
    local sock
    : >"$1"
    chmod 600 "$1"
    {
        echo "[client]"
        echo "user=$(conf_get mysql_user)"
        echo "password=$(conf_get mysql_password)"
        sock=$(conf_get mysql_socket)
        if [[ -n $sock && -S $sock ]]; then
            echo "socket=$sock"
        else
            echo "host=$(conf_get mysql_host)"
            echo "port=$(conf_get mysql_port)"
            echo "protocol=tcp"
        fi
        [[ -z ${2:-} ]] || echo "database=$2"
        echo "default-character-set=utf8mb4"
    } >"$1"
}
