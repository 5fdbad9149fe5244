#!/usr/bin/env bash
# deploy.sh - run the shipped web server configs as private test instances.
#
#   deploy.sh start INSTANCE    render the shipped config, check it, start the server
#   deploy.sh stop INSTANCE     stop it by its pid file (and wait until it is gone)
#   deploy.sh check INSTANCE    render and run the server's own config test only
#   deploy.sh render-units DIR  the systemd units and logrotate file, rendered
#                               with the test paths, into DIR
#   deploy.sh check-shipped     config tests of the shipped files as they are
#                               (example paths; only log directories redirected)
#   deploy.sh status            list running instances; exit 0 when none runs
#   deploy.sh stop-all          stop every instance this script started
#
# Instances (one port each, 127.0.0.1 only):
#   pools           spawn-fcgi pools of the four API programs, started with the
#                   ExecStart= line of deploy/systemd/chat-fcgi@.service
#   apache   8081   deploy/apache/chat.conf (mod_proxy_fcgi to the pools)
#   nginx    8082   deploy/nginx/chat.conf (fastcgi_pass to the pools)
#   lighttpd 8083   deploy/lighttpd/chat.conf, programs spawned by lighttpd
#   lighttpd-pools 8083  the same with fastcgi-pools.conf
#   cgi      8084   deploy/apache/chat-cgi.conf (mod_cgid)
#   fcgid    8084   deploy/apache/chat-fcgid.conf (mod_fcgid)
# apache and nginx need `pools` running; start does not start it for them.
#
# Everything lives under var/deploy/<instance>/ (rendered config, logs,
# runtime files; CHAT_DEPLOY_DIR replaces var/deploy); pid files are
# var/run/deploy-<instance>.pid. CHAT_DEPLOY_RELAY_PORT points /ws at
# another port than the relay's (to test a relay that is down). The shipped
# files use example install paths that are replaced here, see render(). The
# web servers run their workers as www-data, as on Debian; programs that
# run as www-data (CGI, fcgid, lighttpd-spawned) read a copy of the config
# that www-data may read (with the CHAT_<KEY> overrides of the environment
# written in), and write sanitizer reports to
# var/deploy/<instance>/sanitizer/, where the tests look for them.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VAR=${CHAT_VAR_DIR:-$ROOT/var}
RUN=$VAR/run
CONF=${CHAT_CONFIG:-$VAR/chat.conf}
BIN=${CHAT_BIN_DIR:-$(cat "$RUN/bindir" 2>/dev/null || echo "$ROOT/build/rel/bin")}
DEP=${CHAT_DEPLOY_DIR:-$VAR/deploy}
WEB_USER=www-data
POOL_NAMES=(rooms history token account media)
POOL_CHILDREN=2
INSTANCES=(apache nginx lighttpd lighttpd-pools cgi fcgid pools)
MODDIR=/usr/lib/apache2/modules

say() { printf 'deploy: %s\n' "$*"; }
die() { printf 'deploy: %s\n' "$*" >&2; exit 1; }

# shellcheck source=../lib/config.sh
. "$ROOT/deploy/lib/config.sh"
# shellcheck source=../lib/procs.sh
. "$ROOT/deploy/lib/procs.sh"

# The servers' workers run as www-data and must reach the page, the
# sockets and (lighttpd) their logs. A checkout inside a private directory
# such as /root hides them; then var/deploy becomes a link to a directory
# under /tmp that root owns, and the page is copied there.
WEB=$ROOT/web
www_can() { runuser -u "$WEB_USER" -- test "$@" 2>/dev/null; }
reachable_dep() {
    local orig=$DEP alt
    mkdir -p "$DEP" && DEP=$(cd "$DEP" && pwd -P) || die "cannot create $orig"
    if ! www_can -x "$DEP"; then
        alt=/tmp/chat-deploy-$(printf '%s' "$DEP" | sha256sum | cut -c1-12)
        mkdir -p "$alt" || die "cannot create $alt"
        [[ ! -L $alt && $(stat -c %u "$alt") == 0 ]] || die "$alt is not a directory of root's"
        chmod 0755 "$alt"
        rm -rf "$DEP" && ln -s "$alt" "$orig" || die "cannot link $orig to $alt"
        DEP=$alt
    fi
    if ! www_can -r "$ROOT/web/index.html"; then
        rm -rf "$DEP/web" && cp -r "$ROOT/web" "$DEP/web" && chmod -R a+rX "$DEP/web"
        WEB=$DEP/web
    fi
}

