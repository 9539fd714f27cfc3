/* plot_result.c: the result figures of an evaluation (plot_result.h), drawn
 * through plot_draw.h's dn_plot_render into BASE.png and BASE.svg.
 *
 * Each public function checks its whole input first and hands the drawing
 * callback only what PLplot can take; the callbacks skip non-finite points
 * (a curve or a band is drawn as its runs of consecutive finite points).
 * Colours: good and bad runs the reference's (#1C6AB0, #C3161B); the other
 * curves its choices (green balanced accuracy, dark blue and dark green
 * medians, a pale green predicted band). The few colours beyond plot.c's
 * palette are set into the free indices 9 .. 15 while a figure draws. */
#include "plot_result.h"

#include <math.h>
#include <plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "plot_draw.h"
#include "rng.h"

/* plot.c's palette: 1 ink (black), 5 grey; 9 .. 15 are ours while drawing */
enum { C_INK = 1, C_GREY = 5, C_X1 = 9, C_X2 = 10, C_X3 = 11,
       C_X4 = 12, C_X5 = 13, C_X6 = 14, C_TMP = 15 };

#define GOOD_RGB 28, 106, 176
#define BAD_RGB 195, 22, 27
#define WBA_RGB 0, 128, 0
#define DARKBLUE_RGB 0, 0, 139
#define DARKGREEN_RGB 0, 100, 0
#define PALEGREEN_RGB 152, 251, 152

static int any_finite(const double *v, int n)
{
    for (int i = 0; v && i < n; i++)
        if (isfinite(v[i]))
            return 1;
    return 0;
}

/* Step points of a histogram: bin j's value v[j] at both of its edges, so
 * x and y get 2 nb points (the reference's stairs and step='mid' bands). */
static void steps(int nb, const double *edges, const double *v, double *x, double *y)
{
    for (int j = 0; j < nb; j++) {
        x[2 * j] = edges ? edges[j] : j;
        x[2 * j + 1] = edges ? edges[j + 1] : j + 1;
        y[2 * j] = y[2 * j + 1] = v[j];
    }
}

static double finite_or0(double x) { return isfinite(x) ? x : 0; }

/* y[n] at x[n] drawn as steps centred on each x (matplotlib's steps-mid):
 * point i spans halfway to its neighbours. */
static void curve_steps_mid(int n, const double *x, const double *y)
{
    double *px = malloc(sizeof(double) * 4 * (size_t)n);
    if (!px)
        return;
    double *py = px + 2 * n;
    for (int i = 0; i < n; i++) {
        const double l = i ? 0.5 * (x[i - 1] + x[i]) : x[0] - 0.5 * (n > 1 ? x[1] - x[0] : 1);
        const double r = i + 1 < n ? 0.5 * (x[i] + x[i + 1])
                                   : x[i] + 0.5 * (n > 1 ? x[i] - x[i - 1] : 1);
        px[2 * i] = l;
        px[2 * i + 1] = r;
        py[2 * i] = py[2 * i + 1] = y[i];
    }
    dn_plot_curve(2 * n, px, py);
    free(px);
}

/* ---- the threshold scan ---------------------------------------------------- */

