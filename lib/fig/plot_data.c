/* plot_data.c: the figures of a dataset (plot_data.h).
 *
 * Each figure is a panel function drawing into a viewport, so that a single
 * figure and the combined 2 x 3 page are the same drawing: the single figure
 * gives the panel the page, the combined one a sixth of it with smaller text.
 * The checks run before dn_plot_render, so PLplot never sees a value that was
 * refused. Colours 9..15 of PLplot's cmap0 are set here (plot_draw.h). */
#include "plot_data.h"

#include <math.h>
#include <plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_draw.h"

/* plot.c's ink (1), grey (5) and warning orange (6) are used as they are */
enum { K_INK = 1, K_GREY = 5, K_CHANGE = 6, K_GOOD = 9, K_BAD = 10, K_GOOD_A = 11,
       K_BAD_A = 12, K_HIST = 13, K_HIST_LINE = 14, K_STAT = 15 };

/* The reference's colours (configs.py) and its alphas: 0.7 for filled
 * histograms and bars, 0.5 for points, 0.1 for the historical regime. */
static void colours(void)
{
    plscol0a(K_GOOD, 0x1C, 0x6A, 0xB0, 1.0);
    plscol0a(K_BAD, 0xC3, 0x16, 0x1B, 1.0);
    plscol0a(K_GOOD_A, 0x1C, 0x6A, 0xB0, 0.7);
    plscol0a(K_BAD_A, 0xC3, 0x16, 0x1B, 0.7);
    plscol0a(K_HIST, 0, 128, 0, 0.1);
    plscol0a(K_HIST_LINE, 0, 128, 0, 0.7);
    plscol0a(K_STAT, 128, 128, 128, 0.4);
}

typedef struct box_t {
    double vx0, vx1, vy0, vy1; /* viewport */
    double text;               /* character scale */
    double mark;               /* marker radius in pixels */
    int compact;               /* a panel of the combined page: title to the left */
} box_t;

static const box_t PAGE = {0.1, 0.96, 0.12, 0.86, 1.0, 2.2, 0};

static void frame(const box_t *b, const char *xopt, const char *xlabel, const char *ylabel,
                  const char *title)
{
    plcol0(K_INK);
    plsxax(7, 0); /* plain numbers: PLplot's "(x10^4)" would sit on the neighbours */
    plsyax(5, 0);
    plbox(xopt, 0, 0, "bcnstv", 0, 0);
    plmtex("b", 3.0, 0.5, 0.5, xlabel);
    plmtex("l", 5.0, 0.5, 0.5, ylabel);
    if (title && title[0])
        plmtex("t", 2.2, b->compact ? 0.0 : 0.5, b->compact ? 0.0 : 0.5, title);
}

/* legend entries in a row above the frame, left to right, each advanced by
 * its text's width estimated from the character height (PLplot measures no
 * text before drawing it): 0.8 of the height per character (measured on the cairo
 * driver's sans), 3 between */
static void legend(int n, const char *const *text, const int *colour)
{
    PLFLT def, ht, sx0, sx1, sy0, sy1, vx0, vx1, vy0, vy1;
    plgchr(&def, &ht);
    plgspa(&sx0, &sx1, &sy0, &sy1);
    plgvpd(&vx0, &vx1, &vy0, &vy1);
    const double per_char = 0.8 * ht / ((vx1 - vx0) * (sx1 - sx0));
    double pos = 0;
    for (int i = 0; i < n; i++) {
        plcol0(colour[i]);
        plmtex("t", 0.6, pos, 0.0, text[i]);
        pos += per_char * ((double)strlen(text[i]) + 3);
    }
}

static void rect(double x0, double x1, double y0, double y1, int colour)
{
    PLFLT x[4] = {x0, x1, x1, x0}, y[4] = {y0, y0, y1, y1};
    plcol0(colour);
    plfill(4, x, y);
}

/* ---- class ratio ------------------------------------------------------------- */

typedef struct {
    const char *title;
    const dn_eda_classes_t *c;
} classes_arg_t;

