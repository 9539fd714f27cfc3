#!/usr/bin/python3
"""make_ref_debias_fixtures.py: writes tests/fixtures/ref_debias_small.csv, the
statistically debiased DINAMO-S numbers of the published reference's own
DinamoS (stat_debiasing=True), on a small fixed dataset built here.

The reference module file dinamo/models/standard/dinamo_s.py is loaded by path
(its package __init__ imports torch), and DinamoS.run is called as the
reference's scripts call it. To record which side each run resampled, the
instance's _calculate_χ2 is wrapped: the wrapper notes the integrals it is
given and calls the original. Nothing of the algorithm is written here.

Dataset: 30 runs x 8 bins, entries per run from 150 to 4000, so that the
reference's integral (EWMA of the good runs' entries, from 100 x 8) is
sometimes above and sometimes below the run's: both branches of the
debiasing. Run 12 is bad (shifted), run 20 unknown-label (-1, treated as not
good by the reference too: y != 0), run 7 has empty bins (with alpha 0 the
next reference has mu == 0 there: the 1/I_mu rule of the run-resampling
branch). No empty run (the reference scores those, dinamo does not).

Each row: alpha, run, label, counts b0..b7, the run's entries x_integral,
the reference's integral mu_integral, chi2, pulls, and the reference mu,
sigma_mu that scored the run. With n_resamples 20000 and seed 22.

Usage: /usr/bin/python3 tools/make_ref_debias_fixtures.py [ref_dir] [out.csv]
"""
import importlib.util
import sys

import numpy as np

N_RUNS, N_BINS = 30, 8
ALPHAS = (0.0, 0.8)
N_RESAMPLES, SEED = 20000, 22


def load_reference(ref_dir):
    path = ref_dir + "/dinamo/models/standard/dinamo_s.py"
    spec = importlib.util.spec_from_file_location("ref_dinamo_s", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.DinamoS


def make_dataset():
    rs = np.random.RandomState(2022)
    centres = np.linspace(-3.5, 3.5, N_BINS)
    counts = np.zeros((N_RUNS, N_BINS))
    labels = np.zeros(N_RUNS, dtype=int)
    for i in range(N_RUNS):
        shape = np.exp(-0.5 * ((centres - 0.2 * np.sin(i / 4.0)) / 1.3) ** 2) + 0.02
        n_ev = int(rs.choice([150, 300, 600, 900, 1500, 2500, 4000]))
        counts[i] = rs.multinomial(n_ev, shape / shape.sum())
    labels[12] = 1
    counts[12] = counts[12][::-1] * 1.5
    labels[20] = -1
    counts[7, [0, 7]] = 0.0
    return counts, labels


def main():
    ref_dir = sys.argv[1] if len(sys.argv) > 1 else "/work/ref-dinamo"
    out = sys.argv[2] if len(sys.argv) > 2 else "tests/fixtures/ref_debias_small.csv"
    DinamoS = load_reference(ref_dir)
    counts, labels = make_dataset()
    rows = []
    for alpha in ALPHAS:
        model = DinamoS(stat_debiasing=True, n_resamples=N_RESAMPLES, debiasing_seed=SEED)
        seen = []
        original = model._calculate_χ2

        def wrapped(x, s_x, x_integral, mu, s_mu, mu_integral, n_bins):
            seen.append((x_integral, mu_integral))
            return original(x, s_x, x_integral, mu, s_mu, mu_integral, n_bins)

        model._calculate_χ2 = wrapped
        res = model.run(alpha, counts, labels)
        for i in range(N_RUNS):
            row = [alpha, i, labels[i]] + list(counts[i]) + list(seen[i])
            row += [res["χ2"][i]] + list(res["pull"][i]) + list(res["μ"][i])
            row += list(res["σ_μ"][i])
            rows.append(row)
    cols = (["alpha", "run", "label"] + ["b%d" % j for j in range(N_BINS)]
            + ["x_integral", "mu_integral", "chi2"] + ["pull%d" % j for j in range(N_BINS)]
            + ["mu%d" % j for j in range(N_BINS)] + ["sigma%d" % j for j in range(N_BINS)])
    with open(out, "w") as f:
        f.write(",".join(cols) + "\n")
        for row in rows:
            f.write(",".join(repr(float(v)) if not isinstance(v, (int, np.integer))
                             else str(int(v)) for v in row) + "\n")
    below = sum(1 for r in rows if r[3 + N_BINS] > r[4 + N_BINS])
    print("%s: %d rows, %d with the run's integral above the reference's"
          % (out, len(rows), below))


if __name__ == "__main__":
    main()
