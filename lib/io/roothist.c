/* roothist.c: the TH1/TH2 streamers, read and written (roothist.h).
 *
 * Reading follows the versioned layout member by member up to what a
 * monitored histogram needs and jumps over the rest with the byte counts;
 * every count taken from the payload is checked against the bytes that are
 * left before anything is allocated for it. Writing produces what ROOT 6.28
 * writes for a TH1D/TH2D with default attributes, so that ROOT and JSROOT
 * read it with the streamer infos rootwrite.c puts in the file. */
#include "roothist.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KIS_REFERENCED (1u << 4) /* TObject::kIsReferenced: a process id follows */

static const struct {
    const char *prefix;
    dn_root_kind_t kind;
    const char *reason;
} class_table[] = {
    {"TProfile", DN_ROOT_OTHER, "a profile: its bins are means, not counts"},
    {"TH3", DN_ROOT_OTHER, "a 3-D histogram: only 1-D and 2-D histograms are monitored"},
    {"TH2Poly", DN_ROOT_OTHER, "a histogram of polygon bins: not read"},
    {"TH1K", DN_ROOT_OTHER, "a nearest-neighbour histogram: not read"},
    {"TH1L", DN_ROOT_OTHER, "a histogram of 64-bit integer bins (ROOT 6.32): not read"},
    {"TH2L", DN_ROOT_OTHER, "a histogram of 64-bit integer bins (ROOT 6.32): not read"},
};

dn_root_kind_t dn_root_class_kind(const char *cls, const char **reason)
{
    if (reason)
        *reason = NULL;
    for (size_t i = 0; i < sizeof class_table / sizeof *class_table; i++)
        if (!strncmp(cls, class_table[i].prefix, strlen(class_table[i].prefix))) {
            if (reason)
                *reason = class_table[i].reason;
            return class_table[i].kind;
        }
    if ((cls[0] == 'T' && cls[1] == 'H' && (cls[2] == '1' || cls[2] == '2')) && cls[3] &&
        strchr("CSIFD", cls[3]) && !cls[4])
        return cls[2] == '1' ? DN_ROOT_TH1 : DN_ROOT_TH2;
    if (reason)
        *reason = "not a histogram";
    return DN_ROOT_OTHER;
}

/* ---- the plain struct ---------------------------------------------------------- */

static void axis_free(dn_root_axis_t *a)
{
    free(a->edges);
    free(a->name);
    free(a->title);
    memset(a, 0, sizeof *a);
}

void dn_root_hist_destroy(dn_root_hist_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_root_hist_t *h = *self_p;
    free(h->class_name);
    free(h->name);
    free(h->title);
    axis_free(&h->axis[0]);
    axis_free(&h->axis[1]);
    free(h->values);
    free(h->variances);
    free(h);
    *self_p = NULL;
}

