/* uhi.c: UHI JSON run files (uhi.h).
 *
 * Each histogram is checked completely into local buffers before it is added to
 * the run, so a histogram is either kept whole or left out with one problem
 * message; the run never holds half a histogram. */
#include "uhi.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "json.h"

#define UHI_MAX_BINS 1000000 /* monitored bins of one histogram, all axes together */

typedef struct {
    int n_bins;
    int underflow, overflow;
    double *edges; /* [n_bins + 1] */
} axis_t;

/* The binning of a histogram: x alone (1-D), or x and y (2-D). */
typedef struct {
    int n_axes;    /* 1 or 2 */
    axis_t ax[2];  /* x, y */
    size_t n_bins; /* monitored bins: nx, or nx * ny */
} shape_t;

/* Problem messages are built into this and then recorded on the run. */
typedef struct {
    char msg[DN_ERRMSG_MAX];
} why_t;

__attribute__((format(printf, 2, 3))) static int bad(why_t *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
    return DN_EFORMAT;
}

/* "an array", "a number", ... "nothing": what stands where a value was expected */
static const char *type_of(const dn_json_value_t *v)
{
    return dn_json_type_article(dn_json_type(v)); /* NULL: absent, "nothing" */
}

/* type_of, with the length of an array: "an array of 3" */
static const char *sized(char *buf, size_t cap, const dn_json_value_t *v)
{
    if (dn_json_type(v) == DN_JSON_ARRAY)
        snprintf(buf, cap, "an array of %zu", dn_json_array_len(v));
    else
        snprintf(buf, cap, "%s", type_of(v));
    return buf;
}

static size_t with_flow(const axis_t *ax)
{
    return (size_t)ax->n_bins + (size_t)ax->underflow + (size_t)ax->overflow;
}

/* How many stored bins of an axis come before its first monitored bin when the
 * storage holds n bins along it: 0 when n is the bin count, the underflow bin
 * when n counts the flow bins too; -1 for any other n. */
static long stored_skip(const axis_t *ax, size_t n)
{
    if (n == (size_t)ax->n_bins)
        return 0;
    if (n == with_flow(ax))
        return ax->underflow;
    return -1;
}

/* "expected 4, or 6 with the flow bins" (or "expected 4" without flow bins) */
static const char *expected(char *buf, size_t cap, const axis_t *ax)
{
    if (with_flow(ax) == (size_t)ax->n_bins)
        snprintf(buf, cap, "expected %d", ax->n_bins);
    else
        snprintf(buf, cap, "expected %d, or %zu with the flow bins", ax->n_bins, with_flow(ax));
    return buf;
}

/* A monitored bin (ix, iy) in messages: "bin 3" (1-D), "bin (3, 0)" (2-D). */
static const char *bin_name(char *buf, size_t cap, const shape_t *sh, size_t ix, size_t iy)
{
    if (sh->n_axes == 1)
        snprintf(buf, cap, "bin %zu", ix);
    else
        snprintf(buf, cap, "bin (%zu, %zu)", ix, iy);
    return buf;
}

/* A stored value as kept: -0 becomes 0, so that a bin written -0 and a bin a
 * sparse storage leaves out are the same bits. */
static double kept(double x)
{
    return x == 0 ? 0.0 : x;
}

/* Every monitored value is finite and not negative. */
static int check_value(double x, const shape_t *sh, size_t ix, size_t iy, const char *what,
                       why_t *w)
{
    if (isfinite(x) && x >= 0)
        return DN_OK;
    char b[64];
    return bad(w, "%s: %s %s %g", bin_name(b, sizeof b, sh, ix, iy),
               x < 0 ? "negative" : "non-finite", what, x);
}

static int flag_of(const dn_json_value_t *axis, const char *name, int *out, why_t *w)
{
    const dn_json_value_t *v = dn_json_get(axis, name);
    if (!v) {
        *out = 0; /* absent: no such flow bin */
        return DN_OK;
    }
    int b = dn_json_bool(v);
    if (b < 0)
        return bad(w, "axis \"%s\": expected true or false, found %s", name, type_of(v));
    *out = b;
    return DN_OK;
}

