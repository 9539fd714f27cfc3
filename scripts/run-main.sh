#!/usr/bin/env bash
# The main job (`make run`): the whole pipeline on this machine. Starts the
# cluster (generator, scorer_s, registry, scorer_ml, one trainer, evaluator and,
# when built, the dashboard) on loopback TCP ports 5550-5559 with LMDB stores
# under data/cluster, prints the dashboard's address, streams one synthetic
# dataset (seed 70, the paper's example; DINAMO_GENERATOR_* variables change
# it, e.g. DINAMO_GENERATOR_RUNS=300; the evaluator draws no figures unless
# DINAMO_EVALUATOR_FIGURES=true), shows its progress (`dinamo progress`:
# one line rewritten in place on a terminal, a line every 30 s otherwise),
# waits for the evaluator's final report, prints both methods' metrics and
# where the report is. On a terminal it then keeps the cluster up, so the
# dashboard can still be browsed and verdicts given, until Ctrl-C; without a
# terminal it stops at once. Every process it started is stopped on the way
# out, also on Ctrl-C or failure. DINAMO_DASHBOARD_HTTP sets the dashboard's
# HOST:PORT (default 127.0.0.1:8080). The offline equivalent is
# scripts/run-offline.sh.
set -euo pipefail
export DINAMO_BUILD=${DINAMO_BUILD:-build}
rundir=${DINAMO_RUNDIR:-data/cluster}
export DINAMO_GENERATOR_SEED=${DINAMO_SEED:-70}
# No PNG/SVG figure sets of flagged runs: the dashboard draws every run in the
# browser (one stream made 531 MB of them and took 5 min 07 s against 4 min
# 25 s without: they share the trainer's cores); DINAMO_EVALUATOR_FIGURES=true
# draws them.
export DINAMO_EVALUATOR_FIGURES=${DINAMO_EVALUATOR_FIGURES:-false}
# The people who may give verdicts in the dashboard outlive the run directory
# (it is made afresh each time): data/users, `dinamo user add NAME --file
# data/users`; the dashboard reads it again at every login.
export DINAMO_DASHBOARD_USERS_FILE=${DINAMO_DASHBOARD_USERS_FILE:-$PWD/data/users}
if [ -e "$rundir/services" ]; then
    scripts/cluster.sh stop "$rundir" >/dev/null 2>&1 || true
fi
rm -rf "$rundir"
progress=
stop_progress() {
    [ -n "$progress" ] || return 0
    kill -TERM "$progress" 2>/dev/null || true
    wait "$progress" 2>/dev/null || true
    progress=
}
stop() {
    trap '' INT # a second Ctrl-C must not cut the orderly stop short
    stop_progress
    scripts/cluster.sh stop "$rundir" || echo "(a service did not stop cleanly: see $rundir/logs)"
}
trap stop EXIT
# A signal ends the script through the EXIT trap (bash would not run it on
# SIGTERM by itself).
trap 'exit 130' INT
trap 'exit 143' TERM HUP
trainers=${DINAMO_TRAINERS:-1}
# One thread per training step. The trainer is the whole critical path of a
# lockstep stream, but on a 2-core machine a second thread per step competes
# with the cluster's other services: measured back to back (issue 21), the
# stream took 7 min 42 s with 2 threads and 6 min 54 s with 1, the same weights
# bit for bit. DINAMO_TRAIN_THREADS=2 gives a trainer a second core per step
# where the machine has cores to spare.
threads=${DINAMO_TRAIN_THREADS:-1}
# --lifeline: even a kill -9 of this script stops the cluster (and then the
# progress display, which ends once every service has stopped).
scripts/cluster.sh start "$rundir" --trainers "$trainers" --train-threads "$threads" \
    --port-base "${DINAMO_PORT_BASE:-5550}" --dashboard "${DINAMO_DASHBOARD_HTTP:-127.0.0.1:8080}" \
    --lifeline $$
url=
if grep -qx dashboard "$rundir/services"; then
    url="http://$(sed -n '/^\[dashboard\]/,/^\[/s/^http *= *//p' "$rundir/dinamo.conf")/"
    echo "== dashboard: $url"
    [ -s "$DINAMO_DASHBOARD_USERS_FILE" ] ||
        echo "   (to give verdicts there: $DINAMO_BUILD/dinamo user add NAME --file $DINAMO_DASHBOARD_USERS_FILE)"
fi
echo "== streaming seed $DINAMO_GENERATOR_SEED (logs: $rundir/logs); DINAMO-ML trains online on every good run"
"$DINAMO_BUILD/dinamo" progress --dir "$rundir" &
progress=$!
# What `wait` says on failure comes after the progress line, not into it.
if ! why=$(scripts/cluster.sh wait "$rundir" "${DINAMO_RUN_TIMEOUT:-1800}" 2>&1 >/dev/null); then
    stop_progress
    echo "$why" >&2
    exit 1
fi
stop_progress
echo "== metrics (evaluator, from its log):"
sed -n 's/.*evaluator\[[0-9]*\] INFO //p' "$rundir/logs/evaluator.log" | grep -A3 '^histogram ' | tail -n 4
echo "== security: on (CURVE; keys in $rundir/keys). A person's verdict while it runs: build/dinamo label RUN bad --keys $rundir/keys --as shifter"
figures="figures of flagged runs: off (DINAMO_EVALUATOR_FIGURES=true)"
[ "$DINAMO_EVALUATOR_FIGURES" = false ] || figures="runs/run_*/: figures of flagged runs"
echo "== report: $rundir/report (metrics.json; runs.csv, subsystems.csv, flags.csv: severities; labels.csv; scores_*.csv; $figures)"
if [ -t 1 ] && [ -n "$url" ]; then
    echo "== dashboard still up at $url; Ctrl-C to stop"
    trap 'exit 0' INT
    pid=$(cat "$rundir/pids/dashboard.pid")
    while [ ! -e "$rundir/pids/dashboard.rc" ] && kill -0 "$pid" 2>/dev/null; do sleep 1; done
    echo "== the dashboard stopped (see $rundir/logs/dashboard.log)"
fi
