#!/usr/bin/env bash
# Runs each libFuzzer target given (names as built in build-fuzz/) once over
# every committed input of fuzz/seeds/NAME/ (libFuzzer given files runs each
# once), so that an input that once crashed, leaked or broke a property fails
# `make test`. Quiet when all pass; prints a failing target's output.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
bad=0; total=0
for t in "$@"; do
  name=${t#fuzz_}
  dir=$here/fuzz/seeds/$name
  files=()
  [ -d "$dir" ] && while IFS= read -r f; do files+=("$f"); done < <(find "$dir" -type f | sort)
  if [ ${#files[@]} = 0 ]; then
    echo "fuzz seeds: $name has no seeds in fuzz/seeds/$name" >&2; bad=1; continue
  fi
  log=$(mktemp)
  if ! "$here/build-fuzz/$t" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=60 \
      "${files[@]}" >"$log" 2>&1; then
    cat "$log"; echo "fuzz seeds: $name FAILED on a committed seed" >&2; bad=1
  fi
  total=$((total + ${#files[@]}))
  rm -f "$log"
done
echo "fuzz seeds: $# targets, $total inputs, $([ $bad = 0 ] && echo passed || echo FAILED)"
exit $bad