static void draw_scan(const void *arg)
{
    const dn_plot_scan_t *s = arg;
    const int n = s->n;
    double *buf = malloc(sizeof(double) * 3 * (size_t)n);
    if (!buf)
        return;
    double *lo = buf, *md = lo + n, *hi = md + n;
    plscol0a(C_X1, BAD_RGB, 0.3);
    plscol0a(C_X2, GOOD_RGB, 0.3);
    plscol0a(C_X3, WBA_RGB, 0.3);
    plscol0a(C_X4, BAD_RGB, 0.85);
    plscol0a(C_X5, GOOD_RGB, 0.85);
    plscol0a(C_X6, WBA_RGB, 0.85);
    plvpor(0.11, 0.97, 0.11, 0.82);
    plwind(s->t[0], s->t[n - 1], 0, 1.01);
    const double *curves[3] = {s->sens, s->spec, s->wba};
    for (int c = 0; c < 3; c++) {
        for (int k = 0; k < n; k++) {
            lo[k] = curves[c][3 * k];
            md[k] = curves[c][3 * k + 1];
            hi[k] = curves[c][3 * k + 2];
        }
        plcol0(C_X1 + c);
        dn_plot_band(n, s->t, lo, hi);
        plcol0(C_X4 + c);
        plwidth(2);
        dn_plot_curve(n, s->t, md);
        plwidth(1);
    }
    dn_plot_line(s->best, 0, s->best, 1.01, 3, 1, C_INK);
    char txt[160];
    snprintf(txt, sizeof txt, "T#dbest#u = %.2f", s->best);
    const double span = s->t[n - 1] - s->t[0];
    const int right = s->best < s->t[0] + 0.7 * span; /* the label beside the line */
    plcol0(C_INK);
    plptex(s->best + (right ? 0.02 : -0.02) * span, 0.22, 1, 0, right ? 0 : 1, txt);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab("threshold on the score log(#gx#u2#d/N#db#u)", "metric value", "");
    plmtex("t", 4.0, 0.5, 0.5, s->title ? s->title : "");
    plcol0(C_X4);
    plmtex("t", 0.7, 0.0, 0.0, "sensitivity");
    plcol0(C_X5);
    plmtex("t", 0.7, 0.2, 0.0, "specificity");
    plcol0(C_X6);
    if (s->ba_weight == 1)
        snprintf(txt, sizeof txt, "balanced accuracy");
    else
        snprintf(txt, sizeof txt, "weighted balanced accuracy (#gb = %g)", s->ba_weight);
    plmtex("t", 0.7, 0.4, 0.0, txt);
    plcol0(C_INK);
    snprintf(txt, sizeof txt, "medians over %d bootstrap resamples, bands %g%% .. %g%%",
             s->n_boot, 50 - s->band_q, 50 + s->band_q);
    plmtex("t", 2.3, 0.5, 0.5, txt);
    free(buf);
}

int dn_plot_threshold_scan(const char *base, const dn_plot_scan_t *s, dn_err_t *err)
{
    if (!base || !s || s->n < 2 || !s->t || !s->sens || !s->spec || !s->wba)
        return dn_err_set(err, DN_EINVAL, "threshold scan figure: fewer than 2 thresholds or "
                          "a missing array");
    for (int k = 0; k < s->n; k++)
        if (!isfinite(s->t[k]) || (k && !(s->t[k] > s->t[k - 1])))
            return dn_err_set(err, DN_EINVAL, "threshold scan figure: threshold %d (%g) not "
                              "finite or not increasing", k, s->t[k]);
    const double *c[3] = {s->sens, s->spec, s->wba};
    static const char *name[3] = {"sensitivity", "specificity", "balanced accuracy"};
    for (int j = 0; j < 3; j++) {
        int any = 0;
        for (int k = 0; k < s->n && !any; k++)
            any = isfinite(c[j][3 * k + 1]);
        if (!any)
            return dn_err_set(err, DN_EINVAL, "threshold scan figure: no finite median of %s",
                              name[j]);
    }
    if (!isfinite(s->best) || s->best < s->t[0] || s->best > s->t[s->n - 1])
        return dn_err_set(err, DN_EINVAL, "threshold scan figure: chosen threshold %g outside "
                          "the grid [%g, %g]", s->best, s->t[0], s->t[s->n - 1]);
    return dn_plot_render(base, 900, 650, draw_scan, s, err);
}

/* ---- score distributions and confusion matrix ----------------------------- */

#define HIST_BINS 50

static int check_scores(const dn_plot_scores_t *s, const char *what, dn_err_t *err)
{
    if (!s || s->n < 2 || !s->score || !s->label)
        return dn_err_set(err, DN_EINVAL, "%s figure: fewer than 2 runs or a missing array",
                          what);
    if (s->n_hist < 1 || s->n_hist >= s->n)
        return dn_err_set(err, DN_EINVAL, "%s figure: %d historical runs of %d (need 1 .. n-1)",
                          what, s->n_hist, s->n);
    if (!isfinite(s->lo) || !isfinite(s->hi) || !(s->lo < s->hi))
        return dn_err_set(err, DN_EINVAL, "%s figure: score axis [%g, %g] empty", what, s->lo,
                          s->hi);
    if (!isfinite(s->threshold))
        return dn_err_set(err, DN_EINVAL, "%s figure: threshold not finite", what);
    if (!any_finite(s->score, s->n))
        return dn_err_set(err, DN_EINVAL, "%s figure: no finite score", what);
    return DN_OK;
}

static void blues(double f, int rgb[3]) /* white to dark blue, f in [0, 1] */
{
    static const int a[3] = {247, 251, 255}, b[3] = {8, 48, 107};
    f = fmin(fmax(f, 0), 1);
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lround(a[c] + f * (b[c] - a[c]));
}