port_of() {
    case $1 in
    apache) echo 8081 ;; nginx) echo 8082 ;; lighttpd | lighttpd-pools) echo 8083 ;;
    cgi | fcgid) echo 8084 ;; *) echo 0 ;;
    esac
}

# relay_port: where /ws is proxied: CHAT_DEPLOY_RELAY_PORT (tests of a relay
# that is down), else the relay's port as the programs see it.
relay_port() {
    if [[ -n ${CHAT_DEPLOY_RELAY_PORT:-} ]]; then
        echo "$CHAT_DEPLOY_RELAY_PORT"
    else
        conf_get relay_port || die "cannot read relay_port from $CONF"
    fi
}

# pid_alive INSTANCE, stop_pidfile INSTANCE: deploy/lib/procs.sh's pid_of
# and stop_pid on var/run/deploy-INSTANCE.pid.
pid_alive() { pid_of "deploy-$1"; }
stop_pidfile() { stop_pid "deploy-$1"; }

# ------------------------------------------------------------------ rendering

# render SRC DST INSTANCE CONFIG_PATH: the shipped file with the example
# install paths of its header replaced by the test instance's.
render() {
    local src=$1 dst=$2 d=$DEP/$3 port
    port=$(port_of "$3")
    sed -e "s|/usr/local/share/chat/web|$WEB|g" \
        -e "s|/usr/local/lib/chat/bin|$BIN|g" \
        -e "s|/etc/chat/chat.conf|$4|g" \
        -e "s|/run/chat/|$DEP/pools/|g" \
        -e "s|/run/lighttpd/|$d/run/|g" \
        -e "s|/etc/lighttpd/chat/|$d/|g" \
        -e "s|/var/log/nginx/|$d/log/|g" \
        -e "s|/var/log/lighttpd/|$d/log/|g" \
        -e "s|/var/log/chat/|$d/log/|g" \
        -e "s|127\.0\.0\.1:8090|127.0.0.1:$(relay_port)|g" \
        -e "s|\"port\" => 8090|\"port\" => $(relay_port)|g" \
        -e "s|<VirtualHost \*:80>|<VirtualHost *:$port>|" \
        -e "s|^\([[:space:]]*\)listen 80;|\1listen 127.0.0.1:$port;|" \
        -e 's|chat\\\.example\\\.com|127\\.0\\.0\\.1|' \
        "$src" >"$dst"
}

# instance_dirs INSTANCE: fresh runtime directories; logs are kept across
# runs of one instance only until the next start (the tests read them after
# stop).
instance_dirs() {
    local d=$DEP/$1
    rm -rf "$d"
    mkdir -p "$d/log" "$d/run" "$d/tmp" "$d/sanitizer" "$RUN"
    # lighttpd opens its logs after it has become www-data (as on Debian).
    chown "$WEB_USER:$WEB_USER" "$d/log" "$d/run" "$d/tmp" "$d/sanitizer"
}

