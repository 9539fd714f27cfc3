#!/usr/bin/python3
"""make_ref_eda_fixtures.py: fixture numbers for tests/test_eda.c from the
reference implementation's own functions (github ArseniiGav/DINAMO, checked out
read-only; run once, the output is committed).

    /usr/bin/python3 tools/make_ref_eda_fixtures.py [REF_DIR] [OUT_DIR]

REF_DIR defaults to /work/ref-dinamo, OUT_DIR to tests/fixtures. Writes:

  ref_eda_dataset/      a small dataset made by the reference's ToyDataset
                        (200 runs, 20 bad, rapid changes made frequent so that
                        some occur), in our dataset directory format: runs.csv,
                        truth.csv (mu, sigma, rapid_mu, rapid_sigma, events =
                        I0, dead_bins), meta.json (the reference's bin edges);
  ref_eda_unc_vis.csv   bin,center,median,full_sigma,stat_sigma: the
                        reference's z_score_transform_for_hists and
                        unify_binning on the good runs, then the median,
                        standard deviation and Poisson term of its
                        eda_processing;
  ref_eda_stats.csv     lo,hi,good,bad: the run-statistics histograms with the
                        reference's bins (numpy.histogram, which matplotlib's
                        hist calls), and the class counts in a comment line.

The module files are loaded by path: the reference's package __init__ files
import torch and optuna. eda_processing.py itself cannot be loaded (it imports
matplotlib and draws as it computes); its three lines of arithmetic (median,
std over axis 0, sqrt(median / mean I)) are written below as numpy calls of
the same form. Numbers are written with repr (shortest round trip)."""
import importlib.util
import json
import os
import sys
import tempfile

import numpy as np


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ref = sys.argv[1] if len(sys.argv) > 1 else "/work/ref-dinamo"
    out = sys.argv[2] if len(sys.argv) > 2 else "tests/fixtures"
    pkg = os.path.join(ref, "dinamo")
    zst = load(os.path.join(pkg, "utils", "z_score_transform.py"), "ref_zst")
    toy = load(os.path.join(pkg, "datasets", "toy_dataset.py"), "ref_toy")

    seed = 70
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "data"))
        gen = toy.ToyDataset(n_runs=200, n_anomalous_runs=20, min_stats=2000, max_stats=20000,
                             mu_slow_change_period=500, rapid_change_p=0.02,
                             mu_rapid_changes_shift_lims=(0.5, 1.5),
                             sigma_rapid_changes_shift_lims=(0.1, 0.4), anomaly_p=0.9,
                             mu_anomaly_shift_lims=(0.25, 0.75),
                             sigma_anomaly_shift_lims=(0.05, 0.2), binom_p=0.4,
                             base_path_to_data=tmp)
        gen.build_and_save_dataset(seed)
        d = dict(np.load(os.path.join(tmp, "data", "1d_gaussians_%d.npz" % seed),
                         allow_pickle=True))
    x, y, mu, sigma, I = d["x"], d["y"], d["mu"], d["sigma"], d["I"]
    inputs = d["inputs"].item()
    edges, centers = inputs["bin_edges"], inputs["bin_centers"]
    n_runs, n_bins = x.shape
    rmu = np.zeros(n_runs, dtype=int)
    rmu[d["inds_for_rapid_changes_μ"]] = 1
    rsg = np.zeros(n_runs, dtype=int)
    rsg[d["inds_for_rapid_changes_σ"]] = 1

    ddir = os.path.join(out, "ref_eda_dataset")
    os.makedirs(ddir, exist_ok=True)
    with open(os.path.join(ddir, "runs.csv"), "w") as f:
        f.write("run,label," + ",".join("b%d" % j for j in range(n_bins)) + "\n")
        for i in range(n_runs):
            f.write("%d,%d," % (i, y[i]) + ",".join("%d" % v for v in x[i]) + "\n")
    with open(os.path.join(ddir, "truth.csv"), "w") as f:
        f.write("run,mu,sigma,rapid_change,rapid_mu,rapid_sigma,events,dead_bins\n")
        for i in range(n_runs):
            f.write("%d,%r,%r,%d,%d,%d,%d,%d\n" % (i, float(mu[i]), float(sigma[i]),
                                                   rmu[i] | rsg[i], rmu[i], rsg[i],
                                                   d["I0"][i], d["number_of_dead_bins"][i]))
    with open(os.path.join(ddir, "meta.json"), "w") as f:
        json.dump({"bin_edges": [float(e) for e in edges],
                   "source": "reference ToyDataset, seed %d, 200 runs" % seed}, f)
        f.write("\n")

    # the uncertainty visualisation, as eda_processing computes it
    good = y == 0
    pdf, zbins = zst.z_score_transform_for_hists(centers, x[good], mu[good], sigma[good],
                                                 I[good])
    unified = zst.unify_binning(centers, zbins, pdf)
    pdf_mu = np.median(unified, axis=0)
    pdf_full = unified.std(0)
    pdf_stat = np.sqrt(pdf_mu / I[good].mean())
    with open(os.path.join(out, "ref_eda_unc_vis.csv"), "w") as f:
        f.write("bin,center,median,full_sigma,stat_sigma\n")
        for j in range(n_bins):
            f.write("%d,%r,%r,%r,%r\n" % (j, float(centers[j]), float(pdf_mu[j]),
                                          float(pdf_full[j]), float(pdf_stat[j])))

    # run statistics, with eda_processing's bins
    min_I, max_I = d["min_I"], d["max_I"]
    I_bins = np.arange(min_I, max_I + 1, (max_I - min_I) // 50)
    hg = np.histogram(I[good], bins=I_bins)[0]
    hb = np.histogram(I[~good], bins=I_bins)[0]
    with open(os.path.join(out, "ref_eda_stats.csv"), "w") as f:
        f.write("# good %d bad %d\n" % (len(y) - sum(y), sum(y)))
        f.write("lo,hi,good,bad\n")
        for b in range(len(I_bins) - 1):
            f.write("%r,%r,%d,%d\n" % (float(I_bins[b]), float(I_bins[b + 1]), hg[b], hb[b]))
    print("wrote %s, ref_eda_unc_vis.csv, ref_eda_stats.csv (%d runs, %d good, %d rapid mu, "
          "%d rapid sigma)" % (ddir, n_runs, good.sum(), rmu.sum(), rsg.sum()))


if __name__ == "__main__":
    main()