/* The continual confusion matrix in the viewport given: rows true good/bad,
 * columns predicted good/bad, each cell shaded by its count and numbered. */
static void confusion(const dn_plot_scores_t *s, double vx0, double vx1, double vy0,
                      double vy1)
{
    dn_classification_t cl;
    const int nc = s->n - s->n_hist;
    dn_classify(s->score + s->n_hist, s->label + s->n_hist, nc, s->threshold, &cl);
    const int cnt[2][2] = {{cl.tn, cl.fp}, {cl.fn, cl.tp}}; /* [true][predicted] */
    int max = 1;
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < 2; p++)
            max = cnt[t][p] > max ? cnt[t][p] : max;
    plvpor(vx0, vx1, vy0, vy1);
    plwind(0, 2, 0, 2);
    plschr(0, 0.8);
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < 2; p++) {
            int rgb[3];
            const double f = 0.85 * cnt[t][p] / (double)max;
            blues(f, rgb);
            plscol0(C_TMP, rgb[0], rgb[1], rgb[2]);
            plcol0(C_TMP);
            PLFLT x[4] = {p, p + 1, p + 1, p}, y[4] = {1 - t, 1 - t, 2 - t, 2 - t};
            plfill(4, x, y);
            char txt[32];
            snprintf(txt, sizeof txt, "%d", cnt[t][p]);
            if (f > 0.5)
                plscol0(C_TMP, 255, 255, 255);
            else
                plscol0(C_TMP, 0, 0, 0);
            plcol0(C_TMP);
            plptex(p + 0.5, 1.5 - t - 0.1, 1, 0, 0.5, txt);
        }
    plcol0(C_INK);
    plbox("bc", 0, 0, "bc", 0, 0);
    dn_plot_line(1, 0, 1, 2, 1, 0, C_INK);
    dn_plot_line(0, 1, 2, 1, 1, 0, C_INK);
    plmtex("b", 1.0, 0.25, 0.5, "good");
    plmtex("b", 1.0, 0.75, 0.5, "bad");
    plmtex("b", 2.2, 0.5, 0.5, "predicted");
    plmtex("lv", 0.5, 0.75, 1.0, "good");
    plmtex("lv", 0.5, 0.25, 1.0, "bad");
    plmtex("l", 4.6, 0.5, 0.5, "true");
    plmtex("t", 0.5, 0.5, 0.5, "continual regime");
    plschr(0, 1.0);
}