# www_config INSTANCE: a copy of the config that the web server's user can
# read (root:www-data 0640), as the README asks for these set-ups. Programs
# that Apache starts get none of our environment, so every CHAT_<KEY> of
# the environment that names a setting (the databases of `make test`, for
# one) is appended to the copy, where the last line of a key wins; the
# value is the one the loader reads, so the copy loads to what we see.
www_config() {
    local c=$DEP/$1/chat.conf key env value
    install -m 0640 -o root -g "$WEB_USER" "$CONF" "$c"
    for env in $(compgen -e); do
        [[ $env == CHAT_* ]] || continue
        key=${env#CHAT_}
        value=$(conf_get "${key,,}" 2>/dev/null) || continue   # not a setting
        printf '%s = %s\n' "${key,,}" "$value" >>"$c"
    done
    echo "$c"
}

sanitizer_env() {
    # $1: directory for reports; the stack's own settings otherwise.
    echo "log_path=$1/asan:detect_leaks=0:abort_on_error=0" "log_path=$1/ubsan:print_stacktrace=1"
}

apache_main() {
    # apache_main INSTANCE SITE MODULES...: a private top-level config in the
    # spirit of Debian's apache2.conf, loading only the modules named.
    local inst=$1 site=$2 d=$DEP/$1 port m asan ubsan
    port=$(port_of "$inst")
    shift 2
    read -r asan ubsan < <(sanitizer_env "$d/sanitizer")
    {
        echo "ServerRoot $d"
        echo "ServerName 127.0.0.1"
        echo "Listen 127.0.0.1:$port"
        echo "PidFile $RUN/deploy-$inst.pid"
        echo "DefaultRuntimeDir $d/run"
        echo "Mutex file:$d/run default"
        echo "ErrorLog $d/log/error.log"
        echo "LogLevel warn"
        echo "User $WEB_USER"
        echo "Group $WEB_USER"
        echo "Define APACHE_LOG_DIR $d/log"
        for m in mpm_event authz_core mime dir alias headers proxy proxy_http "$@"; do
            echo "LoadModule ${m}_module $MODDIR/mod_$m.so"
        done
        echo "TypesConfig /etc/mime.types"
        echo "StartServers 1"
        echo "ServerLimit 2"
        echo "ThreadsPerChild 16"
        echo "MaxRequestWorkers 32"
        echo "<Directory />"
        echo "    AllowOverride None"
        echo "    Require all denied"
        echo "</Directory>"
        case " $* " in
        *" cgid "*) echo "ScriptSock $d/run/cgid.sock"
                    echo "SetEnv ASAN_OPTIONS $asan"
                    echo "SetEnv UBSAN_OPTIONS $ubsan" ;;
        esac
        case " $* " in
        *" fcgid "*) echo "FcgidIPCDir $d/run/fcgid"
                     echo "FcgidProcessTableFile $d/run/fcgid_shm"
                     echo "FcgidInitialEnv ASAN_OPTIONS $asan"
                     echo "FcgidInitialEnv UBSAN_OPTIONS $ubsan" ;;
        esac
        echo "Include $site"
    } >"$d/httpd.conf"
}

nginx_main() {
    local d=$DEP/nginx
    cat >"$d/nginx.conf" <<CONF
user $WEB_USER;
worker_processes 1;
pid $RUN/deploy-nginx.pid;
error_log $d/log/error.log warn;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $d/log/default-access.log;
    client_body_temp_path $d/tmp/body;
    fastcgi_temp_path $d/tmp/fastcgi;
    proxy_temp_path $d/tmp/proxy;
    scgi_temp_path $d/tmp/scgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    include $1;
}
CONF
}

lighttpd_main() {
    # In the spirit of Debian's lighttpd.conf: a default document root for
    # other hosts, the site included after it; the error log goes through
    # deploy/log-redact.sh as README "Deploying" asks of lighttpd.conf.
    local inst=$1 d=$DEP/$1
    mkdir -p "$d/default-root"
    cat >"$d/lighttpd.conf" <<CONF
server.modules = ( "mod_indexfile", "mod_access", "mod_alias", "mod_redirect" )
server.document-root = "$d/default-root"
server.errorlog      = "|$ROOT/deploy/log-redact.sh $d/log/error.log"
server.upload-dirs   = ( "$d/tmp" )
server.username      = "$WEB_USER"
server.groupname     = "$WEB_USER"
server.bind          = "127.0.0.1"
server.port          = $(port_of "$inst")
include_shell "/usr/share/lighttpd/create-mime.conf.pl"
include "$2"
server.modules += ( "mod_staticfile" )
CONF
}

