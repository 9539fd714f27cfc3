#!/usr/bin/env bash
# The main job (`make run`): the whole pipeline on this machine. Starts the
# cluster (generator, scorer_s, registry, scorer_ml, one trainer, evaluator) on loopback
# TCP ports 5550-5557 with LMDB stores under data/cluster, streams one synthetic
# dataset (seed 70, the paper's example; DINAMO_GENERATOR_* variables change
# it), waits for the evaluator's final report, prints both methods' metrics and
# where the report is, and stops every process it started (also on Ctrl-C or
# failure). The offline equivalent is scripts/run-offline.sh.
set -euo pipefail
export DINAMO_BUILD=${DINAMO_BUILD:-build}
rundir=${DINAMO_RUNDIR:-data/cluster}
export DINAMO_GENERATOR_SEED=${DINAMO_SEED:-70}
if [ -e "$rundir/services" ]; then
    scripts/cluster.sh stop "$rundir" >/dev/null 2>&1 || true
fi
rm -rf "$rundir"
stop() { scripts/cluster.sh stop "$rundir" || echo "(a service did not stop cleanly: see $rundir/logs)"; }
trap stop EXIT
trainers=${DINAMO_TRAINERS:-1}
# One trainer on a machine with two or more cores: the trainer is the whole
# critical path of a lockstep stream, so it takes a second core per step (the
# same weights bit for bit). Several trainers share the cores one each.
threads=1
if [ "$trainers" = 1 ] && [ "$(nproc)" -ge 2 ]; then threads=2; fi
threads=${DINAMO_TRAIN_THREADS:-$threads}
scripts/cluster.sh start "$rundir" --trainers "$trainers" --train-threads "$threads" --port-base "${DINAMO_PORT_BASE:-5550}"
echo "== streaming seed $DINAMO_GENERATOR_SEED (logs: $rundir/logs); DINAMO-ML trains online on every good run"
scripts/cluster.sh wait "$rundir" "${DINAMO_RUN_TIMEOUT:-1800}"
echo "== metrics (evaluator, from its log):"
sed -n 's/.*evaluator\[[0-9]*\] INFO //p' "$rundir/logs/evaluator.log" | grep -A3 '^histogram ' | tail -n 4
echo "== security: on (CURVE; keys in $rundir/keys). A person's verdict while it runs: build/dinamo label RUN bad --keys $rundir/keys --as shifter"
echo "== report: $rundir/report (metrics.json; runs.csv, subsystems.csv, flags.csv: severities; labels.csv; scores_*.csv; runs/run_*/: figures of flagged runs)"