static void draw_results_hist(const void *arg)
{
    const dn_plot_scores_t *s = arg;
    double frac[2][2][HIST_BINS] = {{{0}}}; /* [regime][class][bin] */
    double total[2][2] = {{0}};
    int beyond = 0;
    const double w = (s->hi - s->lo) / HIST_BINS;
    for (int i = 0; i < s->n; i++) {
        const double x = s->score[i];
        const int cls = s->label[i], reg = i >= s->n_hist;
        if (!isfinite(x) || cls < 0 || cls > 1)
            continue;
        if (x < s->lo || x > s->hi) { /* numpy.histogram: the last bin holds hi */
            beyond++;
            continue;
        }
        int b = (int)((x - s->lo) / w);
        b = b >= HIST_BINS ? HIST_BINS - 1 : b;
        frac[reg][cls][b]++;
        total[reg][cls]++;
    }
    double ymax = 0;
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 2; c++)
            for (int b = 0; b < HIST_BINS; b++) {
                if (total[r][c] > 0)
                    frac[r][c][b] /= total[r][c];
                ymax = fmax(ymax, frac[r][c][b]);
            }
    ymax = ymax > 0 ? ymax * 1.75 : 1; /* headroom for the matrix */
    plscol0a(C_X1, GOOD_RGB, 0.45);
    plscol0a(C_X2, BAD_RGB, 0.45);
    plscol0a(C_X3, GOOD_RGB, 0.9);
    plscol0a(C_X4, BAD_RGB, 0.9);
    plvpor(0.11, 0.97, 0.11, 0.76);
    plwind(s->lo, s->hi, 0, ymax);
    double px[2 * HIST_BINS + 2], py[2 * HIST_BINS + 2], edges[HIST_BINS + 1];
    for (int b = 0; b <= HIST_BINS; b++)
        edges[b] = s->lo + w * b;
    for (int c = 0; c < 2; c++) { /* continual: filled */
        steps(HIST_BINS, edges, frac[1][c], px + 1, py + 1);
        px[0] = s->lo;
        px[2 * HIST_BINS + 1] = s->hi;
        py[0] = py[2 * HIST_BINS + 1] = 0;
        plcol0(C_X1 + c);
        plfill(2 * HIST_BINS + 2, px, py);
    }
    for (int c = 0; c < 2; c++) { /* historical: dashed outlines */
        steps(HIST_BINS, edges, frac[0][c], px, py);
        plcol0(C_X3 + c);
        pllsty(2);
        plwidth(2);
        plline(2 * HIST_BINS, px, py);
        pllsty(1);
        plwidth(1);
    }
    dn_plot_line(s->threshold, 0, s->threshold, ymax, 3, 1, C_INK);
    plcol0(C_INK);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab("score log(#gx#u2#d/N#db#u)", "fraction of the class and regime", "");
    plmtex("t", 5.4, 0.5, 0.5, s->title ? s->title : "");
    char txt[160];
    plcol0(C_X3);
    snprintf(txt, sizeof txt, "good runs (%.0f historical, %.0f continual)", total[0][0],
             total[1][0]);
    plmtex("t", 3.8, 0.0, 0.0, txt);
    plcol0(C_X4);
    snprintf(txt, sizeof txt, "bad runs (%.0f historical, %.0f continual)", total[0][1],
             total[1][1]);
    plmtex("t", 2.25, 0.0, 0.0, txt);
    plcol0(C_INK);
    snprintf(txt, sizeof txt, "filled: continual, dashed: historical; threshold %.2f "
             "(black dashes)", s->threshold);
    plmtex("t", 0.7, 0.0, 0.0, txt);
    if (beyond) {
        snprintf(txt, sizeof txt, "%d labelled run%s beyond the axis", beyond,
                 beyond == 1 ? "" : "s");
        plmtex("t", -1.5, 0.02, 0.0, txt);
    }
    confusion(s, 0.74, 0.93, 0.47, 0.69);
}

int dn_plot_results_hist(const char *base, const dn_plot_scores_t *s, dn_err_t *err)
{
    int rc = base ? check_scores(s, "score distributions", err)
                  : dn_err_set(err, DN_EINVAL, "no file name");
    if (rc)
        return rc;
    int any = 0;
    for (int i = s->n_hist; i < s->n && !any; i++)
        any = isfinite(s->score[i]) && (s->label[i] == 0 || s->label[i] == 1);
    if (!any)
        return dn_err_set(err, DN_EINVAL, "score distributions figure: no continual run with "
                          "a label and a finite score");
    return dn_plot_render(base, 900, 600, draw_results_hist, s, err);
}

/* ---- score against run ------------------------------------------------------ */

static double run_x(const dn_plot_scores_t *s, int i)
{
    return s->run ? (double)s->run[i] : i;
}