# pool_argv NAME: the ExecStart= of the shipped pool unit, rendered, for one
# program. The `-u chat -g chat` user change is dropped: the tests have no
# `chat` user and the programs run as root here, as in the dev stack.
pool_argv() {
    local unit=$DEP/pools/chat-fcgi@.service line
    render "$ROOT/deploy/systemd/chat-fcgi@.service" "$unit" pools "$CONF"
    line=$(sed -n 's/^ExecStart=//p' "$unit")
    line=${line//%i/$1}
    line=${line//'${CHAT_FCGI_CHILDREN}'/$POOL_CHILDREN}
    line=${line/ -u chat -g chat / }
    echo "$line"
}

# ------------------------------------------------------------------ instances

start_pools() {
    local d=$DEP/pools name argv
    mkdir -p "$d/log" "$RUN"
    export CHAT_CONFIG=$CONF
    read -r ASAN_OPTIONS UBSAN_OPTIONS < <(sanitizer_env "$VAR/log")
    export ASAN_OPTIONS UBSAN_OPTIONS
    for name in "${POOL_NAMES[@]}"; do
        pid_alive "pool-$name" >/dev/null && continue
        [[ -x $BIN/chat-$name ]] || die "pools: $BIN/chat-$name is not built"
        read -ra argv < <(pool_argv "$name")
        # Ready: the pool's socket is there (no TCP port to check).
        proc_start "deploy-pool-$name" 0 "$d/log/fcgi-$name.log" 10 "test -S $d/$name.sock" -- "${argv[@]}"
    done
    say "pools: up (${POOL_NAMES[*]}, $POOL_CHILDREN processes each, sockets in $d)"
}

stop_pools() {
    local name pid
    # TERM them all first: each takes a moment to wind down its children.
    for name in "${POOL_NAMES[@]}"; do
        pid=$(pid_alive "pool-$name") && kill -TERM "$pid" 2>/dev/null
    done
    for name in "${POOL_NAMES[@]}"; do
        stop_pidfile "pool-$name"
        rm -f "$DEP/pools/$name.sock"
    done
}

pools_up() {
    local name
    for name in "${POOL_NAMES[@]}"; do
        pid_alive "pool-$name" >/dev/null || die "$1 needs the FastCGI pools: deploy.sh start pools"
    done
}

# prepare INSTANCE: render the site and the top-level config; prints the
# command that tests the rendered config.
prepare() {
    local inst=$1 d=$DEP/$1 conf
    instance_dirs "$inst"
    case $inst in
    apache)
        render "$ROOT/deploy/apache/chat.conf" "$d/site.conf" "$inst" "$CONF"
        apache_main "$inst" "$d/site.conf" proxy_fcgi
        echo "apache2 -t -f $d/httpd.conf" ;;
    cgi)
        conf=$(www_config "$inst")
        render "$ROOT/deploy/apache/chat-cgi.conf" "$d/site.conf" "$inst" "$conf"
        apache_main "$inst" "$d/site.conf" env cgid
        echo "apache2 -t -f $d/httpd.conf" ;;
    fcgid)
        conf=$(www_config "$inst")
        mkdir -p "$d/run/fcgid" && chown "$WEB_USER:$WEB_USER" "$d/run/fcgid"
        render "$ROOT/deploy/apache/chat-fcgid.conf" "$d/site.conf" "$inst" "$conf"
        apache_main "$inst" "$d/site.conf" fcgid
        echo "apache2 -t -f $d/httpd.conf" ;;
    nginx)
        render "$ROOT/deploy/nginx/chat.conf" "$d/site.conf" "$inst" "$CONF"
        nginx_main "$d/site.conf"
        echo "nginx -t -q -p $d/ -c $d/nginx.conf" ;;
    lighttpd | lighttpd-pools)
        conf=$(www_config "$inst")
        render "$ROOT/deploy/lighttpd/chat.conf" "$d/site.conf" "$inst" "$conf"
        render "$ROOT/deploy/lighttpd/fastcgi-spawn.conf" "$d/fastcgi-spawn.conf" "$inst" "$conf"
        render "$ROOT/deploy/lighttpd/fastcgi-pools.conf" "$d/fastcgi-pools.conf" "$inst" "$conf"
        if [[ $inst == lighttpd-pools ]]; then
            sed -i -e 's|^\([[:space:]]*\)include "\(.*\)/fastcgi-spawn.conf"|\1#include "\2/fastcgi-spawn.conf"|' \
                -e 's|^\([[:space:]]*\)#include "\(.*\)/fastcgi-pools.conf"|\1include "\2/fastcgi-pools.conf"|' "$d/site.conf"
        fi
        lighttpd_main "$inst" "$d/site.conf"
        echo "lighttpd -tt -f $d/lighttpd.conf" ;;
    *) die "unknown instance '$inst' (${INSTANCES[*]})" ;;
    esac
}

