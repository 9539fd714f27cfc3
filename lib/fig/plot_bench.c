/* plot_bench.c: results over many datasets (plot_bench.h).
 *
 * The statistics follow pandas and numpy exactly where the reference uses
 * them (describe: two-pass variance with ddof 1, numpy's linear percentiles
 * through dn_percentile), so the aggregated tables compare with the
 * reference's to rounding. Figures are drawn through plot.h's renderer,
 * PLplot on cairo. */
#include "plot_bench.h"

#include <math.h>
#include <plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "plot_draw.h"

/* ---- describe ----------------------------------------------------------------------- */

static const char *const describe_label[DN_DESCRIBE_N] = {
    "count", "mean", "std", "min", "0.1%", "2.3%", "2.5%", "5%", "15.9%",
    "25%", "50%", "75%", "84.1%", "95%", "97.5%", "97.7%", "99.9%", "max",
};

const char *dn_describe_label(int k)
{
    return k >= 0 && k < DN_DESCRIBE_N ? describe_label[k] : NULL;
}

/* P(Z <= z) of a standard normal, as scipy's norm.cdf (ndtr). */
static double phi(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

int dn_describe(const double *v, int n, double out[DN_DESCRIBE_N], dn_err_t *err)
{
    for (int k = 0; k < DN_DESCRIBE_N; k++)
        out[k] = NAN;
    int cnt = 0;
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) {
            cnt++;
            sum += v[i];
            lo = fmin(lo, v[i]);
            hi = fmax(hi, v[i]);
        }
    out[0] = cnt;
    if (!cnt)
        return 0;
    double mean = sum / cnt, ss = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i]))
            ss += (v[i] - mean) * (v[i] - mean);
    out[1] = mean;
    out[2] = cnt > 1 ? sqrt(ss / (cnt - 1)) : NAN;
    out[3] = lo;
    out[DN_DESCRIBE_N - 1] = hi;
    /* pandas takes fractions and hands numpy q * 100. */
    const double q[13] = {phi(-3), phi(-2), 0.025, 0.05, phi(-1), 0.25, 0.5,
                          0.75, phi(1), 0.95, 0.975, phi(2), phi(3)};
    for (int k = 0; k < 13; k++) {
        out[4 + k] = dn_percentile(v, n, q[k] * 100);
        if (isnan(out[4 + k]))
            return dn_err_set(err, DN_ENOMEM, "describe: out of memory");
    }
    return 0;
}

/* ---- the alpha scan ----------------------------------------------------------------- */

int dn_bench_alpha_scan(const dn_dataset_t *ds, const dn_eval_opts_t *opts, int n_alpha,
                        const double *alpha, dn_eval_result_t *out, dn_err_t *err)
{
    if (opts->method != DN_METHOD_S)
        return dn_err_set(err, DN_EINVAL, "alpha scan: DINAMO-S only (ML has no alpha)");
    dn_eval_opts_t o = *opts;
    for (int k = 0; k < n_alpha; k++) {
        if (!(alpha[k] >= 0 && alpha[k] < 1))
            return dn_err_set(err, DN_EINVAL, "alpha scan: alpha %g outside [0, 1)", alpha[k]);
        o.alpha = alpha[k];
        int rc = dn_evaluate(ds, &o, &out[k], err);
        if (rc) {
            char msg[DN_ERRMSG_MAX];
            snprintf(msg, sizeof msg, "%s", err->msg);
            return dn_err_set(err, rc, "alpha %g: %s", alpha[k], msg);
        }
    }
    return 0;
}

/* ---- figures ------------------------------------------------------------------------ */

/* Colours beyond plot.c's palette (0..8), set inside each figure. */
enum { C_A = 10, C_A_FILL = 11, C_B = 12, C_B_FILL = 13, C_P = 14, C_P_FILL = 15 };

#define PAIR_EDGES 40

typedef struct pair_t {
    const char *title, *xlabel, *label[2];
    const double *v[2];
    int n[2], unit;
    int cnt[2];
    double med[2], lo95[2], hi95[2];
    double xlo, xhi;
} pair_t;