static void draw_scatter(const void *arg)
{
    const dn_plot_scores_t *s = arg;
    double lo = s->lo, hi = s->hi, x0 = INFINITY, x1 = -INFINITY;
    for (int i = 0; i < s->n; i++) {
        if (isfinite(s->score[i])) {
            lo = fmin(lo, s->score[i]);
            hi = fmax(hi, s->score[i]);
        }
        x0 = fmin(x0, run_x(s, i));
        x1 = fmax(x1, run_x(s, i));
    }
    const double pad = 0.01 * (x1 - x0 > 0 ? x1 - x0 : 1);
    x0 -= pad;
    x1 += pad;
    plvpor(0.075, 0.98, 0.15, 0.84);
    plwind(x0, x1, lo, hi);
    /* the historical regime: up to halfway to the first continual run */
    const double xh = 0.5 * (run_x(s, s->n_hist - 1) + run_x(s, s->n_hist));
    plscol0a(C_X1, 0, 128, 0, 0.1);
    plcol0(C_X1);
    PLFLT rx[4] = {x0, xh, xh, x0}, ry[4] = {lo, lo, hi, hi};
    plfill(4, rx, ry);
    plscol0a(C_X2, 0, 128, 0, 0.7);
    dn_plot_line(xh, lo, xh, hi, 2, 1, C_X2);
    plscol0a(C_X3, GOOD_RGB, 0.5);
    plscol0a(C_X4, BAD_RGB, 0.5);
    plscol0a(C_X5, GOOD_RGB, 1);
    plscol0a(C_X6, BAD_RGB, 1);
    double *px = malloc(sizeof(double) * 2 * (size_t)s->n);
    if (!px)
        return;
    double *py = px + s->n;
    static const int cls[3] = {-1, 0, 1}, col[3] = {C_GREY, C_X3, C_X4};
    for (int c = 0; c < 3; c++) {
        int m = 0;
        for (int i = 0; i < s->n; i++)
            if (isfinite(s->score[i]) && s->label[i] == cls[c]) {
                px[m] = run_x(s, i);
                py[m++] = s->score[i];
            }
        dn_plot_markers(m, px, py, 0, 3, col[c]);
    }
    free(px);
    dn_plot_line(x0, s->threshold, x1, s->threshold, 3, 1, C_INK);
    plcol0(C_INK);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab(s->run ? "run" : "run index", "score", "");
    plmtex("t", 2.4, 0.5, 0.5, s->title ? s->title : "");
    plcol0(C_X5);
    plmtex("t", 0.7, 0.0, 0.0, "good runs");
    plcol0(C_X6);
    plmtex("t", 0.7, 0.11, 0.0, "bad runs");
    plcol0(C_GREY);
    plmtex("t", 0.7, 0.21, 0.0, "unlabelled");
    plscol0a(C_X2, 0, 110, 0, 1);
    plcol0(C_X2);
    plmtex("t", 0.7, 0.32, 0.0, "historical regime (shaded)");
    char txt[64];
    snprintf(txt, sizeof txt, "threshold %.2f (dashed)", s->threshold);
    plcol0(C_INK);
    plmtex("t", 0.7, 1.0, 1.0, txt);
}

int dn_plot_results_scatter(const char *base, const dn_plot_scores_t *s, dn_err_t *err)
{
    int rc = base ? check_scores(s, "score scatter", err)
                  : dn_err_set(err, DN_EINVAL, "no file name");
    return rc ? rc : dn_plot_render(base, 1400, 450, draw_scatter, s, err);
}

/* ---- uncertainty coverage ------------------------------------------------- */

static void unc_panel(const dn_plot_coverage_t *u, int r, double vx0, double vx1, double ymax,
                      int ylabel)
{
    const int nb = u->n_bins;
    const double *b = u->bands[r];
    double *buf = malloc(sizeof(double) * 2 * (size_t)nb);
    if (!buf)
        return;
    double *lo = buf, *hi = lo + nb;
    plvpor(vx0, vx1, 0.12, 0.80);
    plwind(u->centres[0], u->centres[nb - 1], 0, ymax);
    plsyax(6, 0); /* densities ~0.04: plain numbers, no "(x10^-2)" over the legend */
    for (int k = 0; k < 2; k++) { /* true band, then the predicted one */
        const double *med = b + 2 * k * nb, *sg = med + nb;
        for (int j = 0; j < nb; j++) {
            lo[j] = med[j] - sg[j];
            hi[j] = med[j] + sg[j];
        }
        plcol0(k ? C_X2 : C_X1);
        dn_plot_band(nb, u->centres, lo, hi);
        if (k) { /* the true band's edges over the predicted one, or it hides them */
            const double *tm = b, *ts = b + nb;
            for (int j = 0; j < nb; j++) {
                lo[j] = tm[j] - ts[j];
                hi[j] = tm[j] + ts[j];
            }
            plcol0(C_X5);
            dn_plot_curve(nb, u->centres, lo);
            dn_plot_curve(nb, u->centres, hi);
        }
    }
    for (int k = 0; k < 2; k++) {
        plcol0(k ? C_X4 : C_X3);
        plwidth(2);
        dn_plot_curve(nb, u->centres, b + 2 * k * nb);
        plwidth(1);
    }
    plcol0(C_INK);
    plbox("bcnst", 0, 0, ylabel ? "bcnstv" : "bcstv", 0, 0);
    plmtex("b", 3.0, 0.5, 0.5, "z");
    if (ylabel)
        plmtex("l", 5.0, 0.5, 0.5, "density");
    char txt[96];
    snprintf(txt, sizeof txt, "%s regime", r ? "continual" : "historical");
    plmtex("t", -1.6, 0.03, 0.0, txt);
    snprintf(txt, sizeof txt, "D#dJ#u#u%s#d = %.3f", r ? "C" : "H", u->jd[r]);
    plmtex("t", -3.2, 0.03, 0.0, txt);
    plsyax(0, 0);
    free(buf);
}

