#!/usr/bin/python3
"""make_uhi_fixtures.py: writes the UHI fixtures of tests/test_uhi.c, built by
hand from numpy arrays as the uhi schema ("uhi_schema": 1) lays them out
(boost-histogram and hist are not Debian packages; the JSON they write is
values.tolist() of the array with its flow bins, and uhi.io.to_sparse's
index is np.vstack(np.nonzero(mask))):

  run_000042.json   one run of histograms of the same contents in every form:
                    2-D nested [x][y] with flow bins, flat in numpy's C order,
                    nested without flow bins, sparse; 1-D dense and sparse;
                    weighted 2-D nested and sparse; storage with no values.
  expected.json     numpy's answer for each: the monitored bins (flow bins
                    sliced off) raveled in C order (x outer, y inner), the
                    variances, the edges of each axis.

Seeded (numpy's default_rng(19)); values are multiples of 1/4, so JSON
carries them exactly. Needs numpy (Debian python3-numpy); the tests only read
the files.
Usage: /usr/bin/python3 tools/make_uhi_fixtures.py OUT_DIR
"""
import json
import os
import sys

import numpy as np


def regular(lo, hi, bins, under, over):
    return {"type": "regular", "lower": lo, "upper": hi, "bins": bins,
            "underflow": under, "overflow": over, "circular": False}


def variable(edges, under, over):
    return {"type": "variable", "edges": list(edges), "underflow": under,
            "overflow": over, "circular": False}


def axis_edges(ax):
    if ax["type"] == "variable":
        return [float(e) for e in ax["edges"]]
    lo, hi, n = ax["lower"], ax["upper"], ax["bins"]
    return [lo + (hi - lo) * i / n for i in range(n)] + [hi]


def inner(arr, axes):
    """The monitored bins: each axis' flow bins sliced off."""
    sl = tuple(slice(int(a["underflow"]), int(a["underflow"]) + len(axis_edges(a)) - 1)
               for a in axes)
    return arr[sl]


def sparse(arrays, rng):
    """uhi.io.to_sparse: the bins where any array is non-zero, entries shuffled
    (the order of entries carries no meaning)."""
    mask = np.any([a != 0 for a in arrays], axis=0)
    index = np.vstack(np.nonzero(mask))
    order = rng.permutation(index.shape[1])
    return index[:, order], [a[mask][order] for a in arrays]


def main(out):
    rng = np.random.default_rng(19)
    run, expected = {}, {}

    def hist(key, axes, storage, values, variances=None):
        run[key] = {"uhi_schema": 1, "axes": axes, "storage": storage,
                    "metadata": {"run": 42}}
        e = {"n_bins_y": len(axis_edges(axes[1])) - 1 if len(axes) == 2 else 0,
             "edges": [axis_edges(a) for a in axes],
             "counts": inner(values, axes).ravel(order="C").tolist()}
        if variances is not None:
            e["variances"] = inner(variances, axes).ravel(order="C").tolist()
        expected[key] = e

    # 2-D, x regular 5 bins with both flow bins, y variable 3 bins with overflow
    ax2 = [regular(-2.0, 3.0, 5, True, True), variable([0, 1, 2.5, 7], False, True)]
    shape = (5 + 2, 3 + 1)
    v = rng.integers(0, 40, size=shape).astype(float) / 4
    v[rng.random(shape) < 0.4] = 0  # sparse enough that the sparse form is smaller
    v[2, 1] = 0
    v[0, 0], v[6, 3] = 13.25, 2.5  # something in the flow bins, dropped
    hist("det/nested", ax2, {"type": "double", "values": v.tolist()}, v)
    hist("det/flat", ax2, {"type": "double", "values": v.ravel(order="C").tolist()}, v)
    vin = inner(v, ax2)
    hist("det/nested_no_flow", ax2, {"type": "double", "values": vin.tolist()}, v)
    idx, (sv,) = sparse([v], rng)
    hist("det/sparse", ax2, {"type": "double", "index": idx.tolist(), "values": sv.tolist()}, v)

    # weighted 2-D
    w = v * 1.5
    w[1, 2] = 0.75  # a bin with a variance and no value
    hist("det/weighted_nested", ax2,
         {"type": "weighted", "values": v.tolist(), "variances": w.tolist()}, v, w)
    idx, (sv, sw) = sparse([v, w], rng)
    hist("det/weighted_sparse", ax2,
         {"type": "weighted", "index": idx.tolist(), "values": sv.tolist(),
          "variances": sw.tolist()}, v, w)

    # 1-D, underflow only, int storage
    ax1 = [regular(0.0, 8.0, 8, True, False)]
    c = rng.integers(0, 5, size=9).astype(float)
    c[3] = 0
    c[0] = 7  # underflow
    hist("trk/dense", ax1, {"type": "int", "values": [int(x) for x in c]}, c)
    idx, (sc,) = sparse([c], rng)
    hist("trk/sparse", ax1, {"type": "int", "index": idx.tolist(),
                             "values": [int(x) for x in sc]}, c)

    # only the binning (a histogram with no entries), 2-D weighted and 1-D int
    hist("det/empty", ax2, {"type": "weighted"}, np.zeros(shape), np.zeros(shape))
    hist("trk/empty", ax1, {"type": "int"}, np.zeros(9))

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "run_000042.json"), "w") as f:
        json.dump(run, f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/uhi")
