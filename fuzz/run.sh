#!/usr/bin/env bash
# Runs libFuzzer targets (make fuzz) one after another, never two at once (a
# second run.sh waits for the first: build-fuzz/.run.lock), at the lowest CPU
# priority. Each grows build-fuzz/corpus-NAME, seeded from the
# committed fuzz/seeds/NAME/ (and, for root, the shared ROOT files); a crash,
# leak, timeout or violated property lands in build-fuzz/findings-NAME/ and
# the full log in build-fuzz/log-NAME.txt. Prints one line per target:
#   TARGET  EXECUTIONS  SECONDS  EXEC/S  FINDINGS
# Usage: fuzz/run.sh [TARGET|all] [SECONDS]
#   TARGET      a name (msg, npz, ...: fuzz/fuzz_NAME.c) or all (the default)
#   SECONDS     the longest a target runs (default $FUZZ_SECONDS or 600)
#   FUZZ_RUNS   stop a target after this many executions (default 10000000)
#   MAX_LEN     the largest input (default per target, 4096; root 2000000)
#   FUZZ_TIMEOUT  seconds before one input counts as a hang (default 60; root 600)
#   FUZZ_FLAGS  more libFuzzer flags
# fuzz/run.sh merge TARGET: adds to fuzz/seeds/TARGET the fewest inputs of the
# grown corpus that cover what the seeds do not (libFuzzer's -merge=1; inputs
# up to MAX_LEN only), keeping the seeds there.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
out=$here/build-fuzz

targets() {
  for f in "$here"/fuzz/fuzz_*.c; do n=${f##*/fuzz_}; echo "${n%.c}"; done
}
max_len_of() {
  case $1 in root) echo "${MAX_LEN:-2000000}" ;; *) echo "${MAX_LEN:-4096}" ;; esac
}
# Seconds one input may take before it counts as a hang. Generous: at nice 19
# on a busy machine an input can wait for the CPU (one of the 1.6 MB ROOT
# seeds, a minute); a real hang still trips it.
timeout_of() {
  case $1 in root) echo "${FUZZ_TIMEOUT:-600}" ;; *) echo "${FUZZ_TIMEOUT:-60}" ;; esac
}
binary() {
  local bin=$out/fuzz_$1
  [ -x "$bin" ] || { echo "fuzz/run.sh: no $bin: build it with 'make fuzz'" >&2; exit 2; }
  echo "$bin"
}
seed_corpus() {
  local name=$1 corpus=$out/corpus-$1
  mkdir -p "$corpus"
  [ -d "$here/fuzz/seeds/$name" ] && cp -n "$here/fuzz/seeds/$name"/* "$corpus"/ 2>/dev/null || true
  if [ "$name" = root ]; then
    cp -n "${DINAMO_ROOT_FILES:-$here/../shared/root}"/*.root "$corpus"/ 2>/dev/null || true
  fi
}
dict_flag() {
  [ -f "$here/fuzz/$1.dict" ] && echo "-dict=$here/fuzz/$1.dict" || true
}

# One fuzzer at a time on this machine: a second run.sh waits for the first.
mkdir -p "$out"
exec 9>"$out/.run.lock"
flock 9

if [ "${1:-}" = merge ]; then
  name=${2:?usage: fuzz/run.sh merge TARGET}
  bin=$(binary "$name")
  seeds=$here/fuzz/seeds/$name
  mkdir -p "$seeds" "$out/corpus-$name"
  # The committed seeds stay as they are (their names say what they are);
  # -merge=1 adds to them the fewest grown inputs that bring new coverage.
  nice -n 19 "$bin" -merge=1 -max_len="$(max_len_of "$name")" -rss_limit_mb=2048 \
    -timeout="$(timeout_of "$name")" "$seeds" "$out/corpus-$name" >"$out/merge-$name.txt" 2>&1
  echo "fuzz/seeds/$name: $(ls "$seeds" | wc -l) inputs, $(du -sk "$seeds" | cut -f1) KB"
  exit 0
fi

which=${1:-all}
seconds=${2:-${FUZZ_SECONDS:-600}}
runs=${FUZZ_RUNS:-10000000}
if [ "$which" = all ]; then list=$(targets); else list=$which; fi
printf '%-12s %12s %8s %8s %s\n' TARGET EXECUTIONS SECONDS EXEC/S FINDINGS
for name in $list; do
  bin=$(binary "$name")
  seed_corpus "$name"
  findings=$out/findings-$name
  mkdir -p "$findings"
  log=$out/log-$name.txt
  start=$(date +%s)
  set +e
  # shellcheck disable=SC2046,SC2086
  nice -n 19 "$bin" -max_total_time="$seconds" -runs="$runs" -max_len="$(max_len_of "$name")" \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout="$(timeout_of "$name")" \
    -print_final_stats=1 \
    -artifact_prefix="$findings/" $(dict_flag "$name") ${FUZZ_FLAGS:-} "$out/corpus-$name" \
    >"$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  n=$(find "$findings" -type f | wc -l)
  printf '%-12s %12s %8s %8s %s\n' "$name" "${execs:-?}" "$secs" "${speed:-?}" \
    "$n$( [ $rc = 0 ] || echo " (exit $rc, see $log)")"
done