static int edges_ok(int n, const double *e)
{
    if (n < 1 || n > DN_ROOT_MAX_BINS || !e)
        return 0;
    for (int i = 0; i <= n; i++)
        if (!isfinite(e[i]) || (i && !(e[i] > e[i - 1])))
            return 0;
    return 1;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static int axis_set(dn_root_axis_t *a, const char *name, int n, const double *edges)
{
    a->n_bins = n;
    a->xmin = edges[0];
    a->xmax = edges[n];
    a->variable = 1;
    a->edges = malloc((size_t)(n + 1) * sizeof *a->edges);
    a->name = strdup(name);
    a->title = strdup("");
    if (!a->edges || !a->name || !a->title)
        return DN_ENOMEM;
    memcpy(a->edges, edges, (size_t)(n + 1) * sizeof *edges);
    /* Equal bins keep ROOT's fixed-binning form (no fXbins in the file). */
    double w = (a->xmax - a->xmin) / n;
    int fixed = 1;
    for (int i = 0; i <= n && fixed; i++)
        fixed = a->xmin + i * w == edges[i]; /* what a reader computes back */
    a->variable = !fixed;
    return DN_OK;
}

dn_root_hist_t *dn_root_hist_new(int dim, const char *name, const char *title, int nx,
                                 const double *xedges, int ny, const double *yedges,
                                 int with_variances)
{
    if ((dim != 1 && dim != 2) || !edges_ok(nx, xedges) || (dim == 2 && !edges_ok(ny, yedges)))
        return NULL;
    int64_t cells = (int64_t)(nx + 2) * (dim == 2 ? ny + 2 : 1);
    if (cells > DN_ROOT_MAX_CELLS)
        return NULL;
    dn_root_hist_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->dim = dim;
    h->n_cells = (int)cells;
    h->class_name = strdup(dim == 1 ? "TH1D" : "TH2D");
    h->name = dup_or_empty(name);
    h->title = dup_or_empty(title);
    h->values = calloc((size_t)cells, sizeof *h->values);
    if (with_variances)
        h->variances = calloc((size_t)cells, sizeof *h->variances);
    if (!h->class_name || !h->name || !h->title || !h->values ||
        (with_variances && !h->variances) || axis_set(&h->axis[0], "xaxis", nx, xedges) ||
        (dim == 2 && axis_set(&h->axis[1], "yaxis", ny, yedges)))
        dn_root_hist_destroy(&h);
    return h;
}

int dn_root_hist_n_inner(const dn_root_hist_t *h)
{
    return h->axis[0].n_bins * (h->dim == 2 ? h->axis[1].n_bins : 1);
}

int dn_root_hist_cell(const dn_root_hist_t *h, int ix, int iy)
{
    return h->dim == 2 ? (h->axis[0].n_bins + 2) * iy + ix : ix;
}

void dn_root_hist_inner(const dn_root_hist_t *h, double *values, double *variances)
{
    int nx = h->axis[0].n_bins, ny = h->dim == 2 ? h->axis[1].n_bins : 1;
    for (int ix = 1; ix <= nx; ix++)
        for (int iy = 1; iy <= ny; iy++) {
            int c = dn_root_hist_cell(h, ix, h->dim == 2 ? iy : 0);
            size_t k = (size_t)(ix - 1) * (size_t)ny + (size_t)(iy - 1);
            if (values)
                values[k] = h->values[c];
            if (variances)
                variances[k] = h->variances ? h->variances[c] : h->values[c];
        }
}

/* ---- reading ------------------------------------------------------------------- */

/* The class version v of `what` must lie in [lo, hi] and carry a byte count
 * (except for the outermost TH1x/TH2x of old files, whose own streamer wrote
 * the version alone: want_version_bare). */
static int version_in(dn_root_rbuf_t *b, dn_root_vers_t *v, const char *what, int lo, int hi,
                      int need_count, dn_err_t *err)
{
    if (dn_root_rbuf_version(b, v))
        return dn_err_set(err, DN_EFORMAT, "%s: %s", what, b->why);
    if (v->version < lo || v->version > hi)
        return dn_err_set(err, DN_EMISMATCH, "%s version %d at offset %zu: this reader knows "
                          "versions %d to %d (ROOT 4.00 to 6.28)", what, v->version, v->start,
                          lo, hi);
    if (!v->end && need_count)
        return dn_err_set(err, DN_EFORMAT, "%s at offset %zu has no byte count", what, v->start);
    return DN_OK;
}

static int want_version(dn_root_rbuf_t *b, dn_root_vers_t *v, const char *what, int lo, int hi,
                        dn_err_t *err)
{
    return version_in(b, v, what, lo, hi, 1, err);
}

static int failed(dn_root_rbuf_t *b, const char *what, dn_err_t *err)
{
    return dn_err_set(err, DN_EFORMAT, "%s: %s", what, b->why);
}

/* A versioned member we do not need (TAttLine, TAttAxis...). */
static int skip_object(dn_root_rbuf_t *b, const char *what, dn_err_t *err)
{
    dn_root_vers_t v;
    int rc = want_version(b, &v, what, 0, 0x7fff, err);
    if (rc)
        return rc;
    return dn_root_rbuf_leave(b, &v, what) ? failed(b, what, err) : DN_OK;
}

static int read_tobject(dn_root_rbuf_t *b, dn_err_t *err)
{
    dn_root_vers_t v;
    if (dn_root_rbuf_version(b, &v))
        return failed(b, "TObject", err);
    (void)dn_root_rbuf_u32(b); /* fUniqueID */
    uint32_t bits = dn_root_rbuf_u32(b);
    if (bits & KIS_REFERENCED)
        (void)dn_root_rbuf_u16(b); /* the process id of a referenced object */
    if (dn_root_rbuf_leave(b, &v, "TObject"))
        return failed(b, "TObject", err);
    return DN_OK;
}

static int read_tnamed(dn_root_rbuf_t *b, const char *what, char **name, char **title,
                       dn_err_t *err)
{
    dn_root_vers_t v;
    int rc = want_version(b, &v, what, 0, 1, err);
    if (rc || (rc = read_tobject(b, err)))
        return rc;
    if ((rc = dn_root_rbuf_tstring_dup(b, name)) || (rc = dn_root_rbuf_tstring_dup(b, title)))
        return rc == DN_ENOMEM ? dn_err_set(err, rc, "out of memory") : failed(b, what, err);
    return dn_root_rbuf_leave(b, &v, what) ? failed(b, what, err) : DN_OK;
}

/* A TArray as a member or base: a 4-byte count and the elements. *n gets the
 * count (checked against the bytes left); the values go to *out (new,
 * caller frees) unless out is NULL (skipped). */
static int read_tarray(dn_root_rbuf_t *b, const char *what, int elem_size, int is_float, int *n,
                       double **out, dn_err_t *err)
{
    int32_t count = dn_root_rbuf_i32(b);
    if (b->failed)
        return failed(b, what, err);
    if (count < 0 || (size_t)count > dn_root_rbuf_left(b) / (size_t)elem_size)
        return dn_err_set(err, DN_EFORMAT, "%s at offset %zu: %d elements of %d bytes, %zu "
                          "bytes are left", what, b->pos - 4, (int)count, elem_size,
                          dn_root_rbuf_left(b));
    *n = count;
    if (!out)
        return dn_root_rbuf_skip(b, (size_t)count * (size_t)elem_size) ? failed(b, what, err) : 0;
    *out = malloc((size_t)(count ? count : 1) * sizeof **out);
    if (!*out)
        return dn_err_set(err, DN_ENOMEM, "out of memory for %s (%d elements)", what, count);
    if (dn_root_rbuf_array(b, (size_t)count, elem_size, is_float, *out))
        return failed(b, what, err);
    return DN_OK;
}

static int read_axis(dn_root_rbuf_t *b, const char *what, dn_root_axis_t *a, dn_err_t *err)
{
    dn_root_vers_t v;
    int rc = want_version(b, &v, what, 5, 10, err);
    if (rc || (rc = read_tnamed(b, what, &a->name, &a->title, err)) ||
        (rc = skip_object(b, "TAttAxis", err)))
        return rc;
    a->n_bins = dn_root_rbuf_i32(b);
    a->xmin = dn_root_rbuf_f64(b);
    a->xmax = dn_root_rbuf_f64(b);
    if (b->failed)
        return failed(b, what, err);
    if (a->n_bins < 1 || a->n_bins > DN_ROOT_MAX_BINS)
        return dn_err_set(err, DN_EFORMAT, "%s: %d bins (1 to %d are read)", what, a->n_bins,
                          DN_ROOT_MAX_BINS);
    int n_edges = 0;
    double *xbins = NULL;
    if ((rc = read_tarray(b, "TAxis fXbins", 8, 0, &n_edges, &xbins, err)))
        goto fail;
    if (n_edges == 0) { /* fixed bins: ROOT's GetBinLowEdge */
        free(xbins);
        xbins = NULL;
        if (!isfinite(a->xmin) || !isfinite(a->xmax) || !(a->xmin < a->xmax)) {
            rc = dn_err_set(err, DN_EFORMAT, "%s: limits %g to %g are not an interval", what,
                            a->xmin, a->xmax);
            goto fail;
        }
        if (!(xbins = malloc((size_t)(a->n_bins + 1) * sizeof *xbins))) {
            rc = dn_err_set(err, DN_ENOMEM, "out of memory for %d edges", a->n_bins + 1);
            goto fail;
        }
        double w = (a->xmax - a->xmin) / a->n_bins;
        for (int i = 0; i <= a->n_bins; i++)
            xbins[i] = a->xmin + i * w;
    } else if (n_edges != a->n_bins + 1) {
        rc = dn_err_set(err, DN_EFORMAT, "%s fXbins: %d edges for %d bins", what, n_edges,
                        a->n_bins);
        goto fail;
    } else {
        a->variable = 1;
    }
    if (!edges_ok(a->n_bins, xbins)) {
        rc = dn_err_set(err, DN_EFORMAT, "%s: the edges of its %d bins are not finite and "
                        "strictly increasing", what, a->n_bins);
        goto fail;
    }
    a->edges = xbins;
    return dn_root_rbuf_leave(b, &v, what) ? failed(b, what, err) : DN_OK;
fail:
    free(xbins);
    return rc;
}

/* What follows fSumw2 in a TH1 of version `version`, read member by member:
 * only for a TH1 written without a byte count (ROOT 4.00 wrote TH1 3 so). */
static int skip_th1_tail(dn_root_rbuf_t *b, int version, dn_err_t *err)
{
    const char *s;
    size_t n;
    if (dn_root_rbuf_tstring(b, &s, &n)) /* fOption */
        return failed(b, "TH1 fOption", err);
    int rc = skip_object(b, "TH1 fFunctions", err); /* a TList in place */
    if (rc || version < 4)
        return rc;
    int32_t size = dn_root_rbuf_i32(b); /* fBufferSize, then fBuffer behind a flag */
    if (dn_root_rbuf_u8(b) && (size < 0 || dn_root_rbuf_skip(b, (size_t)size * 8)))
        return dn_err_set(err, DN_EFORMAT, "TH1 fBuffer: %d entries do not fit", (int)size);
    if (version >= 7)
        (void)dn_root_rbuf_i32(b); /* fBinStatErrOpt */
    if (version >= 8)
        (void)dn_root_rbuf_i32(b); /* fStatOverflows */
    return b->failed ? failed(b, "TH1", err) : DN_OK;
}

/* TH1: names, axes, sums, fSumw2; the rest skipped by its byte count. */
static int read_th1(dn_root_rbuf_t *b, dn_root_hist_t *h, dn_err_t *err)
{
    dn_root_vers_t v;
    int rc = version_in(b, &v, "TH1", 2, 8, 0, err);
    if (rc || (rc = read_tnamed(b, "TH1 TNamed", &h->name, &h->title, err)) ||
        (rc = skip_object(b, "TAttLine", err)) || (rc = skip_object(b, "TAttFill", err)) ||
        (rc = skip_object(b, "TAttMarker", err)))
        return rc;
    int32_t n_cells = dn_root_rbuf_i32(b);
    if (b->failed)
        return failed(b, "TH1 fNcells", err);
    dn_root_axis_t z = {0}, y = {0};
    if ((rc = read_axis(b, "TH1 fXaxis", &h->axis[0], err)) ||
        (rc = read_axis(b, "TH1 fYaxis", &y, err)) || (rc = read_axis(b, "TH1 fZaxis", &z, err)))
        goto done;
    int64_t want = (int64_t)h->axis[0].n_bins + 2;
    if (h->dim == 2)
        want *= (int64_t)y.n_bins + 2;
    if (want > DN_ROOT_MAX_CELLS || n_cells != want) {
        rc = dn_err_set(err, DN_EFORMAT, "TH1 fNcells is %d, %d x %d bins need %lld",
                        (int)n_cells, h->axis[0].n_bins, h->dim == 2 ? y.n_bins : 1,
                        (long long)want);
        goto done;
    }
    h->n_cells = (int)want;
    (void)dn_root_rbuf_i16(b); /* fBarOffset */
    (void)dn_root_rbuf_i16(b); /* fBarWidth */
    h->entries = dn_root_rbuf_f64(b);
    h->tsumw = dn_root_rbuf_f64(b);
    h->tsumw2 = dn_root_rbuf_f64(b);
    h->tsumwx = dn_root_rbuf_f64(b);
    h->tsumwx2 = dn_root_rbuf_f64(b);
    for (int k = 0; k < 3; k++)
        (void)dn_root_rbuf_f64(b); /* fMaximum, fMinimum, fNormFactor */
    if (b->failed) {
        rc = failed(b, "TH1 sums", err);
        goto done;
    }
    int n = 0;
    if ((rc = read_tarray(b, "TH1 fContour", 8, 0, &n, NULL, err)) ||
        (rc = read_tarray(b, "TH1 fSumw2", 8, 0, &n, &h->variances, err)))
        goto done;
    if (n == 0) {
        free(h->variances);
        h->variances = NULL;
    } else if (n != h->n_cells) {
        rc = dn_err_set(err, DN_EFORMAT, "TH1 fSumw2 holds %d values for %d bins", n,
                        h->n_cells);
        goto done;
    }
    if (!v.end)
        rc = skip_th1_tail(b, v.version, err);
    else
        rc = dn_root_rbuf_leave(b, &v, "TH1") ? failed(b, "TH1", err) : DN_OK;
done:
    if (h->dim == 2 && !rc)
        h->axis[1] = y;
    else
        axis_free(&y);
    axis_free(&z);
    return rc;
}

static int read_th2(dn_root_rbuf_t *b, dn_root_hist_t *h, dn_err_t *err)
{
    dn_root_vers_t v;
    int rc = version_in(b, &v, "TH2", 3, 5, 0, err); /* ROOT 4.00: no byte count */
    if (rc || (rc = read_th1(b, h, err)))
        return rc;
    (void)dn_root_rbuf_f64(b); /* fScalefactor */
    h->tsumwy = dn_root_rbuf_f64(b);
    h->tsumwy2 = dn_root_rbuf_f64(b);
    h->tsumwxy = dn_root_rbuf_f64(b);
    return dn_root_rbuf_leave(b, &v, "TH2") ? failed(b, "TH2 sums", err) : DN_OK;
}

int dn_root_hist_decode(const unsigned char *data, size_t len, const char *class_name,
                        dn_root_hist_t **out, dn_err_t *err)
{
    *out = NULL;
    dn_root_kind_t kind = dn_root_class_kind(class_name, NULL);
    if (kind == DN_ROOT_OTHER)
        return dn_err_set(err, DN_EINVAL, "class %s is not a histogram read here", class_name);
    char type = class_name[3]; /* C S I F D */
    int elem = type == 'C' ? 1 : type == 'S' ? 2 : type == 'D' ? 8 : 4;
    dn_root_hist_t *h = calloc(1, sizeof *h);
    if (!h || !(h->class_name = strdup(class_name))) {
        free(h);
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    h->dim = kind == DN_ROOT_TH2 ? 2 : 1;
    dn_root_rbuf_t b;
    dn_root_rbuf_init(&b, data, len);
    dn_root_vers_t v;
    int n = 0, rc;
    if (h->dim == 1)
        rc = version_in(&b, &v, class_name, 1, 3, 0, err);
    else
        rc = version_in(&b, &v, class_name, 3, 4, 0, err);
    if (rc || (rc = h->dim == 1 ? read_th1(&b, h, err) : read_th2(&b, h, err)))
        goto fail;
    if ((rc = read_tarray(&b, "bin contents", elem, type == 'F', &n, &h->values, err)))
        goto fail;
    if (n != h->n_cells) {
        rc = dn_err_set(err, DN_EFORMAT, "%d bin contents stored, the axes need %d", n,
                        h->n_cells);
        goto fail;
    }
    if (dn_root_rbuf_leave(&b, &v, class_name)) {
        rc = failed(&b, class_name, err);
        goto fail;
    }
    *out = h;
    return DN_OK;
fail:
    dn_root_hist_destroy(&h);
    return rc;
}

/* ---- writing ------------------------------------------------------------------- */

static void put_tarray(dn_root_wbuf_t *w, int n, const double *v)
{
    dn_root_wbuf_u32(w, (uint32_t)n);
    for (int i = 0; i < n; i++)
        dn_root_wbuf_f64(w, v ? v[i] : 0.0);
}

/* ROOT's default axis attributes (TAttAxis::ResetAttAxis). */
static void put_axis(dn_root_wbuf_t *w, const dn_root_axis_t *a, const char *name, int n,
                     double xmin, double xmax, const double *edges)
{
    size_t at = dn_root_wbuf_begin_object(w, 10);
    dn_root_wbuf_tnamed(w, a && a->name ? a->name : name, a && a->title ? a->title : "");
    size_t att = dn_root_wbuf_begin_object(w, 4);
    dn_root_wbuf_u32(w, 510);  /* fNdivisions */
    dn_root_wbuf_u16(w, 1);    /* fAxisColor */
    dn_root_wbuf_u16(w, 1);    /* fLabelColor */
    dn_root_wbuf_u16(w, 42);   /* fLabelFont */
    dn_root_wbuf_f32(w, 0.005f); /* fLabelOffset */
    dn_root_wbuf_f32(w, 0.035f); /* fLabelSize */
    dn_root_wbuf_f32(w, 0.03f);  /* fTickLength */
    dn_root_wbuf_f32(w, 1.0f);   /* fTitleOffset */
    dn_root_wbuf_f32(w, 0.035f); /* fTitleSize */
    dn_root_wbuf_u16(w, 1);    /* fTitleColor */
    dn_root_wbuf_u16(w, 42);   /* fTitleFont */
    dn_root_wbuf_end_object(w, att);
    dn_root_wbuf_u32(w, (uint32_t)n);
    dn_root_wbuf_f64(w, xmin);
    dn_root_wbuf_f64(w, xmax);
    put_tarray(w, edges ? n + 1 : 0, edges); /* fXbins */
    dn_root_wbuf_u32(w, 0);    /* fFirst */
    dn_root_wbuf_u32(w, 0);    /* fLast */
    dn_root_wbuf_u16(w, 0);    /* fBits2 */
    dn_root_wbuf_u8(w, 0);     /* fTimeDisplay */
    dn_root_wbuf_tstring(w, ""); /* fTimeFormat */
    dn_root_wbuf_u32(w, 0);    /* fLabels: null pointer */
    dn_root_wbuf_u32(w, 0);    /* fModLabs: null pointer */
    dn_root_wbuf_end_object(w, at);
}

static void put_axis_of(dn_root_wbuf_t *w, const dn_root_axis_t *a)
{
    put_axis(w, a, "", a->n_bins, a->xmin, a->xmax, a->variable ? a->edges : NULL);
}

static void put_th1(dn_root_wbuf_t *w, const dn_root_hist_t *h)
{
    size_t at = dn_root_wbuf_begin_object(w, 8);
    dn_root_wbuf_tnamed(w, h->name ? h->name : "", h->title ? h->title : "");
    size_t att = dn_root_wbuf_begin_object(w, 2); /* TAttLine: color 602, style 1, width 1 */
    dn_root_wbuf_u16(w, 602);
    dn_root_wbuf_u16(w, 1);
    dn_root_wbuf_u16(w, 1);
    dn_root_wbuf_end_object(w, att);
    att = dn_root_wbuf_begin_object(w, 2); /* TAttFill: color 0, style 1001 */
    dn_root_wbuf_u16(w, 0);
    dn_root_wbuf_u16(w, 1001);
    dn_root_wbuf_end_object(w, att);
    att = dn_root_wbuf_begin_object(w, 2); /* TAttMarker: color 1, style 1, size 1 */
    dn_root_wbuf_u16(w, 1);
    dn_root_wbuf_u16(w, 1);
    dn_root_wbuf_f32(w, 1.0f);
    dn_root_wbuf_end_object(w, att);
    dn_root_wbuf_u32(w, (uint32_t)h->n_cells);
    put_axis_of(w, &h->axis[0]);
    if (h->dim == 2)
        put_axis_of(w, &h->axis[1]);
    else
        put_axis(w, NULL, "yaxis", 1, 0.0, 1.0, NULL);
    put_axis(w, NULL, "zaxis", 1, 0.0, 1.0, NULL);
    dn_root_wbuf_u16(w, 0);        /* fBarOffset */
    dn_root_wbuf_u16(w, 1000);     /* fBarWidth */
    dn_root_wbuf_f64(w, h->entries);
    dn_root_wbuf_f64(w, h->tsumw);
    dn_root_wbuf_f64(w, h->tsumw2);
    dn_root_wbuf_f64(w, h->tsumwx);
    dn_root_wbuf_f64(w, h->tsumwx2);
    dn_root_wbuf_f64(w, -1111.0);  /* fMaximum: unset */
    dn_root_wbuf_f64(w, -1111.0);  /* fMinimum: unset */
    dn_root_wbuf_f64(w, 0.0);      /* fNormFactor */
    put_tarray(w, 0, NULL);   /* fContour */
    put_tarray(w, h->variances ? h->n_cells : 0, h->variances); /* fSumw2 */
    dn_root_wbuf_tstring(w, "");   /* fOption */
    size_t list = dn_root_wbuf_begin_object(w, 5); /* fFunctions: an empty TList in place */
    dn_root_wbuf_tobject(w, 0x03000000u);
    dn_root_wbuf_tstring(w, "");
    dn_root_wbuf_u32(w, 0);
    dn_root_wbuf_end_object(w, list);
    dn_root_wbuf_u32(w, 0);        /* fBufferSize */
    dn_root_wbuf_u8(w, 0);         /* fBuffer: no array */
    dn_root_wbuf_u32(w, 0);        /* fBinStatErrOpt: kNormal */
    dn_root_wbuf_u32(w, 2);        /* fStatOverflows: kNeutral */
    dn_root_wbuf_end_object(w, at);
}

int dn_root_hist_encode(const dn_root_hist_t *h, dn_root_wbuf_t *w, dn_err_t *err)
{
    if (!h || (h->dim != 1 && h->dim != 2) || !h->values)
        return dn_err_set(err, DN_EINVAL, "a histogram to write needs 1 or 2 axes and values");
    int64_t want = (int64_t)h->axis[0].n_bins + 2;
    if (h->dim == 2)
        want *= (int64_t)h->axis[1].n_bins + 2;
    if (h->n_cells != want || !edges_ok(h->axis[0].n_bins, h->axis[0].edges) ||
        (h->dim == 2 && !edges_ok(h->axis[1].n_bins, h->axis[1].edges)))
        return dn_err_set(err, DN_EINVAL, "histogram \"%s\": %d cells or its edges do not fit "
                          "its axes", h->name ? h->name : "", h->n_cells);
    size_t at = dn_root_wbuf_begin_object(w, h->dim == 1 ? 3 : 4);
    if (h->dim == 1) {
        put_th1(w, h);
    } else {
        size_t th2 = dn_root_wbuf_begin_object(w, 5);
        put_th1(w, h);
        dn_root_wbuf_f64(w, 1.0); /* fScalefactor */
        dn_root_wbuf_f64(w, h->tsumwy);
        dn_root_wbuf_f64(w, h->tsumwy2);
        dn_root_wbuf_f64(w, h->tsumwxy);
        dn_root_wbuf_end_object(w, th2);
    }
    put_tarray(w, h->n_cells, h->values);
    dn_root_wbuf_end_object(w, at);
    return dn_root_wbuf_ok(w) ? DN_OK : dn_err_set(err, DN_ENOMEM, "out of memory");
}
