#!/usr/bin/env bash
# Runs each Criterion suite given as an argument, prints its output, and closes
# with one totals line "tests: N passed, M failed". Exits non-zero when any suite
# fails or crashes. Criterion runs a suite's tests in parallel on all cores.
set -u
export OPENBLAS_NUM_THREADS=1
# Under SAN=1: system libraries' process-lifetime caches are not our leaks
export LSAN_OPTIONS="suppressions=$(cd "$(dirname "$0")" && pwd)/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
passed=0; failed=0; bad_suites=()
for suite in "$@"; do
  name=$(basename "$suite")
  out=$(mktemp)
  start=$(date +%s)
  "$suite" --jobs "${DINAMO_TEST_JOBS:-2}" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  line=$(grep 'Synthesis:' "$out" | tail -n 1)
  t=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' <<<"$line"); t=${t:-0}
  p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line"); p=${p:-0}
  passed=$((passed + p)); failed=$((failed + t - p))
  echo "suite $name: $p/$t passed in $(( $(date +%s) - start )) s (exit $rc)"
  if [ "$rc" != 0 ] || [ "$t" = 0 ]; then
    bad_suites+=("$name"); [ "$t" = "$p" ] && failed=$((failed + 1))
  fi
  rm -f "$out"
done
echo
[ ${#bad_suites[@]} -gt 0 ] && echo "failing suites: ${bad_suites[*]}"
echo "tests: $passed passed, $failed failed"
[ ${#bad_suites[@]} -eq 0 ]