static int read_axis(const dn_json_value_t *axis, axis_t *ax, why_t *w)
{
    const char *type = dn_json_string(dn_json_get(axis, "type"));
    if (!type)
        return bad(w, "axis without a \"type\"");
    int rc;
    if ((rc = flag_of(axis, "underflow", &ax->underflow, w)) ||
        (rc = flag_of(axis, "overflow", &ax->overflow, w)))
        return rc;
    if (!strcmp(type, "regular")) {
        double lo = dn_json_number(dn_json_get(axis, "lower")),
               hi = dn_json_number(dn_json_get(axis, "upper")),
               nb = dn_json_number(dn_json_get(axis, "bins"));
        if (!isfinite(lo) || !isfinite(hi) || !(lo < hi))
            return bad(w, "regular axis: lower %g and upper %g are not finite with "
                       "lower < upper", lo, hi);
        if (!(nb >= 1 && nb <= UHI_MAX_BINS && nb == floor(nb)))
            return bad(w, "regular axis: bins %g is not an integer in [1, %d]", nb,
                       UHI_MAX_BINS);
        ax->n_bins = (int)nb;
        if (!(ax->edges = malloc(sizeof(double) * ((size_t)ax->n_bins + 1))))
            return DN_ENOMEM;
        for (int i = 0; i <= ax->n_bins; i++)
            ax->edges[i] = lo + (hi - lo) * i / ax->n_bins;
        ax->edges[ax->n_bins] = hi;
        return DN_OK;
    }
    if (!strcmp(type, "variable")) {
        const dn_json_value_t *ev = dn_json_get(axis, "edges");
        if (dn_json_type(ev) == DN_JSON_STRING)
            return bad(w, "variable axis: edges given by reference (\"%s\") are not "
                       "supported; write them inline", dn_json_string(ev));
        double *e = NULL;
        size_t n = 0;
        dn_err_t jerr;
        int jrc = dn_json_get_numbers(axis, "edges", &e, &n, &jerr);
        if (jrc == DN_ENOMEM)
            return jrc;
        if (jrc)
            return bad(w, "variable axis: %s", jerr.msg);
        if (n < 2 || n - 1 > UHI_MAX_BINS) {
            free(e);
            return bad(w, "variable axis: %zu edges (need 2 to %d)", n, UHI_MAX_BINS + 1);
        }
        for (size_t i = 0; i < n; i++)
            if (!isfinite(e[i]) || (i > 0 && !(e[i] > e[i - 1]))) {
                double v = e[i];
                free(e);
                return bad(w, "variable axis: edge %zu (%g) is not finite and above the "
                           "one before", i, v);
            }
        ax->n_bins = (int)(n - 1);
        ax->edges = e;
        return DN_OK;
    }
    return bad(w, "unknown axis type \"%s\" (monitored histograms need a regular or "
               "variable axis)", type);
}

/* One or two axes into sh; the caller frees their edges, also on failure. */
static int read_axes(const dn_json_value_t *hist, shape_t *sh, why_t *w)
{
    const dn_json_value_t *axes = dn_json_get(hist, "axes");
    if (dn_json_type(axes) != DN_JSON_ARRAY)
        return bad(w, "\"axes\": expected an array, found %s", type_of(axes));
    size_t n_axes = dn_json_array_len(axes);
    if (n_axes == 0)
        return bad(w, "no axes: a histogram without axes (a single number) is not monitored");
    if (n_axes > 2)
        return bad(w, "%zu axes: only one- and two-dimensional histograms are monitored",
                   n_axes);
    sh->n_axes = (int)n_axes;
    for (int a = 0; a < sh->n_axes; a++) {
        int rc = read_axis(dn_json_array_at(axes, (size_t)a), &sh->ax[a], w);
        if (rc == DN_EFORMAT && n_axes == 2) {
            char why[DN_ERRMSG_MAX];
            memcpy(why, w->msg, sizeof why);
            return bad(w, "axis %d (%c): %s", a, "xy"[a], why);
        }
        if (rc)
            return rc;
    }
    sh->n_bins = (size_t)sh->ax[0].n_bins;
    if (n_axes == 2) {
        sh->n_bins *= (size_t)sh->ax[1].n_bins;
        if (sh->n_bins > UHI_MAX_BINS)
            return bad(w, "%d x %d bins: more than %d", sh->ax[0].n_bins, sh->ax[1].n_bins,
                       UHI_MAX_BINS);
    }
    return DN_OK;
}