static void panel_classes(const box_t *b, const char *title, const dn_eda_classes_t *c)
{
    const double v[3] = {c->good, c->bad, c->unlabelled};
    static const char *name[3] = {"Good runs", "Bad runs", "Unlabelled"};
    static const int col[3] = {K_GOOD_A, K_BAD_A, K_GREY};
    const int nbar = c->unlabelled > 0 ? 3 : 2;
    double top = fmax(fmax(v[0], v[1]), v[2]) * 1.12;
    plschr(0, b->text);
    plvpor(b->vx0, b->vx1, b->vy0, b->vy1);
    plwind(-0.6, nbar - 0.4, 0, top);
    for (int k = 0; k < nbar; k++) {
        rect(k - 0.4, k + 0.4, 0, v[k], col[k]);
        char n[32];
        snprintf(n, sizeof n, "%.0f", v[k]);
        plcol0(K_INK);
        plptex(k, v[k] + top * 0.045, 1, 0, 0.5, n);
        plmtex("b", 1.2, (k + 0.6) / (nbar + 0.2), 0.5, name[k]);
    }
    frame(b, "bc", "", "Number of runs", title);
    plmtex("b", 2.8, 0.5, 0.5, "Class label");
}

static void draw_classes(const void *arg)
{
    const classes_arg_t *a = arg;
    colours();
    panel_classes(&PAGE, a->title, a->c);
}

static int check_classes(const dn_eda_classes_t *c, dn_err_t *err)
{
    if (!c || c->good < 0 || c->bad < 0 || c->unlabelled < 0 ||
        c->good + c->bad + c->unlabelled < 1)
        return dn_err_set(err, DN_EINVAL, "class ratio figure: no runs or a negative count");
    return DN_OK;
}

int dn_plot_class_ratio(const char *base, const char *title, const dn_eda_classes_t *c,
                        dn_err_t *err)
{
    int rc = base ? check_classes(c, err) : dn_err_set(err, DN_EINVAL, "no file name");
    classes_arg_t a = {title, c};
    return rc ? rc : dn_plot_render(base, 800, 600, draw_classes, &a, err);
}

/* ---- run statistics ---------------------------------------------------------- */

typedef struct {
    const char *title;
    const dn_eda_stats_t *s;
} stats_arg_t;

static void panel_stats(const box_t *b, const char *title, const dn_eda_stats_t *s)
{
    const int nb = s->n_bins;
    double top = 0;
    int present[3] = {0, 0, 0};
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < nb; k++) {
            top = fmax(top, s->count[c][k]);
            present[c] |= s->count[c][k] > 0;
        }
    plschr(0, b->text);
    plvpor(b->vx0, b->vx1, b->vy0, b->vy1);
    plwind(s->edges[0], s->edges[nb], 0, top * 1.1);
    PLFLT px[2 * DN_EDA_STAT_EDGES_MAX + 2], py[2 * DN_EDA_STAT_EDGES_MAX + 2];
    static const int col[3] = {K_GOOD_A, K_BAD_A, K_STAT};
    for (int c = 0; c < 3; c++) {
        if (!present[c])
            continue;
        int m = 0;
        px[m] = s->edges[0];
        py[m++] = 0;
        for (int k = 0; k < nb; k++) {
            px[m] = s->edges[k];
            py[m++] = s->count[c][k];
            px[m] = s->edges[k + 1];
            py[m++] = s->count[c][k];
        }
        px[m] = s->edges[nb];
        py[m++] = 0;
        plcol0(col[c]);
        plfill(m, px, py);
    }
    frame(b, "bcnst", "Run statistics (entries)", "Number of runs", title);
    const char *text[3];
    int lc[3], n = 0;
    static const char *name[3] = {"Good runs", "Bad runs", "Unlabelled runs"};
    static const int lcol[3] = {K_GOOD, K_BAD, K_GREY};
    for (int c = 0; c < 3; c++)
        if (present[c]) {
            text[n] = name[c];
            lc[n++] = lcol[c];
        }
    legend(n, text, lc);
}

static void draw_stats(const void *arg)
{
    const stats_arg_t *a = arg;
    colours();
    panel_stats(&PAGE, a->title, a->s);
}

static int check_stats(const dn_eda_stats_t *s, dn_err_t *err)
{
    if (!s || s->n_bins < 1 || s->n_bins >= DN_EDA_STAT_EDGES_MAX)
        return dn_err_set(err, DN_EINVAL, "run statistics figure: %d bins",
                          s ? s->n_bins : 0);
    double total = 0;
    for (int k = 0; k < s->n_bins; k++) {
        if (!isfinite(s->edges[k]) || !isfinite(s->edges[k + 1]) ||
            !(s->edges[k] < s->edges[k + 1]))
            return dn_err_set(err, DN_EINVAL, "run statistics figure: edges not increasing "
                              "at bin %d", k);
        for (int c = 0; c < 3; c++) {
            if (!isfinite(s->count[c][k]) || s->count[c][k] < 0)
                return dn_err_set(err, DN_EINVAL, "run statistics figure: count %g in bin %d",
                                  s->count[c][k], k);
            total += s->count[c][k];
        }
    }
    if (!(total > 0))
        return dn_err_set(err, DN_EINVAL, "run statistics figure: no run in any bin");
    return DN_OK;
}

