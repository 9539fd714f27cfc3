#!/usr/bin/env bash
# cluster.sh: the dinamo pipeline as plain processes on this machine (what
# deploy/docker-compose.yml runs in containers), for machines without a
# container engine, for `make run` and for the tests.
#
#   cluster.sh start RUNDIR [--trainers N] [--auto-shards]
#                           [--port-base P | --ipc] [--methods s|s,ml]
#                           [--feed INPUT [--watch] [--no-auto-accept]]
#                           [--mode lockstep|live] [--train-threads T]
#                           [--lifeline PID] [--security on|off]
#                           [--dashboard HOST:PORT]
#   cluster.sh wait RUNDIR TIMEOUT_S     until the evaluator's final report exists
#   cluster.sh status RUNDIR             one line per service: name pid state
#   cluster.sh kill RUNDIR NAME [SIG]    signal one service (default KILL)
#   cluster.sh restart RUNDIR NAME       start one service again (after a kill)
#   cluster.sh add RUNDIR trainer        start one more trainer (--auto-shards):
#                                        it takes its share of the keys mid-stream
#   cluster.sh stop RUNDIR               SIGTERM all, wait 15 s, KILL leftovers
#
# RUNDIR gets dinamo.conf (endpoints), data/NAME/ (each service's own data
# directory: nothing on disk is shared, as if every service ran on a host of
# its own; the trainers and scorer_ml share state through the registry; a
# service's heartbeat: `dinamo health --data-dir RUNDIR/data/NAME --service
# SERVICE`, e.g. data/trainer.1 and trainer),
# report/ (the evaluator's report), logs/NAME.log, pids/NAME.pid and, once a
# service exited, pids/NAME.rc. With --feed, the feed service publishes INPUT
# (a runs CSV, an .npz dataset, or a directory of UHI JSON runs, followed with
# --watch) in place of the generator; --train-threads sets each trainer's
# threads per training step (1 or 2, default 1: give 2 only to a trainer that
# has a second core to itself); --mode sets the scorers' ordering mode
# (default lockstep; use live with --watch, a stream that never ends);
# --lifeline PID ties the cluster to process PID (a test, a shell): a watchdog
# runs `stop` as soon as PID is gone, however it died (kill -9, a test
# runner's timeout), so no service outlives it (it logs to logs/lifeline.log;
# `stop` ends it). --dashboard HOST:PORT also starts the dashboard service
# (the shifter's web page, served at http://HOST:PORT/; the key http of
# section [dashboard] in RUNDIR/dinamo.conf) when it is built; without the
# option it is not started, so clusters on other port bases never compete
# for the one HTTP port. Security is on unless --security off (or
# DINAMO_SECURITY=off) says otherwise: RUNDIR/keys gets a CURVE key pair for
# every service and one for a person, "shifter" (labels role: `dinamo label
# RUN good --keys RUNDIR/keys --as shifter`) and one for the dashboard
# (labels and delegate: it names the logged-in person), made on the first
# start and kept after; every socket then admits only those keys
# (lib/pipe/auth.h). With a
# feed the evaluator auto-accepts (labels good) runs whose every histogram is
# good, unless --no-auto-accept; runs the input labels are never auto-accepted.
# Service names: generator (or feed), scorer_s, registry, scorer_ml,
# dashboard (with --dashboard), trainer.0 .. trainer.N-1 (trainer.i runs
# --shard i/N; with --auto-shards every trainer runs --shard auto, as the
# replicas of deploy/docker-compose.yml do: the live trainers share the keys
# fairly, and take over the keys of one that stops or dies), evaluator.
# Endpoints are loopback TCP ports P .. P+9 (default 5550; P+8 and P+9 are
# the evaluator's thresholds log) or, with --ipc, sockets under RUNDIR/sock
# (no ports: several clusters can run at once). Any service setting
# can be given through the environment (DINAMO_<SERVICE>_<KEY>, e.g.
# DINAMO_GENERATOR_RUNS=200) or by editing dinamo.conf before `restart`.
# `stop` exits nonzero when a service had to be killed or exited with an error.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 2; }
die() { echo "cluster.sh: $*" >&2; exit 1; }

build=${DINAMO_BUILD:-build}
self=$(realpath "$0")
[ $# -ge 2 ] || usage
cmd=$1
rundir=$2
shift 2

service_bin() { # NAME -> binary
    case $1 in
    trainer.*) echo "$build/services/trainer" ;;
    *) echo "$build/services/$1" ;;
    esac
}