static void draw_unc(const void *arg)
{
    const dn_plot_coverage_t *u = arg;
    const int both = !u->continual_only && u->bands[0];
    const int nb = u->n_bins;
    double ymax = 0;
    for (int r = both ? 0 : 1; r < 2; r++)
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < nb; j++) {
                double v = u->bands[r][2 * k * nb + j] + u->bands[r][(2 * k + 1) * nb + j];
                if (isfinite(v))
                    ymax = fmax(ymax, v);
            }
    ymax = ymax > 0 ? ymax * 1.15 : 1;
    plscol0a(C_X1, GOOD_RGB, 0.3);
    plscol0a(C_X2, PALEGREEN_RGB, 0.4);
    plscol0a(C_X3, DARKBLUE_RGB, 0.85);
    plscol0a(C_X4, DARKGREEN_RGB, 0.85);
    plscol0a(C_X5, GOOD_RGB, 0.9);
    if (both) {
        unc_panel(u, 0, 0.08, 0.525, ymax, 1);
        unc_panel(u, 1, 0.535, 0.98, ymax, 0);
    } else {
        unc_panel(u, 1, 0.12, 0.97, ymax, 1);
    }
    /* legend and title across the page */
    plvpor(both ? 0.08 : 0.12, both ? 0.98 : 0.97, 0.81, 0.99);
    plwind(0, 1, 0, 1);
    plcol0(C_INK);
    plmtex("t", -1.3, 0.5, 0.5, u->title ? u->title : "");
    plcol0(C_X3);
    plschr(0, 0.85);
    plmtex("b", -2.0, 0.0, 0.0, "good runs (z-score transformed): median, ±1 #gs#dfull#u "
           "band, edged");
    plcol0(C_X4);
    plmtex("b", -0.6, 0.0, 0.0, "the references that scored them: median, ±1 #gs#dmodel#u "
           "band");
    plschr(0, 1.0);
}

int dn_plot_uncertainty(const char *base, const dn_plot_coverage_t *u, dn_err_t *err)
{
    if (!base || !u || u->n_bins < 2 || !u->centres)
        return dn_err_set(err, DN_EINVAL, "uncertainty figure: fewer than 2 points or no "
                          "centres");
    for (int j = 0; j < u->n_bins; j++)
        if (!isfinite(u->centres[j]) || (j && !(u->centres[j] > u->centres[j - 1])))
            return dn_err_set(err, DN_EINVAL, "uncertainty figure: point %d (%g) not finite "
                              "or not increasing", j, u->centres[j]);
    const int both = !u->continual_only && u->bands[0];
    for (int r = both ? 0 : 1; r < 2; r++) {
        const char *reg = r ? "continual" : "historical";
        if (!u->bands[r])
            return dn_err_set(err, DN_EINVAL, "uncertainty figure: no %s bands", reg);
        for (int k = 0; k < 2; k++) {
            const double *med = u->bands[r] + 2 * k * u->n_bins, *sg = med + u->n_bins;
            if (!any_finite(med, u->n_bins))
                return dn_err_set(err, DN_EINVAL, "uncertainty figure: %s %s median has no "
                                  "finite value", reg, k ? "predicted" : "true");
            for (int j = 0; j < u->n_bins; j++)
                if (sg[j] < 0)
                    return dn_err_set(err, DN_EINVAL, "uncertainty figure: %s %s sigma "
                                      "negative at point %d", reg, k ? "predicted" : "true", j);
        }
    }
    return dn_plot_render(base, both ? 1200 : 750, 520, draw_unc, u, err);
}

/* ---- examples ----------------------------------------------------------------- */

