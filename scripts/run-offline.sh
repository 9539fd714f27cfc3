#!/usr/bin/env bash
# The offline job (no services): generate the paper's example dataset (seed 70) and
# evaluate DINAMO-S on it with the offline tool, printing the metrics and where
# the files are. Data goes under ./data (ignored by git).
set -euo pipefail
build=${DINAMO_BUILD:-build}
seed=${DINAMO_SEED:-70}
dir=data/seed-$seed
mkdir -p data
echo "== generating dataset seed $seed into $dir"
"$build/dinamo" generate --seed "$seed" --out "$dir"
echo "== DINAMO-S: tuning alpha and threshold on runs 0..999, evaluating runs 1000..4999"
"$build/dinamo" evaluate "$dir" --method s --out "$dir/metrics_s.json"
"$build/dinamo" score --method s --in "$dir" --out "$dir/scores_s.csv" --pulls "$dir/pulls_s.csv" \
  --alpha "$(sed -n 's/.*"alpha": \([0-9.e-]*\).*/\1/p' "$dir/metrics_s.json")"
echo "== written: $dir/{runs,truth}.csv, meta.json, metrics_s.json, scores_s.csv, pulls_s.csv"