# Starts service NAME in the background; a wrapper records its exit code.
# The service runs in a session of its own (setsid: it is no process group
# leader here, so setsid execs it in place and $! stays its pid): a Ctrl-C on
# the terminal of whoever started the cluster (`make run`) reaches the script,
# whose `stop` then stops every service in order (the registry last), instead
# of reaching every service at once (a trainer's last checkpoint then found
# the registry gone).
start_one() {
    local name=$1 bin extra=()
    bin=$(service_bin "$name")
    [ -x "$bin" ] || die "no binary $bin (run make first, or set DINAMO_BUILD)"
    case $name in
    trainer.*)
        if [ -e "$rundir/auto-shards" ]; then
            extra=(--shard auto)
        else
            extra=(--shard "${name#trainer.}/$(cat "$rundir/trainers")")
        fi
        ;;
    esac
    rm -f "$rundir/pids/$name.rc" "$rundir/pids/$name.pid"
    mkdir -p "$rundir/data/$name"
    (
        setsid "$bin" --config "$rundir/dinamo.conf" --data-dir "$rundir/data/$name" "${extra[@]}" \
            >>"$rundir/logs/$name.log" 2>&1 &
        echo $! >"$rundir/pids/$name.pid"
        rc=0
        wait $! || rc=$?
        echo $rc >"$rundir/pids/$name.rc"
    ) </dev/null >/dev/null 2>&1 &
    for _ in $(seq 100); do
        [ -s "$rundir/pids/$name.pid" ] && return 0
        sleep 0.05
    done
    die "$name did not start"
}

names() { cat "$rundir/services"; }

# Every service's key pair and a person's (shifter), each listed under the
# role it speaks in (the dashboard under labels and delegate: a label it sends
# keeps the logged-in user it names as who); pairs made before are kept (dinamo keygen never
# replaces one), so a restart keeps every key the others trust.
make_keys() {
    local tool=$build/dinamo k
    [ -x "$tool" ] || die "no $tool (run make first, or set DINAMO_BUILD)"
    for k in generator:runs feed:runs scorer_s:scores scorer_ml:scores registry:registry \
        trainer:weights evaluator:labels shifter:labels dashboard:labels dashboard:delegate; do
        "$tool" keygen "${k%%:*}" --dir "$rundir/keys" --role "${k#*:}" >/dev/null ||
            die "dinamo keygen ${k%%:*} failed"
    done
}

# The start time of process PID (field 22 of /proc/PID/stat, after the
# parenthesised name, which may hold spaces), empty when it is gone or a zombie:
# with the PID it names one process, even if the PID is reused later.
proc_start() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    set -- ${stat##*) }
    [ "$1" = Z ] || echo "${20}"
}

# Starts the watchdog of --lifeline PID: polls PID twice a second and, once it
# is gone, runs `stop` on the cluster. pids/lifeline.pid names the watchdog so
# that `stop` ends it; the watchdog removes that file before it stops the cluster.
start_lifeline() {
    local pid=$1 born
    born=$(proc_start "$pid")
    [ -n "$born" ] || die "--lifeline: no process $pid"
    (
        while [ "$(proc_start "$pid")" = "$born" ]; do sleep 0.5; done
        [ -e "$rundir/pids/lifeline.pid" ] || exit 0
        rm -f "$rundir/pids/lifeline.pid"
        echo "$(date '+%F %T') lifeline: process $pid is gone: stopping the cluster"
        "$self" stop "$rundir"
    ) </dev/null >>"$rundir/logs/lifeline.log" 2>&1 &
    echo $! >"$rundir/pids/lifeline.pid"
}

# Ends the watchdog, if any (a cluster stopped on purpose needs none).
stop_lifeline() {
    local f="$rundir/pids/lifeline.pid"
    [ -s "$f" ] || return 0
    kill -TERM "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
}

alive() { # NAME -> 0 when running
    [ -s "$rundir/pids/$1.pid" ] && [ ! -e "$rundir/pids/$1.rc" ] &&
        kill -0 "$(cat "$rundir/pids/$1.pid")" 2>/dev/null
}

