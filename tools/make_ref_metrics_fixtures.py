#!/usr/bin/python3
"""make_ref_metrics_fixtures.py: the reference's own metric numbers for
tests/test_metrics.c (issue 22), written under tests/fixtures/:

  ref_metrics_inputs.csv  the inputs, one row per run: run, label, score,
                          change, true mu and sigma, chi2, the normalised
                          histogram x_b*, the reference ref_b* and its sigma
                          unc_b* that scored the run, the counts count_b* (case "ds": a dataset of
                          `dinamo generate`, DINAMO-S scores of `dinamo score`;
                          case "hand": a hand-made adaptivity case, no bins)
  ref_metrics_values.csv  case,name,index,value: the reference's numbers
  ref_metrics_scan.csv    the bootstrap threshold scan's percentile curves

The dataset: `dinamo generate --seed 70 --runs 300 --anomalous 30 --bins 16
--dead-max 4 --p-rapid 0.03` (small, so the inputs stay ~300 kB, with 21 change
points), scored with `dinamo score --method s --alpha 0.9 --pulls`; the first
150 runs are the historical regime.

Reference functions called (loaded by path from /work/ref-dinamo through a
package shim, since its __init__ files import torch/sklearn): metrics.py
adaptivity_index, jaccard_distance, calculate_metrics_with_bootstrap;
utils/jaccard_distance_evaluation.py jaccard_distance_evaluation (with
z_score_transform.py). sklearn's balanced_accuracy_score, accuracy_score,
recall_score (pos_label 0 and 1) and precision_score (zero_division default:
0) as results_validation.py calls them are replaced by numpy equivalents
below (rates_like_sklearn). The bootstrap of the five rates at one threshold
has no reference function; it is written here with the reference's resampling
(numpy default_rng(seed).choice(n, n, replace=True)) and numpy.percentile.

Floats are written with repr so they round-trip.

Usage: /usr/bin/python3 tools/make_ref_metrics_fixtures.py [REF_DIR] [DINAMO_BIN]
  (defaults /work/ref-dinamo and build/dinamo; run from the repository root)
"""
import importlib
import os
import subprocess
import sys
import tempfile

import numpy as np

REF = sys.argv[1] if len(sys.argv) > 1 else "/work/ref-dinamo"
TOOL = sys.argv[2] if len(sys.argv) > 2 else "build/dinamo"
OUT = "tests/fixtures"
N_HIST = 150
GEN = ["--seed", "70", "--runs", "300", "--anomalous", "30", "--bins", "16",
       "--dead-max", "4", "--p-rapid", "0.03"]
SCAN = dict(n_grid=200, lo=-3.25, hi=7.5, n_boot=1000, seed=22, beta=1.0)
SCAN_W = dict(SCAN, beta=0.5, seed=23)  # a weighted balanced accuracy too
RATES_BOOT, RATES_SEED = 4000, 22


def load_reference():
    """A package `dinamo` with only the numpy modules we call."""
    shim = tempfile.mkdtemp(prefix="refshim")
    pkg = os.path.join(shim, "dinamo")
    os.makedirs(os.path.join(pkg, "metrics"))
    os.makedirs(os.path.join(pkg, "utils"))
    open(os.path.join(pkg, "__init__.py"), "w").close()
    open(os.path.join(pkg, "utils", "__init__.py"), "w").close()
    with open(os.path.join(pkg, "metrics", "__init__.py"), "w") as f:
        f.write("from .metrics import *\n")
    os.symlink(os.path.join(REF, "dinamo/metrics/metrics.py"),
               os.path.join(pkg, "metrics", "metrics.py"))
    for m in ("z_score_transform.py", "jaccard_distance_evaluation.py"):
        os.symlink(os.path.join(REF, "dinamo/utils", m), os.path.join(pkg, "utils", m))
    sys.path.insert(0, shim)
    metrics = importlib.import_module("dinamo.metrics.metrics")
    jde = importlib.import_module("dinamo.utils.jaccard_distance_evaluation")
    return metrics, jde


def rates_like_sklearn(y, pred):
    """sklearn's five scores of results_validation.py for 0/1 arrays."""
    tp = int(np.sum((y == 1) & (pred == 1)))
    fn = int(np.sum((y == 1) & (pred == 0)))
    tn = int(np.sum((y == 0) & (pred == 0)))
    fp = int(np.sum((y == 0) & (pred == 1)))
    recalls = []
    sens = tp / (tp + fn) if tp + fn else np.nan
    spec = tn / (tn + fp) if tn + fp else np.nan
    # balanced_accuracy_score: mean of the recalls of the classes in y_true
    for r, present in ((spec, tn + fp), (sens, tp + fn)):
        if present:
            recalls.append(r)
    ba = float(np.mean(recalls))
    acc = float(np.average(y == pred))
    prec = tp / (tp + fp) if tp + fp else 0.0
    return dict(tp=tp, fn=fn, tn=tn, fp=fp, balanced_accuracy=ba, accuracy=acc,
                sensitivity=sens, specificity=spec, precision=prec)


