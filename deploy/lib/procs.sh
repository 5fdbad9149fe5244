# procs.sh - sourced by deploy/dev/stack.sh and deploy/test/deploy.sh: the
# life of a background process we start, tracked by a pid file and only by
# that, never by its name.
#
# The caller sets RUN (the directory of the pid files, NAME.pid) and
# defines say MESSAGE and die MESSAGE (which exits) with its own prefix.

# pid_of NAME: print the pid in $RUN/NAME.pid when that process is alive.
pid_of() {
    local f=$RUN/$1.pid pid
    [[ -f $f ]] || return 1
    pid=$(<"$f")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
    return 1
}

# wait_until TIMEOUT_S COMMAND...: run COMMAND every 0.1 s until it
# succeeds (true) or TIMEOUT_S seconds have passed (false).
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    while ((SECONDS <= deadline)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# port_free_or_die NAME PORT: refuse to start NAME when something we did not
# start already listens on its port (it would win the bind and our process
# would exit, leaving a working server that no pid file tracks).
port_free_or_die() {
    port_open "$2" || return 0
    local who
    who=$(ss -ltnpH "sport = :$2" 2>/dev/null | sed -n 's/.*users:((\(.*\))).*/\1/p' | head -n1)
    die "$1: port $2 is already in use by a process this script did not start${who:+ ($who)}; stop it first"
}

# failed_start NAME LOG: say that NAME did not start, show the end of its
# log, exit.
failed_start() {
    say "$1 failed to start; last lines of $2:" >&2
    tail -n 20 "$2" >&2 2>/dev/null
    exit 1
}

# proc_start NAME PORT LOG TIMEOUT READY -- COMMAND...: the one way a
# process is started. Refuses when PORT (0: the caller has checked it) is
# taken by a process we did not start; runs COMMAND in the background with
# its output appended to LOG and its pid in $RUN/NAME.pid; waits up to
# TIMEOUT seconds for the shell command READY (run with eval, so functions
# may be used) to succeed, else stops what it started; then checks that the
# process it started is still the one alive (not a stranger answering in
# its place). Any failure names NAME, shows the end of LOG and exits.
# COMMAND must exec the long-lived process itself (no wrapper that forks).
proc_start() {
    local name=$1 port=$2 log=$3 timeout=$4 ready=$5
    shift 5
    [[ ${1:-} == -- ]] && shift
    ((port == 0)) || port_free_or_die "$name" "$port"
    nohup "$@" >>"$log" 2>&1 &
    echo $! >"$RUN/$name.pid"
    if ! wait_until "$timeout" eval "$ready"; then
        stop_pid "$name" >/dev/null   # alive but never ready: not left behind
        failed_start "$name" "$log"
    fi
    pid_of "$name" >/dev/null || failed_start "$name (exited after start)" "$log"
}

# stop_pid NAME [SIGNAL [LAST_SIGNAL]]: SIGNAL (TERM) to the process of
# $RUN/NAME.pid, LAST_SIGNAL (KILL) if it still runs 15 s later; the pid
# file goes either way.
stop_pid() {
    local name=$1 sig=${2:-TERM} last=${3:-KILL} pid
    pid=$(pid_of "$name") || { rm -f "$RUN/$name.pid"; return 0; }
    kill "-$sig" "$pid" 2>/dev/null
    if ! wait_until 15 bash -c "! kill -0 $pid"; then
        say "$name (pid $pid) did not stop in 15 s; sending SIG$last"
        kill "-$last" "$pid" 2>/dev/null
        wait_until 5 bash -c "! kill -0 $pid"
    fi
    rm -f "$RUN/$name.pid"
    say "stopped $name"
}