write_conf() { # endpoints: events events_req scores_s scores_s_req scores_ml scores_ml_req weights registry thresholds thresholds_req
    local e=("$@") src=generator
    [ -z "$feed_input" ] || src=feed
    cat >"$rundir/dinamo.conf" <<EOF
# written by scripts/cluster.sh start; see docs/pipeline.md for every key
[common]
log_level = ${DINAMO_LOG_LEVEL:-info}
tick_ms = 500
security = $security
keys_dir = $rundir/keys

[generator]
events = bind:${e[0]}
requests = bind:${e[1]}
min_followers = $min_followers

[feed]
events = bind:${e[0]}
requests = bind:${e[1]}
min_followers = $min_followers
input = $feed_input
watch = $watch

[scorer_s]
events = connect:$src@${e[0]}
events_requests = connect:$src@${e[1]}
scores = bind:${e[2]}
scores_requests = bind:${e[3]}
mode = $mode

[scorer_ml]
events = connect:$src@${e[0]}
events_requests = connect:$src@${e[1]}
scores = bind:${e[4]}
scores_requests = bind:${e[5]}
weights = bind:${e[6]}
registry = connect:registry@${e[7]}
mode = $mode

[registry]
requests = bind:${e[7]}
weights = connect:scorer_ml@${e[6]}

[trainer]
events = connect:$src@${e[0]}
events_requests = connect:$src@${e[1]}
registry = connect:registry@${e[7]}
threads = $train_threads

[evaluator]
events = connect:$src@${e[0]}
events_requests = connect:$src@${e[1]}
scores_s = connect:scorer_s@${e[2]}
scores_s_requests = connect:scorer_s@${e[3]}
scores_ml = connect:scorer_ml@${e[4]}
scores_ml_requests = connect:scorer_ml@${e[5]}
thresholds = bind:${e[8]}
thresholds_requests = bind:${e[9]}
methods = $methods
report_dir = $rundir/report
auto_accept = $auto_accept

[dashboard]
http = ${dashboard:-127.0.0.1:8080}
events = connect:$src@${e[0]}
events_requests = connect:$src@${e[1]}
scores_s = connect:scorer_s@${e[2]}
scores_s_requests = connect:scorer_s@${e[3]}
scores_ml = connect:scorer_ml@${e[4]}
scores_ml_requests = connect:scorer_ml@${e[5]}
thresholds = connect:evaluator@${e[8]}
thresholds_requests = connect:evaluator@${e[9]}
labels = connect:$src@${e[1]}
users_file = $rundir/users
methods = $methods
web_dir = $(dirname "$(dirname "$self")")/web
EOF
}

case $cmd in
start)
    trainers=1 port_base=5550 ipc=0 methods=s,ml auto=0
    feed_input= watch=false mode=lockstep auto_accept=false train_threads=1 lifeline=
    dashboard=
    security=${DINAMO_SECURITY:-on}
    while [ $# -gt 0 ]; do
        case $1 in
        --feed) feed_input=$(realpath "$2"); auto_accept=true; shift 2 ;;
        --no-auto-accept) no_auto=1; shift ;;
        --watch) watch=true; shift ;;
        --mode) mode=$2; shift 2 ;;
        --trainers) trainers=$2; shift 2 ;;
        --train-threads) train_threads=$2; shift 2 ;;
        --port-base) port_base=$2; shift 2 ;;
        --ipc) ipc=1; shift ;;
        --auto-shards) auto=1; shift ;;
        --methods) methods=$2; shift 2 ;;
        --lifeline) lifeline=$2; shift 2 ;;
        --security) security=$2; shift 2 ;;
        --dashboard) dashboard=$2; shift 2 ;;
        *) die "start: unknown option $1" ;;
        esac
    done
    case $methods in s | s,ml | ml,s) ;; *) die "--methods: want s or s,ml" ;; esac
    case $mode in lockstep | live) ;; *) die "--mode: want lockstep or live" ;; esac
    case $security in on | off) ;; *) die "--security: want on or off" ;; esac
    [ "${no_auto:-0}" = 0 ] || auto_accept=false
    [ $watch = false ] || [ -n "$feed_input" ] || die "--watch needs --feed DIR"
    [[ $trainers =~ ^[1-9][0-9]*$ ]] || die "--trainers: want a positive number"
    [[ $train_threads =~ ^[12]$ ]] || die "--train-threads: want 1 or 2"
    [ -z "$lifeline" ] || [[ $lifeline =~ ^[1-9][0-9]*$ ]] || die "--lifeline: want a process id"
    [ -z "$dashboard" ] || [[ $dashboard =~ ^[^:]+:[0-9]+$ ]] || die "--dashboard: want HOST:PORT"
    mkdir -p "$rundir"
    rundir=$(cd "$rundir" && pwd)
    for n in $(cat "$rundir/services" 2>/dev/null); do
        alive "$n" && die "$n is running in $rundir: stop it first"
    done
    mkdir -p "$rundir/data" "$rundir/report" "$rundir/logs" "$rundir/pids"
    echo "$trainers" >"$rundir/trainers"
    rm -f "$rundir/auto-shards"
    [ $auto = 1 ] && touch "$rundir/auto-shards"
    with_ml=0
    [ "$methods" != s ] && with_ml=1
    min_followers=$((2 + with_ml * (1 + trainers)))
    if [ $ipc = 1 ]; then
        mkdir -p "$rundir/sock"
        s="ipc://$rundir/sock"
        write_conf "$s/events" "$s/events.req" "$s/scores_s" "$s/scores_s.req" \
            "$s/scores_ml" "$s/scores_ml.req" "$s/weights" "$s/registry" "$s/thresholds" \
            "$s/thresholds.req"
    else
        t=tcp://127.0.0.1
        p=$port_base
        write_conf "$t:$p" "$t:$((p + 1))" "$t:$((p + 2))" "$t:$((p + 3))" "$t:$((p + 4))" \
            "$t:$((p + 5))" "$t:$((p + 6))" "$t:$((p + 7))" "$t:$((p + 8))" "$t:$((p + 9))"
    fi
    [ $security = off ] || make_keys
    if [ -n "$feed_input" ]; then list=(feed scorer_s); else list=(generator scorer_s); fi
    if [ $with_ml = 1 ]; then
        list+=(registry scorer_ml)
        for ((i = 0; i < trainers; i++)); do list+=("trainer.$i"); done
    fi
    list+=(evaluator)
    if [ -n "$dashboard" ]; then
        if [ -x "$(service_bin dashboard)" ]; then
            list+=(dashboard)
        else
            echo "cluster.sh: no $(service_bin dashboard): the dashboard is not started" >&2
        fi
    fi
    printf '%s\n' "${list[@]}" >"$rundir/services"
    stop_lifeline
    [ -z "$lifeline" ] || start_lifeline "$lifeline"
    for n in "${list[@]}"; do start_one "$n"; done
    echo "cluster started in $rundir: ${list[*]}"
    ;;