/* The array `name` of the storage, or a problem: absent, given by reference
 * (out-of-band data of the zip and HDF5 forms, which a JSON file cannot
 * hold), or not an array. */
static int storage_array(const dn_json_value_t *holder, const char *name,
                         const dn_json_value_t **out, why_t *w)
{
    const dn_json_value_t *v = dn_json_get(holder, name);
    *out = v;
    if (!v)
        return bad(w, "storage: missing key \"%s\"", name);
    if (dn_json_type(v) == DN_JSON_STRING)
        return bad(w, "storage: \"%s\" given by reference (\"%s\") are not supported; write "
                   "them inline", name, dn_json_string(v));
    if (dn_json_type(v) != DN_JSON_ARRAY)
        return bad(w, "storage: \"%s\": expected an array, found %s", name, type_of(v));
    return DN_OK;
}

/* Reads the dense array `name` (values or variances) into out[sh->n_bins],
 * x outer, dropping the flow bins. 1-D: a list of nx numbers, or nx plus the
 * flow bins. 2-D: nested lists [ix][iy], each axis with or without its flow
 * bins; or one flat list in numpy's C order (x outer, y inner) of nx * ny
 * numbers, or of all the stored bins with both axes' flow bins. */
static int read_dense(const dn_json_value_t *holder, const char *name, const shape_t *sh,
                      const char *what, double *out, why_t *w)
{
    const dn_json_value_t *v;
    int rc = storage_array(holder, name, &v, w);
    if (rc)
        return rc;
    const axis_t *x = &sh->ax[0], *y = sh->n_axes == 2 ? &sh->ax[1] : NULL;
    const size_t n = dn_json_array_len(v), nx = (size_t)x->n_bins,
                 ny = y ? (size_t)y->n_bins : 1;
    const int nested = y && n && dn_json_type(dn_json_array_at(v, 0)) == DN_JSON_ARRAY;
    size_t rows = n, cols = 1; /* the stored grid, flow bins included */
    long sx = 0, sy = 0;       /* stored bins before the first monitored one */
    char b1[96], b2[96];
    if (!y) {
        if ((sx = stored_skip(x, n)) < 0)
            return bad(w, "storage: %zu %s for %zu bins (%s)", n, name, nx,
                       expected(b1, sizeof b1, x));
    } else if (nested) {
        cols = dn_json_array_len(dn_json_array_at(v, 0));
        if ((sx = stored_skip(x, rows)) < 0)
            return bad(w, "storage: %zu lists of %s for %zu bins of x (%s)", rows, name, nx,
                       expected(b1, sizeof b1, x));
        if ((sy = stored_skip(y, cols)) < 0)
            return bad(w, "storage: %s[0] holds %zu numbers for %zu bins of y (%s)", name,
                       cols, ny, expected(b1, sizeof b1, y));
    } else if (n == nx * ny) {
        rows = nx;
        cols = ny;
    } else if (n == with_flow(x) * with_flow(y)) {
        rows = with_flow(x);
        cols = with_flow(y);
        sx = x->underflow;
        sy = y->underflow;
    } else {
        return bad(w, "storage: %zu %s for %zu x %zu bins (nested lists [x][y] with %s for x "
                   "and %s for y, or a flat list of %zu, or %zu with the flow bins)", n, name,
                   nx, ny, expected(b1, sizeof b1, x), expected(b2, sizeof b2, y), nx * ny,
                   with_flow(x) * with_flow(y));
    }
    for (size_t i = 0; i < rows; i++) {
        const dn_json_value_t *row = nested ? dn_json_array_at(v, i) : NULL;
        if (nested && (dn_json_type(row) != DN_JSON_ARRAY || dn_json_array_len(row) != cols))
            return bad(w, "storage: %s[%zu]: expected a list of %zu numbers like %s[0], found "
                       "%s", name, i, cols, name, sized(b1, sizeof b1, row));
        for (size_t j = 0; j < cols; j++) {
            const dn_json_value_t *e = nested ? dn_json_array_at(row, j)
                                              : dn_json_array_at(v, i * cols + j);
            if (dn_json_type(e) != DN_JSON_NUMBER) {
                if (nested)
                    return bad(w, "storage: %s[%zu][%zu]: expected a number, found %s",
                               name, i, j, type_of(e));
                return bad(w, "storage: %s element %zu: expected a number, found %s", name,
                           i * cols + j, type_of(e));
            }
            if (i < (size_t)sx || j < (size_t)sy || i - (size_t)sx >= nx ||
                j - (size_t)sy >= ny)
                continue; /* a flow bin: not monitored */
            const size_t ix = i - (size_t)sx, iy = j - (size_t)sy;
            const double val = dn_json_number(e);
            if ((rc = check_value(val, sh, ix, iy, what, w)))
                return rc;
            out[ix * ny + iy] = kept(val);
        }
    }
    return DN_OK;
}

