/* uhi.h: reads one run from a UHI JSON file, the histogram serialization of
 * Scikit-HEP's uhi ("uhi_schema": 1) that `hist` and `boost-histogram` write.
 *
 * A file is one run: a JSON object mapping histogram names (the keys we monitor
 * them by) to histograms
 *     {"uhi_schema": 1, "axes": [X] or [X, Y], "storage": STORAGE,
 *      "metadata": {...}, "writer_info": {...}}
 * ("uhi_schema" may be absent, as in older files; any value but 1 is a later
 * schema and the histogram is left out). Each axis is
 *     {"type": "regular", "lower": L, "upper": U, "bins": N,
 *      "underflow": bool, "overflow": bool}       (edges L + (U - L) i / N)
 *     {"type": "variable", "edges": [e0, ..., eN], "underflow": .., "overflow": ..}
 * (a flag left out is false; "circular" is ignored). One axis gives a 1-D
 * histogram, two a 2-D one of nx by ny bins (at most 10^6 bins in all),
 * flattened as runin.h says: bin (ix, iy) at ix * ny + iy, x outer.
 *
 * The storage is of type "int" or "double" (counts; Poisson uncertainties) or
 * "weighted" (values and variances; the variances replace the Poisson
 * estimate), in one of three forms:
 *   - dense: "values" (and "variances"). 1-D: a list of the nx bins, or of nx
 *     plus the flow bins the axis declares (underflow first, overflow last).
 *     2-D: nested lists values[ix][iy] (nx or nx plus x's flow bins lists, each
 *     of ny or ny plus y's flow bins numbers, the same for every list), or one
 *     flat list in numpy's C order (x outer, y inner) of nx * ny numbers or of
 *     all (nx + x's flow) * (ny + y's flow) stored bins;
 *   - sparse: "index" + "values" (and "variances"): index holds one list per
 *     axis, index[a][k] the bin along axis a of entry k counted as the dense
 *     lists count them (0 is the underflow bin when the axis has one), and
 *     values[k] its contents; bins no entry names are zero. A bin beyond its
 *     axis, a bin named twice or lists of unequal lengths leave the histogram
 *     out;
 *   - no data (only "type"): the binning alone, a histogram with no entries:
 *     every count (and variance) zero, kept (scored as insufficient
 *     statistics downstream).
 * Flow bins are dropped in every form: they are not monitored. The older
 * draft layout with the arrays under storage "data" is read too.
 *
 * Conventions (README, "Real histogram feeds"):
 *   - run number: metadata "run" of the histograms (an integer; all that give
 *     one must agree), else the last group of digits of the file name
 *     (run_000123.json -> 123);
 *   - time: metadata "time" (Unix seconds), else unknown;
 *   - label: metadata "label" ("good" or "bad"), else unknown;
 *   - subsystem: metadata "subsystem", else the key up to its first '/'
 *     ("calo/energy" -> "calo"), else "".
 *
 * NaN and Infinity tokens (Python's json writes them) are read as numbers so the
 * histogram that holds them can be named. A histogram that breaks any rule is
 * left out with a problem message naming the file and histogram (runin.h); the
 * rest of the run is kept. Left out: no axes, 3 or more axes, category and
 * boolean axes, storages "mean" and "weighted_mean" (profiles), arrays given
 * by reference (the zip and HDF5 forms' out-of-band data), wrong lengths, NaN,
 * negative counts or variances in a monitored bin, unsorted edges, bad sparse
 * indices.
 *
 * Thread rules: no shared state; call from any thread. */
#ifndef DN_UHI_H
#define DN_UHI_H

#include <stddef.h>

#include "error.h"
#include "runin.h"

/* Reads the file at path. On success *out is a new run the caller owns (it may
 * hold zero histograms and only problems). Returns 0; DN_EIO (unreadable);
 * DN_EFORMAT (not JSON, not an object, histograms disagreeing on the run
 * number, no run number anywhere); DN_ENOMEM. err names the file. */
int dn_uhi_read_file(const char *path, dn_runin_t **out, dn_err_t *err);

/* Same for len bytes of text; `name` is the file name used for the run number
 * and in messages. */
int dn_uhi_parse(const char *text, size_t len, const char *name, dn_runin_t **out,
                 dn_err_t *err);

#endif
