#!/usr/bin/python3
"""make_feed_fixtures.py: writes the input-format fixtures of tests/test_input.c.

  ds_seed5.npz       the runs.csv/truth.csv of `dinamo generate --seed 5 --runs 80
                     --anomalous 8` saved exactly as the Python reference saves its
                     datasets (np.savez_compressed; x float64, y int32, a pickled
                     "inputs" dict, mu, sigma, I0, the rapid-change indices under
                     their Greek names, ...), so the C reader meets the real layout.
  dtypes.npz         np.savez (stored, not deflated) of small arrays in every dtype
                     and layout the reader converts: bool, int8..int64, uint16,
                     float32, big-endian float64, a Fortran-order 2-D array, and an
                     object array that must be skipped.

Needs numpy (Debian python3-numpy); the tests only read the files.
Usage: /usr/bin/python3 tools/make_feed_fixtures.py DATASET_DIR OUT_DIR
"""
import csv
import os
import sys

import numpy as np


def read_dataset(d):
    with open(os.path.join(d, "runs.csv")) as f:
        rows = list(csv.reader(f))[1:]
    x = np.array([[float(v) for v in r[2:]] for r in rows])
    y = np.array([int(r[1]) for r in rows], dtype=np.int32)
    with open(os.path.join(d, "truth.csv")) as f:
        truth = list(csv.DictReader(f))
    mu = np.array([float(t["mu"]) for t in truth])
    sigma = np.array([float(t["sigma"]) for t in truth])
    rmu = np.flatnonzero([int(t["rapid_mu"]) for t in truth])
    rsg = np.flatnonzero([int(t["rapid_sigma"]) for t in truth])
    i0 = np.array([int(t["events"]) for t in truth])
    dead = np.array([int(t["dead_bins"]) for t in truth])
    return x, y, mu, sigma, rmu, rsg, i0, dead


def main():
    src, out = sys.argv[1], sys.argv[2]
    x, y, mu, sigma, rmu, rsg, i0, dead = read_dataset(src)
    inputs = {"n_runs": len(y), "bin_edges": np.arange(-5.0, 5.1, 0.1)}
    np.savez_compressed(
        os.path.join(out, "ds_seed5.npz"),
        x=x, y=y, inputs=inputs, mu=mu, sigma=sigma, I0=i0, I=x.sum(axis=1),
        min_I=x.sum(axis=1).min(), max_I=x.sum(axis=1).max(),
        x_add=np.zeros_like(x),
        inds_for_rapid_changes_μ=rmu, inds_for_rapid_changes_σ=rsg,
        anomaly_inds=np.flatnonzero(y), number_of_dead_bins=dead)
    m = np.arange(12, dtype=np.float64).reshape(3, 4) - 2.5
    np.savez(
        os.path.join(out, "dtypes.npz"),
        b=np.array([True, False, True]),
        i1=np.array([-128, 0, 127], dtype=np.int8),
        i2=np.array([-32768, 5, 32767], dtype=np.int16),
        i4=np.array([-2**31, 7, 2**31 - 1], dtype=np.int32),
        i8=np.array([-2**53, 9, 2**53], dtype=np.int64),
        u2=np.array([0, 1, 65535], dtype=np.uint16),
        f4=np.array([0.1, -2.5, 3e38], dtype=np.float32),
        f8be=np.array([0.1, -2.5, 1e300], dtype=">f8"),
        fortran=np.asfortranarray(m),
        obj=np.array({"a": 1}, dtype=object))


if __name__ == "__main__":
    main()