/* A number of a sparse array: "3", or what stands there instead. */
static const char *shown(char *buf, size_t cap, const dn_json_value_t *v)
{
    if (dn_json_type(v) == DN_JSON_NUMBER)
        snprintf(buf, cap, "%g", dn_json_number(v));
    else
        snprintf(buf, cap, "%s", type_of(v));
    return buf;
}

/* Sparse storage into counts/vars[sh->n_bins] (zero-filled by the caller):
 * index[a][k] is the stored bin along axis a of entry k, counted as the dense
 * lists count them (0 is the underflow bin when the axis has one), and
 * values[k] (and variances[k]) its contents. A stored bin named twice or
 * beyond its axis is a problem; entries in flow bins are dropped. */
static int read_sparse(const dn_json_value_t *holder, const shape_t *sh, int weighted,
                       double *counts, double *vars, why_t *w)
{
    const dn_json_value_t *index = dn_json_get(holder, "index"), *vals = NULL, *vv = NULL;
    unsigned char *seen = NULL;
    char b1[64], b2[64];
    int rc;
    if (dn_json_type(index) == DN_JSON_STRING)
        return bad(w, "storage: \"index\" given by reference (\"%s\") is not supported; write "
                   "it inline", dn_json_string(index));
    if (dn_json_type(index) != DN_JSON_ARRAY || dn_json_array_len(index) != (size_t)sh->n_axes)
        return bad(w, "storage: \"index\": expected %d list%s of bin numbers (one per axis), "
                   "found %s", sh->n_axes, sh->n_axes > 1 ? "s" : "",
                   sized(b1, sizeof b1, index));
    if ((rc = storage_array(holder, "values", &vals, w)) ||
        (weighted && (rc = storage_array(holder, "variances", &vv, w))))
        return rc;
    const size_t n_entries = dn_json_array_len(vals);
    if (vv && dn_json_array_len(vv) != n_entries)
        return bad(w, "storage: %zu variances for %zu values", dn_json_array_len(vv),
                   n_entries);
    for (int a = 0; a < sh->n_axes; a++) {
        const dn_json_value_t *ia = dn_json_array_at(index, (size_t)a);
        if (dn_json_type(ia) != DN_JSON_ARRAY || dn_json_array_len(ia) != n_entries)
            return bad(w, "storage: \"index\"[%d]: expected a list of %zu bin numbers (one "
                       "per value), found %s", a, n_entries, sized(b1, sizeof b1, ia));
    }
    const axis_t *x = &sh->ax[0], *y = sh->n_axes == 2 ? &sh->ax[1] : NULL;
    const size_t full_y = y ? with_flow(y) : 1, ny = y ? (size_t)y->n_bins : 1;
    const size_t n_stored = with_flow(x) * full_y;
    if (!(seen = calloc(n_stored / 8 + 1, 1)))
        return DN_ENOMEM;
    for (size_t k = 0; k < n_entries; k++) {
        size_t at[2] = {0, 0};
        for (int a = 0; a < sh->n_axes; a++) {
            const dn_json_value_t *e = dn_json_array_at(dn_json_array_at(index, (size_t)a), k);
            const double bin = dn_json_number(e);
            const size_t stored = with_flow(&sh->ax[a]);
            if (dn_json_type(e) != DN_JSON_NUMBER ||
                !(bin >= 0 && bin < (double)stored && bin == floor(bin))) {
                rc = bad(w, "storage: index entry %zu: bin %s of axis %d is not an integer in "
                         "[0, %zu) (%d bins%s)", k, shown(b1, sizeof b1, e), a, stored,
                         sh->ax[a].n_bins,
                         stored > (size_t)sh->ax[a].n_bins ? " and their flow bins" : "");
                goto done;
            }
            at[a] = (size_t)bin;
        }
        const size_t flat = at[0] * full_y + at[1];
        if (seen[flat / 8] & (1u << (flat % 8))) {
            if (y)
                snprintf(b1, sizeof b1, "(%zu, %zu)", at[0], at[1]);
            else
                snprintf(b1, sizeof b1, "%zu", at[0]);
            rc = bad(w, "storage: index entry %zu names stored bin %s a second time", k, b1);
            goto done;
        }
        seen[flat / 8] |= (unsigned char)(1u << (flat % 8));
        const dn_json_value_t *ve = dn_json_array_at(vals, k), *vve = dn_json_array_at(vv, k);
        if (dn_json_type(ve) != DN_JSON_NUMBER || (vv && dn_json_type(vve) != DN_JSON_NUMBER)) {
            rc = bad(w, "storage: entry %zu: expected numbers, found value %s%s%s", k,
                     shown(b1, sizeof b1, ve), vv ? " and variance " : "",
                     vv ? shown(b2, sizeof b2, vve) : "");
            goto done;
        }
        const size_t ux = (size_t)x->underflow, uy = y ? (size_t)y->underflow : 0;
        if (at[0] < ux || at[1] < uy || at[0] - ux >= (size_t)x->n_bins || at[1] - uy >= ny)
            continue; /* a flow bin: not monitored */
        const size_t ix = at[0] - ux, iy = at[1] - uy;
        if ((rc = check_value(dn_json_number(ve), sh, ix, iy, "count", w)) ||
            (vv && (rc = check_value(dn_json_number(vve), sh, ix, iy, "variance", w))))
            goto done;
        counts[ix * ny + iy] = kept(dn_json_number(ve));
        if (vv)
            vars[ix * ny + iy] = kept(dn_json_number(vve));
    }
    rc = DN_OK;
done:
    free(seen);
    return rc;
}