int dn_result_pick_examples(const double *score, const int8_t *label, int n, double threshold,
                            int n_max, uint64_t seed, int *pick, int *count, int *n_per_out,
                            dn_err_t *err)
{
    if (!score || !label || !pick || !n_per_out || n < 1 || n_max < 1)
        return dn_err_set(err, DN_EINVAL, "example choice: no runs, n_max %d or a missing "
                          "array", n_max);
    if (!isfinite(threshold))
        return dn_err_set(err, DN_EINVAL, "example choice: threshold not finite");
    int *cat = malloc(sizeof(int) * 3 * (size_t)n), rc = DN_OK;
    if (!cat)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    int *members = cat + n, *scratch = members + n, cnt[DN_EX_N] = {0};
    for (int i = 0; i < n; i++) {
        cat[i] = -1;
        if (!isfinite(score[i]) || (label[i] != 0 && label[i] != 1))
            continue;
        const int called_bad = score[i] > threshold;
        cat[i] = label[i] == 0 ? (called_bad ? DN_EX_MISS_GOOD : DN_EX_GOOD)
                               : (called_bad ? DN_EX_BAD : DN_EX_MISS_BAD);
        cnt[cat[i]]++;
    }
    int per = n_max;
    for (int c = 0; c < DN_EX_N; c++)
        if (cnt[c] > 0 && cnt[c] < per)
            per = cnt[c];
    if (!cnt[0] && !cnt[1] && !cnt[2] && !cnt[3]) {
        rc = dn_err_set(err, DN_EINVAL, "example choice: no run with a label and a score");
        goto fail;
    }
    dn_rng_t rng;
    dn_rng_seed(&rng, seed);
    for (int c = 0; c < DN_EX_N; c++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (cat[i] == c)
                members[m++] = i;
        int *out = pick + (size_t)c * n_max;
        for (int r = 0; r < n_max; r++)
            out[r] = -1;
        if (!m)
            continue;
        dn_rng_choose(&rng, m, per, out, scratch);
        for (int r = 0; r < per; r++)
            out[r] = members[out[r]];
    }
    for (int c = 0; count && c < DN_EX_N; c++)
        count[c] = cnt[c];
    *n_per_out = per;
fail:
    free(cat);
    return rc;
}

static const char *ex_name[DN_EX_N] = {"good", "misclassified good", "bad",
                                       "misclassified bad"};

