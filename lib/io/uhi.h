/* uhi.h: reads one run from a UHI JSON file, the histogram serialization of
 * Scikit-HEP's uhi that `hist` and `boost-histogram` write.
 *
 * A file is one run: a JSON object mapping histogram names (the keys we monitor
 * them by) to histograms
 *     {"uhi_schema": 1, "axes": [AXIS], "storage": STORAGE, "metadata": {...}}
 * with exactly one axis, either
 *     {"type": "regular", "lower": L, "upper": U, "bins": N,
 *      "underflow": bool, "overflow": bool}       (edges L + (U - L) i / N)
 *     {"type": "variable", "edges": [e0, ..., eN], "underflow": .., "overflow": ..}
 * and a storage of type "int" or "double" ({"values": [...]}: counts, Poisson
 * uncertainties) or "weighted" ({"values": [...], "variances": [...]}: the
 * variances replace the Poisson estimate). `values` holds either the N
 * monitored bins or N plus the flow bins the axis declares (underflow first,
 * overflow last); flow bins are dropped, they are not monitored. The older
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
 * histogram that holds them can be named. A histogram that breaks any rule
 * (other axis types, 2-D, storage "mean", wrong lengths, NaN, negative counts or
 * variances, unsorted edges) is left out with a problem message naming the file
 * and histogram (runin.h); the rest of the run is kept.
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
