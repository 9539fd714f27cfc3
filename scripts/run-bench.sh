#!/usr/bin/env bash
# Runs every benchmark program in turn. Each prints its own figures, as ratios
# against a baseline it measures in the same process where that makes sense.
set -u
export OPENBLAS_NUM_THREADS=1
rc=0
for b in "$@"; do
  echo "== $(basename "$b")"
  "$b" || rc=1
done
exit $rc