static void draw_examples(const void *arg)
{
    const dn_plot_examples_t *e = arg;
    const int nb = e->n_bins, rows = e->rows;
    double *buf = malloc(sizeof(double) * 8 * (size_t)nb);
    if (!buf)
        return;
    double *sx = buf, *sy = sx + 2 * nb, *slo = sy + 2 * nb, *shi = slo + 2 * nb;
    plscol0a(C_X1, 128, 128, 128, 0.3);      /* reference band */
    plscol0a(C_X2, 65, 105, 225, 0.3);       /* good-run band (royalblue) */
    plscol0a(C_X3, 139, 0, 0, 0.3);          /* bad-run band (darkred) */
    plscol0a(C_X4, 65, 105, 225, 0.95);
    plscol0a(C_X5, 139, 0, 0, 0.95);
    const double top = 0.93, bottom = 0.02, slot = (top - bottom) / rows;
    const double x0 = e->edges ? e->edges[0] : 0, x1 = e->edges ? e->edges[nb] : nb;
    plvpor(0.0, 1.0, top, 1.0);
    plwind(0, 1, 0, 1);
    plcol0(C_INK);
    plschr(0, 0.7);
    plmtex("t", -1.6, 0.5, 0.5, e->title ? e->title : "");
    plsyax(6, 0); /* fractions ~0.05 as plain numbers: no "(x10^-2)" over the titles */
    for (int r = 0; r < rows; r++) {
        double ymax = 0; /* one scale per row, as the reference's one per figure */
        for (int c = 0; c < DN_EX_N; c++) {
            const int k = r * DN_EX_N + c;
            if (e->run[k] < 0)
                continue;
            for (int j = 0; j < nb; j++) {
                const size_t at = (size_t)k * nb + j;
                ymax = fmax(ymax, finite_or0(e->ref[at]) + finite_or0(e->ref_unc[at]));
                ymax = fmax(ymax, finite_or0(e->data[at]) + finite_or0(e->data_unc[at]));
            }
        }
        ymax = ymax > 0 ? ymax * 1.15 : 1;
        const double ry1 = top - r * slot, ry0 = ry1 - slot;
        for (int c = 0; c < DN_EX_N; c++) {
            const int k = r * DN_EX_N + c, bad = c >= DN_EX_BAD;
            const double vx0 = 0.06 + c * 0.237, vx1 = vx0 + 0.195;
            const double hy0 = ry0 + 0.42 * slot, hy1 = ry1 - 0.16 * slot;
            const double py0 = ry0 + 0.12 * slot;
            if (r == 0) { /* the column's category above its first cell */
                plvpor(vx0, vx1, hy0, hy1);
                plwind(0, 1, 0, 1);
                plcol0(bad ? C_X5 : C_X4);
                plschr(0, 0.7);
                plmtex("t", 2.0, 0.5, 0.5, ex_name[c]);
            }
            if (e->run[k] < 0) {
                if (r == 0) {
                    plcol0(C_GREY);
                    plmtex("t", -3.0, 0.5, 0.5, "no such run");
                }
                continue;
            }
            const double *d = e->data + (size_t)k * nb, *du = e->data_unc + (size_t)k * nb;
            const double *m = e->ref + (size_t)k * nb, *mu = e->ref_unc + (size_t)k * nb;
            const double *p = e->pulls + (size_t)k * nb;
            plschr(0, 0.5);
            plvpor(vx0, vx1, hy0, hy1);
            plwind(x0, x1, 0, ymax);
            for (int s = 0; s < 2; s++) { /* the reference, then the run */
                const double *v = s ? d : m, *u = s ? du : mu;
                for (int j = 0; j < nb; j++) {
                    const double lo = v[j] - (u && isfinite(u[j]) ? u[j] : 0);
                    const double hi = v[j] + (u && isfinite(u[j]) ? u[j] : 0);
                    slo[2 * j] = slo[2 * j + 1] = lo;
                    shi[2 * j] = shi[2 * j + 1] = hi;
                }
                steps(nb, e->edges, v, sx, sy);
                plcol0(s ? (bad ? C_X3 : C_X2) : C_X1);
                dn_plot_band(2 * nb, sx, slo, shi);
                plcol0(s ? (bad ? C_X5 : C_X4) : C_INK);
                plwidth(1.5);
                dn_plot_curve(2 * nb, sx, sy);
                plwidth(1);
            }
            plcol0(C_INK);
            plbox("bcst", 0, 0, "bcnstv", 0, 0);
            char txt[96];
            snprintf(txt, sizeof txt, "run %lld, score %.2f", (long long)e->run[k], e->score[k]);
            plmtex("t", 0.5, 0.5, 0.5, txt);
            if (c == 0)
                plmtex("l", 4.5, 0.5, 0.5, "fraction");
            plvpor(vx0, vx1, py0, hy0);
            plwind(x0, x1, -14, 14);
            dn_plot_line(x0, 0, x1, 0, 1, 1, C_GREY);
            for (int j = 0; j < nb; j++) { /* steps through the bin centres */
                sx[j] = e->edges ? 0.5 * (e->edges[j] + e->edges[j + 1]) : j + 0.5;
                sy[j] = isfinite(p[j]) ? fmax(-14, fmin(14, p[j])) : NAN;
            }
            plcol0(C_INK);
            curve_steps_mid(nb, sx, sy);
            plbox("bcnst", 0, 0, "bcnstv", 10, 2);
            if (c == 0)
                plmtex("l", 4.5, 0.5, 0.5, "pull");
            if (r == rows - 1)
                plmtex("b", 2.6, 0.5, 0.5, e->edges ? "x" : "bin");
            plschr(0, 1.0);
        }
    }
    plsyax(0, 0);
    free(buf);
}

int dn_plot_examples(const char *base, const dn_plot_examples_t *e, dn_err_t *err)
{
    if (!base || !e || e->rows < 1 || e->rows > 10 || e->n_bins < 1 || !e->run || !e->score ||
        !e->data || !e->data_unc || !e->ref || !e->ref_unc || !e->pulls)
        return dn_err_set(err, DN_EINVAL, "examples figure: rows not in 1 .. 10, no bins or "
                          "a missing array");
    const int nb = e->n_bins;
    for (int j = 0; e->edges && j < nb; j++)
        if (!isfinite(e->edges[j]) || !isfinite(e->edges[j + 1]) ||
            !(e->edges[j] < e->edges[j + 1]))
            return dn_err_set(err, DN_EINVAL, "examples figure: edges not increasing at %d", j);
    int filled = 0;
    for (int k = 0; k < e->rows * DN_EX_N; k++) {
        if (e->run[k] < 0)
            continue;
        filled++;
        const size_t at = (size_t)k * nb;
        if (!any_finite(e->data + at, nb) || !any_finite(e->ref + at, nb) ||
            !isfinite(e->score[k]))
            return dn_err_set(err, DN_EINVAL, "examples figure: run %lld (cell %d) has no "
                              "finite value or score", (long long)e->run[k], k);
    }
    if (!filled)
        return dn_err_set(err, DN_EINVAL, "examples figure: no cell holds a run");
    return dn_plot_render(base, 1800, 120 + 330 * e->rows, draw_examples, e, err);
}