int dn_plot_run_stats(const char *base, const char *title, const dn_eda_stats_t *s,
                      dn_err_t *err)
{
    int rc = base ? check_stats(s, err) : dn_err_set(err, DN_EINVAL, "no file name");
    stats_arg_t a = {title, s};
    return rc ? rc : dn_plot_render(base, 900, 600, draw_stats, &a, err);
}

/* ---- uncertainty visualisation ----------------------------------------------- */

typedef struct {
    const char *title;
    const dn_plot_unc_t *u;
} unc_arg_t;

/* the band mid +- half over x (px, py: scratch of n each for its edges) */
static void band(int n, const double *x, const double *mid, const double *half, int colour,
                 PLFLT *px, PLFLT *py)
{
    for (int j = 0; j < n; j++) {
        px[j] = mid[j] - half[j];
        py[j] = mid[j] + half[j];
    }
    plcol0(colour);
    dn_plot_band(n, x, px, py);
}

static void panel_unc(const box_t *b, const char *title, const dn_plot_unc_t *u)
{
    const int n = u->n;
    double top = 0;
    for (int j = 0; j < n; j++)
        top = fmax(top, u->median[j] + fmax(u->full_sigma[j], u->stat_sigma[j]));
    if (!(top > 0))
        top = 1;
    PLFLT *px = malloc(sizeof(PLFLT) * 4 * (size_t)n);
    if (!px)
        return;
    PLFLT *py = px + 2 * n;
    plschr(0, b->text);
    plvpor(b->vx0, b->vx1, b->vy0, b->vy1);
    plwind(u->x[0], u->x[n - 1], 0, top * 1.3);
    plscol0a(K_GOOD_A, 0x1C, 0x6A, 0xB0, 0.2);
    band(n, u->x, u->median, u->full_sigma, K_GOOD_A, px, py);
    band(n, u->x, u->median, u->stat_sigma, K_STAT, px, py);
    plscol0a(K_GOOD_A, 0x1C, 0x6A, 0xB0, 0.7);
    plcol0(K_INK);
    plwidth(1.5);
    plline(n, u->x, u->median);
    pllsty(2);
    for (int s = -1; s <= 1; s += 2) {
        for (int j = 0; j < n; j++) {
            px[j] = u->x[j];
            py[j] = u->median[j] + s * u->full_sigma[j];
        }
        plline(n, px, py);
    }
    pllsty(1);
    plwidth(1);
    frame(b, "bcnst", "z = (x - #gm) / #gs", "Normalised values", title);
    /* the legend in the empty upper corners: the curve is a Gaussian about 0 */
    char med[96];
    snprintf(med, sizeof med, "median of %d", u->n_good);
    plcol0(K_INK);
    plmtex("t", -1.5, 0.02, 0.0, med);
    plmtex("t", -3.0, 0.02, 0.0, "good runs");
    plmtex("t", -1.5, 0.98, 1.0, "#gs#dfull#u dashed");
    plcol0(K_GOOD);
    plmtex("t", -3.0, 0.98, 1.0, "#gs#dsyst#u blue");
    plcol0(K_GREY);
    plmtex("t", -4.5, 0.98, 1.0, "#gs#dstat#u grey");
    free(px);
}

static void draw_unc(const void *arg)
{
    const unc_arg_t *a = arg;
    colours();
    panel_unc(&PAGE, a->title, a->u);
}

static int check_unc(const dn_plot_unc_t *u, dn_err_t *err)
{
    if (!u || u->n < 2 || !u->x || !u->median || !u->full_sigma || !u->stat_sigma)
        return dn_err_set(err, DN_EINVAL, "uncertainty figure: fewer than 2 points or missing "
                          "arrays");
    for (int j = 0; j < u->n; j++) {
        if (!isfinite(u->x[j]) || !isfinite(u->median[j]) || !isfinite(u->full_sigma[j]) ||
            !isfinite(u->stat_sigma[j]))
            return dn_err_set(err, DN_EINVAL, "uncertainty figure: point %d not finite", j);
        if (u->full_sigma[j] < 0 || u->stat_sigma[j] < 0)
            return dn_err_set(err, DN_EINVAL, "uncertainty figure: negative sigma at point %d",
                              j);
        if (j > 0 && !(u->x[j] > u->x[j - 1]))
            return dn_err_set(err, DN_EINVAL, "uncertainty figure: x not increasing at point "
                              "%d", j);
    }
    return DN_OK;
}