def make_dataset(work):
    ds = os.path.join(work, "ds70")
    subprocess.run([TOOL, "generate", "--out", ds] + GEN, check=True)
    subprocess.run([TOOL, "score", "--method", "s", "--in", ds, "--alpha", "0.9",
                    "--out", os.path.join(ds, "scores.csv"), "--pulls",
                    os.path.join(ds, "pulls.csv")], check=True)
    runs = np.genfromtxt(os.path.join(ds, "runs.csv"), delimiter=",", skip_header=1)
    truth = np.genfromtxt(os.path.join(ds, "truth.csv"), delimiter=",", skip_header=1)
    scores = np.genfromtxt(os.path.join(ds, "scores.csv"), delimiter=",", skip_header=1,
                           usecols=(0, 1, 2, 3))
    pulls = np.genfromtxt(os.path.join(ds, "pulls.csv"), delimiter=",", skip_header=1)
    nb = runs.shape[1] - 2
    counts = runs[:, 2:]
    x = counts / counts.sum(axis=1, keepdims=True)
    edges = np.linspace(-5.0, 5.0, nb + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    return dict(y=runs[:, 1].astype(int), score=scores[:, 3], chi2=scores[:, 2], counts=counts,
                change=truth[:, 3].astype(int),
                mu=truth[:, 1], sigma=truth[:, 2], x=x, ref=pulls[:, 1 + nb:1 + 2 * nb],
                unc=pulls[:, 1 + 2 * nb:1 + 3 * nb], centres=centres, nb=nb)


def make_hand():
    """40 runs, threshold 0: scores on a 0.5 lattice (ties at the threshold), bad
    runs inside segments, a segment that never converges (9..16), a bad change
    point (25), a change point at the last run (39); n_hist 20 so the last
    historical segment (17) runs on into the continual regime."""
    rs = np.random.RandomState(22)
    score = np.round(rs.normal(0.3, 1.2, 40) * 2) / 2
    y = (rs.uniform(size=40) < 0.2).astype(int)
    score[9:17] = np.abs(score[9:17]) + 0.5      # never at or below 0
    score[[3, 9, 17, 25, 39]] = [4.0, 3.5, 2.0, 5.0, 1.5]
    y[[3, 9, 17, 39]] = 0
    y[25] = 1
    score[18:22] = [0.0, 0.5, 0.0, -0.5]          # ties, a reset, patience-3 walk
    y[18:22] = 0
    change = np.zeros(40, dtype=int)
    change[[3, 9, 17, 25, 39]] = 1
    return dict(y=y, score=score, change=change)


def main():
    metrics, jde = load_reference()
    values = []

    def put(case, name, v, i=0):
        values.append((case, name, i, v))

    with tempfile.TemporaryDirectory() as work:
        d = make_dataset(work)
    n = len(d["y"])
    y, s = d["y"], d["score"]
    cps = np.flatnonzero(d["change"])

    # The threshold: the reference's threshold_opt arithmetic on the historical runs.
    T = np.linspace(-3.25, 7.5, 1000)
    _, _, wba = metrics.calculate_metrics_with_bootstrap(
        y[:N_HIST], s[:N_HIST], T, N_HIST, 100, 1, 22)
    thr = float(T[np.argmax(np.quantile(wba, [0.5], axis=0))])
    put("ds", "threshold", thr)
    put("ds", "n_hist", N_HIST)
    pred = (s > thr).astype(int)
    for reg, sl in (("historical", slice(0, N_HIST)), ("continual", slice(N_HIST, n))):
        for k, v in rates_like_sklearn(y[sl], pred[sl]).items():
            put("ds", f"{reg}.{k}", v)
    for thr2 in (float(np.sort(s)[n // 2]),):   # a threshold equal to a score: a tie
        put("ds", "tie_threshold", thr2)
        for k, v in rates_like_sklearn(y, (s > thr2).astype(int)).items():
            put("ds", f"tie.{k}", v)
    for patience in (1, 3):
        for reg, sel in (("historical", cps[cps < N_HIST]), ("continual", cps[cps >= N_HIST])):
            steps, index = metrics.adaptivity_index(s, y, sel, thr, patience)
            put("ds", f"{reg}.nsteps_p{patience}", steps)
            put("ds", f"{reg}.index_p{patience}", index)
            put("ds", f"{reg}.n_changes", len(sel))
    jds, bands = jde.jaccard_distance_evaluation(
        d["centres"], d["mu"], d["sigma"], d["x"], y, d["ref"], d["unc"], N_HIST)
    for r, reg in enumerate(("historical", "continual")):
        put("ds", f"{reg}.jd", jds[r])
        for b, name in enumerate(("true_mid", "true_half", "pred_mid", "pred_half")):
            for j, v in enumerate(bands[4 * r + b]):
                put("ds", f"{reg}.{name}", v, j)

    # Bootstrap of the five rates at thr over all runs (no reference function:
    # the reference's resampling, sklearn's rates).
    rng = np.random.default_rng(RATES_SEED)
    boot = {k: [] for k in ("balanced_accuracy", "accuracy", "sensitivity", "specificity",
                            "precision")}
    for _ in range(RATES_BOOT):
        i = rng.choice(n, size=n, replace=True)
        r = rates_like_sklearn(y[i], pred[i])
        for k in boot:
            boot[k].append(r[k])
    for k, v in boot.items():
        v = np.array(v, dtype=float)
        v = v[~np.isnan(v)]
        put("ds", f"boot.{k}.p2.5", float(np.percentile(v, 2.5)))
        put("ds", f"boot.{k}.p97.5", float(np.percentile(v, 97.5)))
        put("ds", f"boot.{k}.sd", float(np.std(v)))
    put("ds", "boot.n_boot", RATES_BOOT)

    # The threshold scan: the reference's bootstrap over a grid, per grid point
    # the 2.5, 50 and 97.5 % quantiles of the three curves and their spread.
    scan_rows = []
    for tag, o in (("b1", SCAN), ("b05", SCAN_W)):
        T = np.linspace(o["lo"], o["hi"], o["n_grid"])
        curves = metrics.calculate_metrics_with_bootstrap(
            y[:N_HIST], s[:N_HIST], T, N_HIST, o["n_boot"], o["beta"], o["seed"])
        qs = [np.quantile(np.array(c), [0.025, 0.5, 0.975], axis=0) for c in curves]
        sds = [np.std(np.array(c), axis=0) for c in curves]
        for k in range(o["n_grid"]):
            scan_rows.append([tag, k, T[k]] + [q[j][k] for q in qs for j in range(3)] +
                             [sd[k] for sd in sds])
        put("scan", f"{tag}.beta", o["beta"])
        put("scan", f"{tag}.n_boot", o["n_boot"])
        put("scan", f"{tag}.n_grid", o["n_grid"])

    # The hand-made adaptivity case.
    h = make_hand()
    hc = np.flatnonzero(h["change"])
    for patience in (1, 3):
        for reg, sel in (("historical", hc[hc < 20]), ("continual", hc[hc >= 20]),
                         ("none", hc[:0])):
            steps, index = metrics.adaptivity_index(h["score"], h["y"], sel, 0.0, patience)
            put("hand", f"{reg}.nsteps_p{patience}", np.nan if steps is None else steps)
            put("hand", f"{reg}.index_p{patience}", np.nan if index is None else index)
    for k, v in rates_like_sklearn(h["y"], (h["score"] > 0.0).astype(int)).items():
        put("hand", f"all.{k}", v)

    os.makedirs(OUT, exist_ok=True)
    nb = d["nb"]
    with open(os.path.join(OUT, "ref_metrics_inputs.csv"), "w") as f:
        f.write("case,run,label,score,change,mu,sigma,chi2," +
                ",".join(f"x_b{j}" for j in range(nb)) + "," +
                ",".join(f"ref_b{j}" for j in range(nb)) + "," +
                ",".join(f"unc_b{j}" for j in range(nb)) + "," +
                ",".join(f"count_b{j}" for j in range(nb)) + "\n")
        for i in range(n):
            row = ["ds", i, int(y[i]), repr(float(s[i])), int(d["change"][i]),
                   repr(float(d["mu"][i])), repr(float(d["sigma"][i])), repr(float(d["chi2"][i]))]
            row += [repr(float(v)) for v in np.concatenate([d["x"][i], d["ref"][i], d["unc"][i]])]
            row += [int(v) for v in d["counts"][i]]
            f.write(",".join(str(v) for v in row) + "\n")
        for i in range(len(h["y"])):
            f.write(f"hand,{i},{int(h['y'][i])},{float(h['score'][i])!r},"
                    f"{int(h['change'][i])},0,1,nan\n")
        f.write("centres," + ",".join(repr(float(c)) for c in d["centres"]) + "\n")
    with open(os.path.join(OUT, "ref_metrics_values.csv"), "w") as f:
        f.write("case,name,index,value\n")
        for case, name, i, v in values:
            f.write(f"{case},{name},{i},{float(v)!r}\n")
    with open(os.path.join(OUT, "ref_metrics_scan.csv"), "w") as f:
        f.write("beta_tag,k,t,sens_lo,sens_mid,sens_hi,spec_lo,spec_mid,spec_hi,"
                "wba_lo,wba_mid,wba_hi,sens_sd,spec_sd,wba_sd\n")
        for r in scan_rows:
            f.write(",".join(str(v) if isinstance(v, (str, int)) else repr(float(v))
                             for v in r) + "\n")


if __name__ == "__main__":
    main()