wait)
    [ $# -ge 1 ] || usage
    deadline=$((SECONDS + $1))
    while [ ! -e "$rundir/report/FINAL" ]; do
        for n in $(names); do
            rc=$(cat "$rundir/pids/$n.rc" 2>/dev/null || echo 0)
            if [ "$rc" != 0 ] && [ "$rc" != 137 ]; then
                echo "cluster.sh: $n exited with status $(cat "$rundir/pids/$n.rc"); last log lines:" >&2
                tail -n 5 "$rundir/logs/$n.log" >&2
                exit 1
            fi
        done
        [ $SECONDS -lt $deadline ] || die "no final report after $1 s (see $rundir/logs)"
        sleep 0.2
    done
    echo "report: $rundir/report"
    ;;
status)
    for n in $(names); do
        if alive "$n"; then
            echo "$n $(cat "$rundir/pids/$n.pid") running"
        elif [ -e "$rundir/pids/$n.rc" ]; then
            echo "$n $(cat "$rundir/pids/$n.pid") exited $(cat "$rundir/pids/$n.rc")"
        else
            echo "$n - not running"
        fi
    done
    ;;
kill)
    [ $# -ge 1 ] || usage
    n=$1 sig=${2:-KILL}
    grep -qx "$n" "$rundir/services" || die "no service $n in $rundir"
    alive "$n" || die "$n is not running"
    pid=$(cat "$rundir/pids/$n.pid")
    kill -s "$sig" "$pid"
    if [ "$sig" = KILL ]; then
        while [ ! -e "$rundir/pids/$n.rc" ]; do sleep 0.05; done
    fi
    ;;
restart)
    [ $# -ge 1 ] || usage
    n=$1
    grep -qx "$n" "$rundir/services" || die "no service $n in $rundir"
    alive "$n" && die "$n is running"
    start_one "$n"
    ;;
add)
    [ "${1:-}" = trainer ] || die "add: only 'trainer' can be added"
    [ -e "$rundir/auto-shards" ] || die "add trainer: the cluster was not started with --auto-shards"
    i=0
    while grep -qx "trainer.$i" "$rundir/services"; do i=$((i + 1)); done
    echo "trainer.$i" >>"$rundir/services"
    start_one "trainer.$i"
    echo "started trainer.$i"
    ;;
stop)
    status=0
    stop_lifeline
    # The registry stops last: the others give back what they hold through it.
    stop_group() {
        local n deadline=$((SECONDS + 15))
        for n in "$@"; do
            alive "$n" && kill -TERM "$(cat "$rundir/pids/$n.pid")" 2>/dev/null || true
        done
        for n in "$@"; do
            while alive "$n" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
            if alive "$n"; then
                echo "cluster.sh: $n did not stop within 15 s: killed" >&2
                kill -KILL "$(cat "$rundir/pids/$n.pid")" 2>/dev/null || true
                status=1
            fi
        done
    }
    stop_group $(names | grep -vx registry || true)
    stop_group $(names | grep -x registry || true)
    for n in $(names); do
        for _ in $(seq 50); do [ -e "$rundir/pids/$n.rc" ] && break; sleep 0.1; done
        rc=$(cat "$rundir/pids/$n.rc" 2>/dev/null || echo '?')
        if [ "$rc" != 0 ] && [ "$rc" != 137 ]; then
            echo "cluster.sh: $n exited with status $rc (see $rundir/logs/$n.log)" >&2
            status=1
        fi
    done
    exit $status
    ;;
*) usage ;;
esac