/* The storage into new counts (and, weighted, variances) [sh->n_bins]: dense,
 * sparse, or without data (no entries: every bin zero). */
static int read_storage(const dn_json_value_t *hist, const shape_t *sh, double **counts,
                        double **variances, why_t *w)
{
    const dn_json_value_t *st = dn_json_get(hist, "storage");
    if (dn_json_type(st) != DN_JSON_OBJECT)
        return bad(w, "\"storage\": expected an object, found %s", type_of(st));
    const char *type = dn_json_string(dn_json_get(st, "type"));
    if (!type)
        return bad(w, "storage without a \"type\"");
    int weighted = !strcmp(type, "weighted");
    if (!weighted && strcmp(type, "int") && strcmp(type, "double"))
        return bad(w, "unknown storage type \"%s\" (int, double or weighted)", type);
    /* the arrays sit in the storage, or under "data" in the draft layout */
    const dn_json_value_t *holder = st;
    if (!dn_json_get(st, "values") && dn_json_type(dn_json_get(st, "data")) == DN_JSON_OBJECT)
        holder = dn_json_get(st, "data");
    double *c = calloc(sh->n_bins, sizeof *c), *v = NULL;
    int rc = DN_OK;
    if (!c || (weighted && !(v = calloc(sh->n_bins, sizeof *v)))) {
        rc = DN_ENOMEM;
        goto fail;
    }
    if (!dn_json_get(holder, "values") && !dn_json_get(holder, "index") &&
        !dn_json_get(holder, "variances"))
        ; /* only the binning: a histogram with no entries */
    else if (dn_json_get(holder, "index"))
        rc = read_sparse(holder, sh, weighted, c, v, w);
    else if (!(rc = read_dense(holder, "values", sh, "count", c, w)) && weighted)
        rc = read_dense(holder, "variances", sh, "variance", v, w);
    if (rc)
        goto fail;
    *counts = c;
    *variances = v;
    return DN_OK;
fail:
    free(c);
    free(v);
    return rc;
}