int dn_plot_unc_vis(const char *base, const char *title, const dn_plot_unc_t *u,
                    dn_err_t *err)
{
    int rc = base ? check_unc(u, err) : dn_err_set(err, DN_EINVAL, "no file name");
    unc_arg_t a = {title, u};
    return rc ? rc : dn_plot_render(base, 900, 600, draw_unc, &a, err);
}

/* ---- a quantity per run ------------------------------------------------------ */

static void panel_runs(const box_t *b, const dn_plot_runs_t *r)
{
    const int n = r->n;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        lo = fmin(lo, r->value[i]);
        hi = fmax(hi, r->value[i]);
    }
    if (isfinite(r->nominal)) {
        lo = fmin(lo, r->nominal);
        hi = fmax(hi, r->nominal);
    }
    const double pad = 0.05 * (hi > lo ? hi - lo : 1);
    lo -= pad;
    hi += pad;
    if (isfinite(r->ylo) && isfinite(r->yhi)) {
        lo = fmin(lo, r->ylo);
        hi = fmax(hi, r->yhi);
    }
    PLFLT *px = malloc(sizeof(PLFLT) * 2 * (size_t)n);
    if (!px)
        return;
    PLFLT *py = px + n;
    plschr(0, b->text);
    plvpor(b->vx0, b->vx1, b->vy0, b->vy1);
    plwind(0, n, lo, hi);
    if (r->n_hist > 0) {
        rect(0, r->n_hist, lo, hi, K_HIST);
        dn_plot_line(r->n_hist, lo, r->n_hist, hi, 2, 1, K_HIST_LINE);
        plcol0(K_INK);
        plptex(0.1 * n, lo + 0.6 * (hi - lo), 0, 1, 0.5, "Historical regime");
    }
    if (isfinite(r->nominal))
        dn_plot_line(0, r->nominal, n, r->nominal, 1.5, 0, K_INK);
    int n_change = 0;
    if (r->change)
        for (int i = 0; i < n; i++)
            if (r->change[i]) {
                dn_plot_line(i, lo, i, hi, 1.2, 1, K_CHANGE);
                n_change++;
            }
    static const int cls[3] = {-1, 0, 1}, col[3] = {K_GREY, K_GOOD_A, K_BAD_A};
    int present[3] = {0, 0, 0};
    for (int c = 0; c < 3; c++) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            int l = r->label[i] == 0 || r->label[i] == 1 ? r->label[i] : -1;
            if (l == cls[c]) {
                px[m] = i;
                py[m++] = r->value[i];
            }
        }
        present[c] = m > 0;
        dn_plot_markers(m, px, py, 0, b->mark, col[c]);
    }
    frame(b, "bcnst", "Run number (index)", r->ylabel ? r->ylabel : "", r->title);
    const char *text[4];
    int lc[4], k = 0;
    if (present[1]) {
        text[k] = "Good runs";
        lc[k++] = K_GOOD;
    }
    if (present[2]) {
        text[k] = "Bad runs";
        lc[k++] = K_BAD;
    }
    if (present[0]) {
        text[k] = "Unlabelled";
        lc[k++] = K_GREY;
    }
    legend(k, text, lc);
    if (r->change) {
        char t[160];
        snprintf(t, sizeof t, "%s (%d)", r->change_name, n_change);
        plcol0(K_CHANGE);
        plmtex("t", b->compact ? 2.2 : 0.6, 1.0, 1.0, t);
    }
    free(px);
}

static void draw_runs(const void *arg)
{
    colours();
    panel_runs(&PAGE, arg);
}

