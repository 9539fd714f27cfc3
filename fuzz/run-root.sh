#!/usr/bin/env bash
# Runs the ROOT reader's fuzzer (make fuzz) for SECONDS (default 1200) at the
# lowest CPU priority, seeded with the shared ROOT files and the files our
# writer makes; the corpus grows in build-fuzz/corpus-root, findings land in
# build-fuzz/findings-root. Prints libFuzzer's closing statistics.
# MAX_LEN (default 2000000, every seed whole) bounds the inputs: a smaller
# one runs many more executions on the small files (longer seeds are cut).
# The timeout is generous: at nice 19 on a busy machine one input of the
# 1.6 MB seed can wait a minute for the CPU; a real hang still trips it.
# Usage: fuzz/run-root.sh [SECONDS [MAX_LEN]]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-1200}
max_len=${2:-2000000}
bin=$here/build-fuzz/fuzz_root
[ -x "$bin" ] || { echo "fuzz/run-root.sh: build it first with 'make fuzz'" >&2; exit 2; }
corpus=$here/build-fuzz/corpus-root
findings=$here/build-fuzz/findings-root
seeds=${DINAMO_ROOT_FILES:-$here/../shared/root}
mkdir -p "$corpus" "$findings"
cp -n "$seeds"/*.root "$corpus"/ 2>/dev/null || true
cp -n "$here"/fuzz/seeds/*.root "$corpus"/ 2>/dev/null || true
cd "$findings"
exec nice -n 19 "$bin" -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=3072 \
    -malloc_limit_mb=1024 -timeout=900 -print_final_stats=1 "$corpus"
