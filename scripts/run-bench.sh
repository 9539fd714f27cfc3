#!/usr/bin/env bash
# Runs every benchmark program in turn. Each prints its own figures, as ratios
# against a baseline it measures in the same process where that makes sense.
#
# Our programs pick OpenBLAS's kernels themselves (lib/blas_setup.c) unless
# OPENBLAS_CORETYPE is already set, which they respect. When it is set, the
# programs that use BLAS run a second time without it, so the figures show both
# what this environment forces and what a user who sets nothing gets.
set -u
export OPENBLAS_NUM_THREADS=1
rc=0
for b in "$@"; do
  echo "== $(basename "$b")"
  "$b" || rc=1
  case "$(basename "$b")" in
  bench_mlmodel | bench_dinamo_ml)
    if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
      echo "== $(basename "$b") without OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (kernels detected by dinamo)"
      env -u OPENBLAS_CORETYPE "$b" || rc=1
    fi
    ;;
  esac
done
exit $rc