start_instance() {
    local inst=$1 d=$DEP/$1 port check
    [[ $inst == pools ]] && { start_pools; return; }
    port=$(port_of "$inst")
    [[ $port != 0 ]] || die "unknown instance '$inst' (${INSTANCES[*]})"
    pid_alive "$inst" >/dev/null && { say "$inst: already running"; return 0; }
    port_open "$port" && die "$inst: port $port is taken by another process"
    case $inst in apache | nginx | lighttpd-pools) pools_up "$inst" ;; esac
    check=$(prepare "$inst") || exit 1
    $check >"$d/log/configtest.log" 2>&1 || { cat "$d/log/configtest.log" >&2; die "$inst: config test failed: $check"; }
    # Programs the server starts itself inherit this (lighttpd passes its
    # environment on; Apache gets it through the generated config).
    read -r ASAN_OPTIONS UBSAN_OPTIONS < <(sanitizer_env "$d/sanitizer")
    export ASAN_OPTIONS UBSAN_OPTIONS
    case $inst in
    apache | cgi | fcgid) apache2 -f "$d/httpd.conf" -k start >>"$d/log/start.log" 2>&1 ;;
    nginx) nginx -p "$d/" -c "$d/nginx.conf" >>"$d/log/start.log" 2>&1 ;;
    lighttpd | lighttpd-pools)
        # The port was checked above, before the pools were needed.
        proc_start "deploy-$inst" 0 "$d/log/start.log" 15 "port_open $port" -- lighttpd -D -f "$d/lighttpd.conf" ;;
    esac
    if ! wait_until 15 port_open "$port" || ! wait_until 5 pid_alive "$inst"; then
        tail -n 20 "$d/log/start.log" "$d/log/error.log" >&2 2>/dev/null
        stop_pidfile "$inst"
        die "$inst: did not start on 127.0.0.1:$port"
    fi
    say "$inst: up on http://127.0.0.1:$port/ (logs in $d/log)"
}

stop_instance() {
    local inst=$1 port
    [[ $inst == pools ]] && { stop_pools; return; }
    port=$(port_of "$inst")
    [[ $port != 0 ]] || die "unknown instance '$inst' (${INSTANCES[*]})"
    if ! pid_alive "$inst" >/dev/null; then
        rm -f "$RUN/deploy-$inst.pid"
        return 0
    fi
    stop_pidfile "$inst"
    wait_until 10 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null" ||
        die "$inst: stopped, but something still listens on port $port"
}

# check_instance: render into var/deploy/configtest/ (the logs of a real
# run stay where they are) and run the server's config test.
check_instance() {
    local check
    [[ $(port_of "$1") != 0 ]] || die "unknown instance '$1' (${INSTANCES[*]})"
    DEP=$DEP/configtest
    check=$(prepare "$1") || exit 1
    $check
}