static void step_hist(const pair_t *p, int s, int colour, int fill, double *ymax_io,
                      int draw)
{
    double count[PAIR_EDGES - 1] = {0}, total = 0;
    const double w = (p->xhi - p->xlo) / (PAIR_EDGES - 1);
    for (int i = 0; i < p->n[s]; i++) {
        double x = p->v[s][i];
        if (isnan(x) || x < p->xlo || x > p->xhi)
            continue;
        int b = (int)((x - p->xlo) / w);
        b = b >= PAIR_EDGES - 1 ? PAIR_EDGES - 2 : b; /* numpy: the last bin holds its right edge */
        count[b]++;
        total++;
    }
    for (int b = 0; b < PAIR_EDGES - 1; b++) {
        if (total > 0)
            count[b] /= total;
        *ymax_io = fmax(*ymax_io, count[b]);
    }
    if (!draw || total <= 0)
        return;
    PLFLT x[2 * PAIR_EDGES + 2], y[2 * PAIR_EDGES + 2];
    int m = 0;
    x[m] = p->xlo;
    y[m++] = 0;
    for (int b = 0; b < PAIR_EDGES - 1; b++) {
        x[m] = p->xlo + w * b;
        y[m++] = count[b];
        x[m] = p->xlo + w * (b + 1);
        y[m++] = count[b];
    }
    x[m] = p->xhi;
    y[m++] = 0;
    plcol0(fill);
    plfill(m, x, y);
    plcol0(colour);
    plwidth(2);
    plline(m, x, y);
    plwidth(1);
}

static void draw_pair(const void *arg)
{
    const pair_t *p = arg;
    plscol0(C_A, 90, 100, 120);
    plscol0a(C_A_FILL, 119, 136, 153, 0.45);
    plscol0(C_B, 75, 0, 130);
    plscol0a(C_B_FILL, 150, 90, 200, 0.40);
    const int col[2] = {C_A, C_B}, fill[2] = {C_A_FILL, C_B_FILL};
    double ymax = 0;
    for (int s = 0; s < 2; s++)
        step_hist(p, s, col[s], fill[s], &ymax, 0);
    double ytop = ymax > 0 ? 1.6 * ymax : 1;
    plschr(0, 1.1);
    plvpor(0.1, 0.96, 0.12, 0.9);
    plwind(p->xlo, p->xhi, 0, ytop);
    for (int s = 0; s < 2; s++)
        step_hist(p, s, col[s], fill[s], &ymax, 1);
    for (int s = 0; s < 2; s++) {
        if (!p->cnt[s])
            continue;
        plcol0(col[s]);
        pllsty(2);
        plwidth(2.5);
        pljoin(p->med[s], 0, p->med[s], ytop * 0.8);
        plwidth(1);
        pllsty(1);
    }
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab(p->xlabel, "fraction of datasets", p->title);
    plschr(0, 0.85);
    for (int s = 0; s < 2; s++) {
        char txt[200];
        if (p->cnt[s])
            snprintf(txt, sizeof txt, "%s: %d datasets, median %.4g (dashed), 95%%: (%.4g, %.4g)",
                     p->label[s], p->cnt[s], p->med[s], p->lo95[s], p->hi95[s]);
        else
            snprintf(txt, sizeof txt, "%s: no dataset with a value", p->label[s]);
        plcol0(col[s]);
        plmtex("t", -1.5 - 1.6 * s, 0.02, 0.0, txt);
    }
}

int dn_plot_bench_pair(const char *base, const char *title, const char *xlabel,
                       const char *label_a, const double *a, int na, const char *label_b,
                       const double *b, int nb, int unit, dn_err_t *err)
{
    pair_t p = {title ? title : "", xlabel ? xlabel : "", {label_a, label_b}, {a, b},
                {na, nb}, unit, {0, 0}, {NAN, NAN}, {NAN, NAN}, {NAN, NAN}, NAN, NAN};
    double lo = INFINITY, hi = -INFINITY;
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < p.n[s]; i++) /* inf would make the bins infinite */
            if (!isfinite(p.v[s][i]) && !isnan(p.v[s][i]))
                return dn_err_set(err, DN_EINVAL, "%s: %s: an infinite value", base, p.label[s]);
        for (int i = 0; i < p.n[s]; i++)
            p.cnt[s] += !isnan(p.v[s][i]);
        if (!p.cnt[s])
            continue;
        p.med[s] = dn_percentile(p.v[s], p.n[s], 50);
        p.lo95[s] = dn_percentile(p.v[s], p.n[s], 2.5);
        p.hi95[s] = dn_percentile(p.v[s], p.n[s], 97.5);
        /* Every value, not the reference's 0.1% .. 99.9% percentiles: below
         * 1000 datasets those fall inside the extreme values, so the
         * histogram would silently leave the best and worst datasets out
         * (one of two, with two). */
        for (int i = 0; i < p.n[s]; i++)
            if (!isnan(p.v[s][i])) {
                lo = fmin(lo, p.v[s][i]);
                hi = fmax(hi, p.v[s][i]);
            }
    }
    if (!p.cnt[0] && !p.cnt[1])
        return dn_err_set(err, DN_EINVAL, "%s: no value to draw", base);
    if (isnan(lo) || isnan(hi))
        return dn_err_set(err, DN_ENOMEM, "%s: out of memory", base);
    if (unit) {
        lo = fmax(lo, 0);
        hi = fmin(hi, 1);
    }
    if (!(hi > lo)) { /* one value everywhere: a visible bin around it */
        double d = fabs(lo) > 0 ? 0.05 * fabs(lo) : 0.5;
        lo -= d;
        hi += d;
    }
    p.xlo = lo;
    p.xhi = hi;
    return dn_plot_render(base, 1000, 620, draw_pair, &p, err);
}