static char *subsystem_of(const char *key, const dn_json_value_t *meta)
{
    const char *s = dn_json_string(dn_json_get(meta, "subsystem"));
    if (s)
        return strdup(s);
    const char *slash = strchr(key, '/');
    return slash ? strndup(key, (size_t)(slash - key)) : strdup("");
}

/* One histogram into the run, or a problem. Returns 0 or DN_ENOMEM. */
static int add_histogram(dn_runin_t *run, const char *name, const char *key,
                         const dn_json_value_t *hist)
{
    why_t w = {{0}};
    shape_t sh = {0};
    double *counts = NULL, *vars = NULL;
    int rc = DN_OK;
    if (!key[0]) {
        rc = bad(&w, "empty histogram name");
        goto problem;
    }
    if (dn_runin_find(run, key)) {
        rc = bad(&w, "appears twice in the file");
        goto problem;
    }
    if (dn_json_type(hist) != DN_JSON_OBJECT) {
        rc = bad(&w, "expected an object, found JSON %s", dn_json_type_name(dn_json_type(hist)));
        goto problem;
    }
    /* schema 1 is the current one; a later one may change what a form means */
    const dn_json_value_t *schema = dn_json_get(hist, "uhi_schema");
    if (schema && !(dn_json_type(schema) == DN_JSON_NUMBER && dn_json_number(schema) == 1)) {
        char b[64];
        rc = bad(&w, "\"uhi_schema\" %s: only schema 1 is read", shown(b, sizeof b, schema));
        goto problem;
    }
    if ((rc = read_axes(hist, &sh, &w)) || (rc = read_storage(hist, &sh, &counts, &vars, &w)))
        goto problem;
    dn_histin_t *grown = realloc(run->hist, (size_t)(run->n_hist + 1) * sizeof *grown);
    if (!grown) {
        rc = DN_ENOMEM;
        goto fail;
    }
    run->hist = grown;
    dn_histin_t *h = &run->hist[run->n_hist];
    *h = (dn_histin_t){.key = strdup(key),
                       .subsystem = subsystem_of(key, dn_json_get(hist, "metadata")),
                       .n_bins = (int)sh.n_bins,
                       .counts = counts,
                       .variances = vars,
                       .edges = sh.ax[0].edges,
                       .n_bins_y = sh.n_axes == 2 ? sh.ax[1].n_bins : 0,
                       .edges_y = sh.ax[1].edges};
    if (!h->key || !h->subsystem) {
        free(h->key);
        free(h->subsystem);
        rc = DN_ENOMEM;
        goto fail;
    }
    run->n_hist++;
    return DN_OK;
problem:
    if (rc == DN_EFORMAT)
        rc = dn_runin_problem(run, "%s: histogram \"%s\": %s", name, key, w.msg);
fail:
    free(sh.ax[0].edges);
    free(sh.ax[1].edges);
    free(counts);
    free(vars);
    return rc;
}