# check_shipped: the shipped files as they are, with their example install
# paths; only the log directories point into var/ so that no test writes
# outside it (nginx and lighttpd open their logs during the test).
check_shipped() {
    local d=$DEP/shipped rc=0 f
    rm -rf "$d" && mkdir -p "$d/log"
    for f in chat chat-cgi chat-fcgid; do
        sed -e "s|/var/log/apache2|$d/log|g" "$ROOT/deploy/apache/$f.conf" >"$d/apache-$f.conf"
        printf '%s\n' "ServerRoot $d" "ServerName 127.0.0.1" "Listen 127.0.0.1:80" "PidFile $d/httpd.pid" \
            "ErrorLog $d/log/error.log" "Define APACHE_LOG_DIR $d/log" \
            "$(for m in mpm_event authz_core mime dir headers proxy proxy_http proxy_fcgi alias env cgid fcgid; do
                echo "LoadModule ${m}_module $MODDIR/mod_$m.so"; done)" \
            "Include $d/apache-$f.conf" >"$d/apache-$f-main.conf"
        apache2 -t -f "$d/apache-$f-main.conf" || { echo "FAILED: apache2 -t on deploy/apache/$f.conf"; rc=1; }
    done
    sed -e "s|/var/log/nginx/|$d/log/|g" "$ROOT/deploy/nginx/chat.conf" >"$d/nginx-site.conf"
    printf '%s\n' "pid $d/nginx.pid;" "error_log $d/log/nginx-error.log;" "events { }" \
        "http { include /etc/nginx/mime.types; include $d/nginx-site.conf; }" >"$d/nginx.conf"
    nginx -t -p "$d/" -c "$d/nginx.conf" || { echo "FAILED: nginx -t on deploy/nginx/chat.conf"; rc=1; }
    # lighttpd: Debian's own lighttpd.conf with our site as its one
    # conf-enabled file; -t parses without opening anything.
    sed -e "s|/etc/lighttpd/chat/|$ROOT/deploy/lighttpd/|g" "$ROOT/deploy/lighttpd/chat.conf" >"$d/lighttpd-site.conf"
    for f in spawn pools; do
        sed -e "s|include \"/etc/lighttpd/conf-enabled/\*.conf\"|include \"$d/lighttpd-site.conf\"|" \
            /etc/lighttpd/lighttpd.conf >"$d/lighttpd-$f.conf"
        [[ $f == pools ]] && sed -i -e 's|^\([[:space:]]*\)include "\(.*\)/fastcgi-spawn.conf"|\1#include "\2/fastcgi-spawn.conf"|' \
            -e 's|^\([[:space:]]*\)#include "\(.*\)/fastcgi-pools.conf"|\1include "\2/fastcgi-pools.conf"|' "$d/lighttpd-site.conf"
        lighttpd -t -f "$d/lighttpd-$f.conf" || { echo "FAILED: lighttpd -t on deploy/lighttpd/chat.conf ($f)"; rc=1; }
    done
    return $rc
}

status() {
    local inst name pid any=1
    for inst in apache nginx lighttpd lighttpd-pools cgi fcgid; do
        pid=$(pid_alive "$inst") && { printf '  %-15s running  pid %s  port %s\n' "$inst" "$pid" "$(port_of "$inst")"; any=0; }
    done
    for name in "${POOL_NAMES[@]}"; do
        pid=$(pid_alive "pool-$name") && { printf '  %-15s running  pid %s\n' "pool-$name" "$pid"; any=0; }
    done
    ((any)) && echo "  no deploy test instance is running"
    return $((1 - any))
}

# render_units DIR: the shipped systemd units and logrotate file with the
# test paths, for systemd-analyze verify and a logrotate run.
render_units() {
    local u out
    mkdir -p "$1" && out=$(cd "$1" && pwd) || die "render-units: cannot create $1"
    for u in "$ROOT"/deploy/systemd/*.service "$ROOT"/deploy/systemd/*.timer; do
        render "$u" "$out/$(basename "$u")" pools "$CONF"
    done
    sed -e "s|/var/log/chat/|$out/log/|g" "$ROOT/deploy/logrotate/chat" >"$out/logrotate.conf"
}

case ${1:-} in
start | check) reachable_dep ;;
esac

case ${1:-} in
start) [[ $# -eq 2 ]] || die "usage: $0 start INSTANCE"; start_instance "$2" ;;
stop) [[ $# -eq 2 ]] || die "usage: $0 stop INSTANCE"; stop_instance "$2" ;;
check) [[ $# -eq 2 ]] || die "usage: $0 check INSTANCE"; check_instance "$2" ;;
check-shipped) check_shipped ;;
render-units) [[ $# -eq 2 ]] || die "usage: $0 render-units DIR"; render_units "$2" ;;
status) status ;;
stop-all) for i in "${INSTANCES[@]}"; do stop_instance "$i"; done ;;
*) echo "usage: $0 start|stop|check INSTANCE | check-shipped | render-units DIR | status | stop-all" >&2; exit 2 ;;
esac
