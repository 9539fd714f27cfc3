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

#define UHI_MAX_BINS 1000000

typedef struct {
    int n_bins;
    int underflow, overflow;
    double *edges; /* [n_bins + 1] */
} axis_t;

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

static int flag_of(const dn_json_value_t *axis, const char *name, int *out, why_t *w)
{
    const dn_json_value_t *v = dn_json_get(axis, name);
    if (!v) {
        *out = 0; /* absent: no such flow bin */
        return DN_OK;
    }
    int b = dn_json_bool(v);
    if (b < 0)
        return bad(w, "axis \"%s\": expected true or false, found a %s", name,
                   dn_json_type_name(dn_json_type(v)));
    *out = b;
    return DN_OK;
}

static int read_axis(const dn_json_value_t *hist, axis_t *ax, why_t *w)
{
    const dn_json_value_t *axes = dn_json_get(hist, "axes");
    if (dn_json_type(axes) != DN_JSON_ARRAY)
        return bad(w, "\"axes\": expected an array, found %s",
                   axes ? dn_json_type_name(dn_json_type(axes)) : "nothing");
    size_t n_axes = dn_json_array_len(axes);
    if (n_axes != 1)
        return bad(w, "%zu axes: only one-dimensional histograms are monitored", n_axes);
    const dn_json_value_t *axis = dn_json_array_at(axes, 0);
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

/* Reads storage array `name` into a new [n_bins] buffer, dropping flow bins. */
static int read_bins(const dn_json_value_t *holder, const char *name, const axis_t *ax,
                     const char *what, double **out, why_t *w)
{
    double *v = NULL;
    size_t n = 0;
    dn_err_t jerr;
    int rc = dn_json_get_numbers(holder, name, &v, &n, &jerr);
    if (rc == DN_ENOMEM)
        return rc;
    if (rc)
        return bad(w, "storage: %s", jerr.msg);
    const size_t nb = (size_t)ax->n_bins, flow = (size_t)(ax->underflow + ax->overflow);
    size_t first;
    if (n == nb)
        first = 0;
    else if (flow && n == nb + flow)
        first = (size_t)ax->underflow;
    else {
        free(v);
        if (flow)
            return bad(w, "storage: %zu %s for %zu bins (expected %zu, or %zu with the "
                       "flow bins)", n, name, nb, nb, nb + flow);
        return bad(w, "storage: %zu %s for %zu bins", n, name, nb);
    }
    for (size_t j = 0; j < nb; j++) {
        double x = v[first + j];
        if (!isfinite(x) || x < 0) {
            free(v);
            return bad(w, "bin %zu: %s %s %g", j, x < 0 ? "negative" : "non-finite", what, x);
        }
    }
    if (first)
        memmove(v, v + first, nb * sizeof *v);
    *out = v;
    return DN_OK;
}

static int read_storage(const dn_json_value_t *hist, const axis_t *ax, double **counts,
                        double **variances, why_t *w)
{
    const dn_json_value_t *st = dn_json_get(hist, "storage");
    if (dn_json_type(st) != DN_JSON_OBJECT)
        return bad(w, "\"storage\": expected an object, found %s",
                   st ? dn_json_type_name(dn_json_type(st)) : "nothing");
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
    int rc = read_bins(holder, "values", ax, "count", counts, w);
    if (rc || !weighted)
        return rc;
    rc = read_bins(holder, "variances", ax, "variance", variances, w);
    if (rc) {
        free(*counts);
        *counts = NULL;
    }
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
    axis_t ax = {0};
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
        rc = bad(&w, "expected an object, found JSON %s",
                 dn_json_type_name(dn_json_type(hist)));
        goto problem;
    }
    if ((rc = read_axis(hist, &ax, &w)) || (rc = read_storage(hist, &ax, &counts, &vars, &w)))
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
                       .n_bins = ax.n_bins,
                       .counts = counts,
                       .variances = vars,
                       .edges = ax.edges};
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
    free(ax.edges);
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