/* Run-level metadata: every histogram that gives `field` must agree. */
static int run_field(const dn_json_value_t *root, const char *field, const char *name,
                     const dn_json_value_t **out, dn_err_t *err)
{
    *out = NULL;
    const char *first_key = NULL;
    for (size_t i = 0; i < dn_json_object_len(root); i++) {
        const dn_json_value_t *v =
            dn_json_get(dn_json_get(dn_json_object_value_at(root, i), "metadata"), field);
        if (!v)
            continue;
        if (!*out) {
            *out = v;
            first_key = dn_json_object_key_at(root, i);
            continue;
        }
        int same = dn_json_type(v) == dn_json_type(*out) &&
                   (dn_json_type(v) == DN_JSON_STRING
                        ? !strcmp(dn_json_string(v), dn_json_string(*out))
                        : dn_json_number(v) == dn_json_number(*out));
        if (!same)
            return dn_err_set(err, DN_EFORMAT,
                              "%s: histograms \"%s\" and \"%s\" disagree on metadata \"%s\"",
                              name, first_key, dn_json_object_key_at(root, i), field);
    }
    return DN_OK;
}

int dn_uhi_parse(const char *text, size_t len, const char *name, dn_runin_t **out,
                 dn_err_t *err)
{
    dn_json_t *doc = NULL;
    dn_runin_t *run = NULL;
    *out = NULL;
    int rc = dn_json_parse_ex(text, len, DN_JSON_ALLOW_NONFINITE, &doc, err);
    if (rc) {
        dn_err_prefix(err, "%s", name);
        goto fail;
    }
    const dn_json_value_t *root = dn_json_root(doc);
    if (dn_json_type(root) != DN_JSON_OBJECT) {
        rc = dn_err_set(err, DN_EFORMAT,
                        "%s: expected an object mapping histogram names to histograms, "
                        "found a %s", name, dn_json_type_name(dn_json_type(root)));
        goto fail;
    }
    const dn_json_value_t *rv, *tv, *lv;
    if ((rc = run_field(root, "run", name, &rv, err)) ||
        (rc = run_field(root, "time", name, &tv, err)) ||
        (rc = run_field(root, "label", name, &lv, err)))
        goto fail;
    int64_t run_number = 0;
    if (rv) {
        double x = dn_json_number(rv);
        if (!(x == floor(x) && fabs(x) < 9.0e15)) {
            rc = dn_err_set(err, DN_EFORMAT, "%s: metadata \"run\" is not an integer", name);
            goto fail;
        }
        run_number = (int64_t)x;
    } else if (dn_run_number_from_name(name, &run_number) != DN_OK) {
        rc = dn_err_set(err, DN_EFORMAT,
                        "%s: no run number (no metadata \"run\" and no digits in the file "
                        "name)", name);
        goto fail;
    }
    if (!(run = dn_runin_new(run_number)) || !(run->source = strdup(name))) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    if (tv) {
        run->time = dn_json_number(tv);
        if (!isfinite(run->time)) {
            rc = dn_err_set(err, DN_EFORMAT, "%s: metadata \"time\" is not a finite number",
                            name);
            goto fail;
        }
    }
    if (lv) {
        const char *l = dn_json_string(lv);
        if (l && !strcmp(l, "good"))
            run->label = 0;
        else if (l && !strcmp(l, "bad"))
            run->label = 1;
        else {
            rc = dn_err_set(err, DN_EFORMAT, "%s: metadata \"label\" is not \"good\" or \"bad\"",
                            name);
            goto fail;
        }
    }
    for (size_t i = 0; i < dn_json_object_len(root); i++)
        if ((rc = add_histogram(run, name, dn_json_object_key_at(root, i),
                                dn_json_object_value_at(root, i)))) {
            dn_err_set(err, rc, "%s: out of memory", name);
            goto fail;
        }
    dn_json_destroy(&doc);
    *out = run;
    return DN_OK;
fail:
    dn_json_destroy(&doc);
    dn_runin_destroy(&run);
    return rc;
}

int dn_uhi_read_file(const char *path, dn_runin_t **out, dn_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = dn_read_file(path, &text, &len, err);
    if (rc)
        return rc;
    rc = dn_uhi_parse(text, len, path, out, err);
    free(text);
    return rc;
}
