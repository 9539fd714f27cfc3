#!/usr/bin/python3
"""make_ref_bench_fixtures.py: the numbers test_plot_bench checks `dinamo
bench`'s aggregated table (dn_describe) against, made once with numpy.

The reference aggregates its per-dataset metric rows with pandas'
DataFrame.describe(percentiles=[Phi(-1), Phi(1), Phi(-2), Phi(2), Phi(-3),
Phi(3), 0.025, 0.05, 0.25, 0.75, 0.95, 0.975]) (scripts/run_aggregate_results.py,
Phi = scipy.stats.norm.cdf). Neither pandas nor scipy is installed on Debian's
python3 here, so this script computes what describe() computes, per column,
with numpy, as pandas.core.nanops does it:
  count  the non-NaN values;
  mean   their numpy sum / count;
  std    sqrt(sum((x - mean)**2) / (count - 1)), NaN below 2 values;
  min, max;
  q      numpy.percentile(x, 100 * q) (linear) of the non-NaN values,
and Phi(z) = 0.5 * erfc(-z / sqrt(2)) (scipy's ndtr; it may differ in the
last bit, 1e-16 of a percentile's position, far below the 1e-12 tolerance).

The input is a constructed metrics table (the real metrics are filled by
another branch of issue 22): 37 datasets of the sixteen columns of
metrics_<method>.csv and two bootstrap-interval columns, values drawn around
the paper's with seed 22, with NaN where the reference has it (steps to adapt
and adaptivity index of datasets without change points), a column that is NaN
everywhere and one with a single value.

Writes into DIR (default tests/fixtures):
  ref_bench_metrics.csv   the table (seed, then the metric columns; NaN empty)
  ref_bench_describe.csv  row (0..17 in describe's order: count, mean, std,
                          min, 0.1%, 2.3%, 2.5%, 5%, 15.9%, 25%, 50%, 75%,
                          84.1%, 95%, 97.5%, 97.7%, 99.9%, max), then the same
                          columns' statistics (NaN empty)
Run: /usr/bin/python3 tools/make_ref_bench_fixtures.py [DIR]
"""
import math
import os
import sys

import numpy as np

REGIMES = ["historical", "continual"]
METRICS = ["balanced_accuracy", "accuracy", "specificity", "sensitivity", "precision",
           "jaccard_distance", "nsteps_to_adapt", "adaptivity_index"]


def phi(z):
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


PERCENTILES = sorted([phi(-1), phi(1), phi(-2), phi(2), phi(-3), phi(3),
                      0.025, 0.05, 0.25, 0.75, 0.95, 0.975] + [0.5])


def describe(col):
    x = col[~np.isnan(col)]
    n = len(x)
    out = [float(n)]
    if n == 0:
        return out + [math.nan] * 17
    mean = x.sum() / n
    std = math.sqrt(((x - mean) ** 2).sum() / (n - 1)) if n > 1 else math.nan
    out += [mean, std, x.min()]
    out += [float(np.percentile(x, 100 * q)) for q in PERCENTILES]
    out.append(x.max())
    return out


def fmt(v):
    return "" if math.isnan(v) else repr(float(v))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    rng = np.random.default_rng(22)
    n = 37
    cols = {}
    for r in REGIMES:
        for m in METRICS:
            name = f"{m}_{r}"
            if m == "jaccard_distance":
                v = rng.normal(0.14, 0.03, n)
            elif m == "nsteps_to_adapt":
                v = rng.gamma(2.0, 1.0, n)
            elif m == "adaptivity_index":
                v = rng.normal(1.0, 0.3, n)
            elif m == "precision":
                v = rng.uniform(0.3, 1.0, n)
            else:
                v = np.minimum(1.0, rng.normal(0.95, 0.03, n))
            if m in ("nsteps_to_adapt", "adaptivity_index"):
                v[rng.choice(n, 5, replace=False)] = math.nan
            cols[name] = v
    cols["balanced_accuracy_continual_lo"] = np.full(n, math.nan)
    one = np.full(n, math.nan)
    one[11] = 0.5
    cols["balanced_accuracy_continual_hi"] = one
    names = list(cols)
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "ref_bench_metrics.csv"), "w") as f:
        f.write("seed," + ",".join(names) + "\n")
        for i in range(n):
            f.write(f"{100 + i}," + ",".join(fmt(cols[c][i]) for c in names) + "\n")
    stats = {c: describe(cols[c]) for c in names}
    with open(os.path.join(outdir, "ref_bench_describe.csv"), "w") as f:
        f.write("row," + ",".join(names) + "\n")
        for k in range(18):
            f.write(f"{k}," + ",".join(fmt(stats[c][k]) for c in names) + "\n")


if __name__ == "__main__":
    main()
