#!/usr/bin/python3
"""make_s_fixture.py: writes tests/fixtures/dinamo_s_small.csv, the DINAMO-S
numbers of SPEC 2 computed with numpy operation by operation as the Python
reference does, on a small fixed dataset built here (60 runs x 10 bins).

The dataset exercises the edge cases: bins that are empty (tails, dead bins), an
empty run (label good: must not update), bad and unknown-label runs (never
update), a run with every entry in one bin (sx = 0 in that bin), fractional
counts. Each output row is one (alpha, run): the counts, the label, chi2, the
score log(chi2/N_b), the pulls and the reference (mu, sigma_mu) that scored the
run. Empty runs carry nan. Floats are written with repr, so they round-trip.

Usage: /usr/bin/python3 tools/make_s_fixture.py [out.csv]
"""
import math
import sys

import numpy as np

EPS = 1e-9
N_RUNS, N_BINS = 60, 10
ALPHAS = (0.0, 0.75, 0.95)


def make_dataset():
    rs = np.random.RandomState(20240607)
    edges = np.linspace(-4.0, 4.0, N_BINS + 1)
    cdf = np.array([0.5 * (1.0 + math.erf(e / math.sqrt(2.0))) for e in edges])
    counts = np.zeros((N_RUNS, N_BINS))
    labels = np.zeros(N_RUNS, dtype=int)
    for i in range(N_RUNS):
        mu = 0.3 * math.sin(math.pi * i / 30.0)
        sig = 1.0 if i < 40 else 1.2
        c = np.array([0.5 * (1.0 + math.erf((e - mu) / (sig * math.sqrt(2.0))))
                      for e in edges])
        p = np.diff(c)
        n_ev = rs.randint(50, 3000)
        counts[i] = rs.multinomial(n_ev, np.append(p, max(0.0, 1.0 - p.sum())))[:N_BINS]
    del cdf
    counts[20] = 0.0                       # empty run, labelled good
    labels[25] = 1                         # bad run with shifted content
    counts[25] = counts[25][::-1] * 2.0
    labels[30] = 1                         # dead bins in a bad run
    counts[30, [3, 4, 7]] = 0.0
    labels[35] = -1                        # unknown label
    counts[40] = 0.0                       # one-bin run, good
    counts[40, 5] = 777.0
    counts[45] = counts[45] * 0.37 + 0.125  # fractional counts, good
    labels[50] = 1
    labels[51] = -1
    counts[52, 0:3] = 0.0                  # good run with zero bins
    return counts, labels


def dinamo_s(X, labels, alpha):
    N = X.shape[1]
    mu0 = np.ones(N) / N
    I_mu0 = 100 * N
    sigma0 = np.sqrt(mu0 / I_mu0 - mu0**2 / I_mu0)
    w0 = 1 / (sigma0**2 + EPS)
    W = (1 - alpha) * w0
    S_mu = (1 - alpha) * w0 * mu0
    S_sig = (1 - alpha) * w0 * sigma0**2
    mu, sigma = mu0.copy(), sigma0.copy()
    rows = []
    for i, x in enumerate(X):
        I = x.sum()
        if I > EPS:
            xt = x / I
            sx = np.sqrt(xt / I - xt**2 / I)
            sx[xt == 0] = 1 / I
            chi2 = np.sum((xt - mu)**2 / (sx**2 + sigma**2))
            pull = (xt - mu) / np.sqrt(sx**2 + sigma**2)
            score = np.log(chi2 / N)
            ref_mu, ref_sigma = mu.copy(), sigma.copy()
        else:
            chi2 = score = np.nan
            pull = ref_mu = ref_sigma = np.full(N, np.nan)
        rows.append((chi2, score, pull, ref_mu, ref_sigma))
        if labels[i] == 0 and I > EPS:
            w = 1 / (sx**2 + EPS)
            W = alpha * W + (1 - alpha) * w
            S_sig = alpha * S_sig + (1 - alpha) * w * (xt - mu)**2
            sigma = np.sqrt(S_sig / W)
            S_mu = alpha * S_mu + (1 - alpha) * w * xt
            mu = S_mu / W
    return rows


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/dinamo_s_small.csv"
    X, labels = make_dataset()
    b = ["b%d" % j for j in range(N_BINS)]
    head = (["alpha", "run", "label"] + b + ["chi2", "score"] +
            ["pull%d" % j for j in range(N_BINS)] + ["mu%d" % j for j in range(N_BINS)] +
            ["sigma%d" % j for j in range(N_BINS)])
    with open(out, "w") as f:
        f.write(",".join(head) + "\n")
        for alpha in ALPHAS:
            for i, (chi2, score, pull, rm, rsig) in enumerate(dinamo_s(X, labels, alpha)):
                vals = ([alpha, i, labels[i]] + list(X[i]) + [chi2, score] + list(pull) +
                        list(rm) + list(rsig))
                f.write(",".join(repr(float(v)) if not isinstance(v, (int, np.integer))
                                 else str(int(v)) for v in vals) + "\n")


if __name__ == "__main__":
    main()