static int check_runs(const dn_plot_runs_t *r, dn_err_t *err)
{
    if (!r || r->n < 1 || !r->value || !r->label)
        return dn_err_set(err, DN_EINVAL, "per-run figure: no runs or missing arrays");
    const char *what = r->title ? r->title : "per-run figure";
    for (int i = 0; i < r->n; i++)
        if (!isfinite(r->value[i]))
            return dn_err_set(err, DN_EINVAL, "%s: run %d has value %g", what, i, r->value[i]);
    if (r->n_hist < 0 || r->n_hist > r->n)
        return dn_err_set(err, DN_EINVAL, "%s: %d historical runs of %d", what, r->n_hist,
                          r->n);
    if (r->change && !r->change_name)
        return dn_err_set(err, DN_EINVAL, "%s: changes without their name", what);
    if (isfinite(r->ylo) != isfinite(r->yhi) || (isfinite(r->ylo) && !(r->ylo < r->yhi)))
        return dn_err_set(err, DN_EINVAL, "%s: range %g .. %g", what, r->ylo, r->yhi);
    return DN_OK;
}

int dn_plot_runs(const char *base, const dn_plot_runs_t *r, dn_err_t *err)
{
    int rc = base ? check_runs(r, err) : dn_err_set(err, DN_EINVAL, "no file name");
    return rc ? rc : dn_plot_render(base, 1000, 600, draw_runs, r, err);
}

/* ---- the combined page ------------------------------------------------------- */

static void absent(const box_t *b, const char *what, const char *why)
{
    plschr(0, b->text);
    plvpor(b->vx0, b->vx1, b->vy0, b->vy1);
    plwind(0, 1, 0, 1);
    plcol0(K_GREY);
    plbox("bc", 0, 0, "bc", 0, 0);
    plptex(0.5, 0.55, 1, 0, 0.5, what);
    plptex(0.5, 0.45, 1, 0, 0.5, why ? why : "not available for this input");
}

static void draw_eda(const void *arg)
{
    const dn_plot_eda_t *e = arg;
    colours();
    box_t b[6];
    for (int k = 0; k < 6; k++) {
        const int row = k / 3, col = k % 3;
        b[k] = (box_t){col / 3.0 + 0.06, (col + 1) / 3.0 - 0.015,
                       row ? 0.08 : 0.53, row ? 0.40 : 0.85, 0.65, 1.6, 1};
    }
    if (e->title) {
        plvpor(0, 1, 0.94, 1);
        plwind(0, 1, 0, 1);
        plcol0(K_INK);
        plschr(0, 1.1);
        plmtex("t", -1.6, 0.5, 0.5, e->title);
    }
    if (e->classes)
        panel_classes(&b[0], "Class ratio", e->classes);
    else
        absent(&b[0], "Class ratio", "no labels");
    if (e->stats)
        panel_stats(&b[1], "Run statistics", e->stats);
    else
        absent(&b[1], "Run statistics", e->missing);
    if (e->unc)
        panel_unc(&b[2], "Uncertainty visualisation", e->unc);
    else
        absent(&b[2], "Uncertainty visualisation", e->missing);
    const dn_plot_runs_t *per[3] = {e->dead, e->mu, e->sigma};
    static const char *name[3] = {"Dead bins", "Gaussian #gm", "Gaussian #gs"};
    for (int k = 0; k < 3; k++) {
        if (per[k]) {
            dn_plot_runs_t r = *per[k];
            r.title = name[k];
            panel_runs(&b[3 + k], &r);
        } else {
            absent(&b[3 + k], name[k], e->missing);
        }
    }
}

int dn_plot_eda(const char *base, const dn_plot_eda_t *e, dn_err_t *err)
{
    if (!base || !e)
        return dn_err_set(err, DN_EINVAL, "combined figure: no file name or input");
    if (!e->classes && !e->stats && !e->unc && !e->dead && !e->mu && !e->sigma)
        return dn_err_set(err, DN_EINVAL, "combined figure: no panel has its input");
    int rc = DN_OK;
    if ((e->classes && (rc = check_classes(e->classes, err))) ||
        (e->stats && (rc = check_stats(e->stats, err))) ||
        (e->unc && (rc = check_unc(e->unc, err))))
        return rc;
    const dn_plot_runs_t *per[3] = {e->dead, e->mu, e->sigma};
    int n = -1;
    for (int k = 0; k < 3; k++) {
        if (!per[k])
            continue;
        if ((rc = check_runs(per[k], err)))
            return rc;
        if (n >= 0 && per[k]->n != n)
            return dn_err_set(err, DN_EINVAL, "combined figure: per-run panels of %d and %d "
                              "runs", n, per[k]->n);
        n = per[k]->n;
    }
    return dn_plot_render(base, 1800, 1000, draw_eda, e, err);
}
