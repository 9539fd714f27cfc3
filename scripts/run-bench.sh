#!/usr/bin/env bash
# Runs every benchmark program in turn. Each prints its own figures, as ratios
# against a baseline it measures in the same process where that makes sense.
#
# Our programs pick OpenBLAS's kernels themselves (lib/blas_setup.c) unless
# OPENBLAS_CORETYPE is already set, which they respect. When it is set, the
# programs that use BLAS run a second time without it, so the figures show both
# what this environment forces and what a user who sets nothing gets.
# bench_torch's PyTorch child gets the setting as given here (set, or unset:
# OpenBLAS's own detection): Debian's torch does its float32 products in the
# same OpenBLAS (libblas.so.3), so the variable picks its kernels too.
set -u
export OPENBLAS_NUM_THREADS=1
rc=0
for b in "$@"; do
  echo "== $(basename "$b")"
  "$b" || rc=1
  case "$(basename "$b")" in
  bench_mlmodel | bench_dinamo_ml | bench_torch)
    if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
      echo "== $(basename "$b") without OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (kernels detected by dinamo)"
      env -u OPENBLAS_CORETYPE "$b" || rc=1
    fi
    ;;
  esac
done
exit $rc