typedef struct alpha_fig_t {
    const char *title;
    int n;
    const double *alpha;
    const char *const *name;
    const double *const *mean, *const *std;
} alpha_fig_t;

static void draw_alpha(const void *arg)
{
    const alpha_fig_t *a = arg;
    static const int rgb[3][3] = {{30, 90, 200}, {200, 40, 40}, {20, 140, 60}};
    PLFLT *x = malloc(sizeof *x * 2 * (size_t)a->n), *y = malloc(sizeof *y * 2 * (size_t)a->n);
    if (!x || !y)
        goto out;
    const double x0 = a->alpha[0], x1 = a->alpha[a->n - 1];
    for (int pnl = 0; pnl < 3; pnl++) {
        const double *m = a->mean[pnl], *s = a->std[pnl];
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < a->n; i++)
            if (isfinite(m[i]) && isfinite(s[i])) {
                lo = fmin(lo, m[i] - s[i]);
                hi = fmax(hi, m[i] + s[i]);
            } else if (isfinite(m[i])) {
                lo = fmin(lo, m[i]);
                hi = fmax(hi, m[i]);
            }
        if (!(hi >= lo)) {
            lo = 0;
            hi = 1;
        }
        double pad = hi > lo ? 0.08 * (hi - lo) : 0.5;
        /* panel 0 on top: the stack reads top to bottom like the legend */
        double vy1 = 0.92 - pnl * 0.28, vy0 = vy1 - 0.25;
        plvpor(0.1, 0.96, vy0, vy1);
        plwind(x0, x1, lo - pad, hi + pad);
        plscol0(C_P, rgb[pnl][0], rgb[pnl][1], rgb[pnl][2]);
        plscol0a(C_P_FILL, rgb[pnl][0], rgb[pnl][1], rgb[pnl][2], 0.28);
        for (int i = 0; i < a->n; i++) {
            x[i] = m[i] - s[i]; /* the band's edges */
            y[i] = m[i] + s[i];
        }
        plcol0(C_P_FILL);
        dn_plot_band(a->n, a->alpha, x, y);
        int k = 0;
        for (int i = 0; i < a->n; i++)
            if (isfinite(m[i])) {
                x[k] = a->alpha[i];
                y[k++] = m[i];
            }
        plcol0(C_P);
        plwidth(2);
        if (k >= 2)
            plline(k, x, y);
        plwidth(1);
        plcol0(1);
        plschr(0, 0.9);
        plbox(pnl == 2 ? "bcnst" : "bcst", 0, 0, "bcnstv", 0, 0);
        plcol0(C_P);
        plschr(0, 1.0);
        plmtex("l", 5.0, 0.5, 0.5, a->name[pnl]);
        if (pnl == 0) {
            plcol0(1);
            plschr(0, 1.1);
            plmtex("t", 1.2, 0.5, 0.5, a->title);
        }
        if (pnl == 2) {
            plcol0(1);
            plschr(0, 1.0);
            plmtex("b", 2.8, 0.5, 0.5, "#ga (DINAMO-S smoothing)");
        }
    }
out:
    free(x);
    free(y);
}

int dn_plot_bench_alpha(const char *base, const char *title, int n, const double *alpha,
                        const char *const name[3], const double *const mean[3],
                        const double *const std[3], dn_err_t *err)
{
    if (n < 2 || !alpha)
        return dn_err_set(err, DN_EINVAL, "%s: fewer than 2 alphas", base);
    for (int i = 1; i < n; i++)
        if (!(alpha[i] > alpha[i - 1]))
            return dn_err_set(err, DN_EINVAL, "%s: alphas not increasing", base);
    int any = 0;
    for (int p = 0; p < 3; p++)
        for (int i = 0; i < n; i++) {
            if (isinf(mean[p][i]) || isinf(std[p][i]))
                return dn_err_set(err, DN_EINVAL, "%s: %s: an infinite value", base, name[p]);
            any |= isfinite(mean[p][i]);
        }
    if (!any)
        return dn_err_set(err, DN_EINVAL, "%s: no finite mean to draw", base);
    alpha_fig_t a = {title ? title : "", n, alpha, name, mean, std};
    return dn_plot_render(base, 1100, 900, draw_alpha, &a, err);
}
