/* results.c: writers of result files shared by the offline tool and the
 * services (see results.h). Number formats are part of the files' contract:
 * the evaluation's metrics in the shortest round-trip form, its seconds with
 * three decimals, scores and pulls with %.17g. */
#include "results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* The reference's names of one regime's metrics (results_validation.py's
 * metrics_<seed>.csv, in its column order) and where each lives in
 * dn_regime_metrics_t: a rate (DN_RATE_*) or one of the three others. */
enum { M_JACCARD = -1, M_NSTEPS = -2, M_INDEX = -3 };
static const struct {
    const char *name;
    int rate;
} regime_cols[] = {
    {"balanced_accuracy", DN_RATE_BALANCED_ACCURACY}, {"accuracy", DN_RATE_ACCURACY},
    {"specificity", DN_RATE_SPECIFICITY},              {"sensitivity", DN_RATE_SENSITIVITY},
    {"precision", DN_RATE_PRECISION},                  {"jaccard_distance", M_JACCARD},
    {"nsteps_to_adapt", M_NSTEPS},                     {"adaptivity_index", M_INDEX},
};
#define N_REGIME_COLS (sizeof regime_cols / sizeof *regime_cols)

static double regime_value(const dn_regime_metrics_t *m, int col)
{
    int r = regime_cols[col].rate;
    return r >= 0 ? m->rate[r] : r == M_JACCARD ? m->jaccard_distance
                               : r == M_NSTEPS ? m->nsteps_to_adapt
                                               : m->adaptivity_index;
}

/* One regime's members: <metric>_<regime> for the eight metrics, the five
 * rates' bootstrap percentiles as <rate>_<regime>_lo/_hi, the confusion
 * counts and the change points. */
static void regime_json(dn_jw_t *w, const dn_regime_metrics_t *m, const char *regime)
{
    char key[64];
    for (size_t c = 0; c < N_REGIME_COLS; c++) {
        snprintf(key, sizeof key, "%s_%s", regime_cols[c].name, regime);
        dn_jw_key(w, key);
        dn_jw_number(w, regime_value(m, (int)c));
    }
    for (size_t c = 0; c < N_REGIME_COLS; c++) {
        int r = regime_cols[c].rate;
        if (r < 0)
            continue;
        snprintf(key, sizeof key, "%s_%s_lo", regime_cols[c].name, regime);
        dn_jw_key(w, key);
        dn_jw_number(w, m->rate_lo[r]);
        snprintf(key, sizeof key, "%s_%s_hi", regime_cols[c].name, regime);
        dn_jw_key(w, key);
        dn_jw_number(w, m->rate_hi[r]);
    }
    const char *names[] = {"tp", "fn", "tn", "fp", "n_runs", "n_change_points"};
    const int values[] = {m->tp, m->fn, m->tn, m->fp, m->n_runs, m->n_change_points};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(key, sizeof key, "%s_%s", names[i], regime);
        dn_jw_key(w, key);
        dn_jw_int(w, values[i]);
    }
}

int dn_metrics_csv_header(dn_csv_t *w)
{
    char cols[1024];
    size_t at = 0;
    static const char *const regimes[] = {"historical", "continual"};
    for (int g = 0; g < 2; g++)
        for (size_t c = 0; c < N_REGIME_COLS; c++)
            at += (size_t)snprintf(cols + at, sizeof cols - at, "%s%s_%s", at ? "," : "",
                                   regime_cols[c].name, regimes[g]);
    return dn_csv_header(w, cols);
}

int dn_metrics_csv_row(dn_csv_t *w, const dn_eval_result_t *r)
{
    const dn_regime_metrics_t *m[2] = {&r->historical, &r->continual};
    for (int g = 0; g < 2; g++)
        for (size_t c = 0; c < N_REGIME_COLS; c++)
            dn_csv_double(w, regime_value(m[g], (int)c)); /* NaN: empty, as pandas */
    return dn_csv_end_row(w);
}

int dn_eval_result_json(dn_jw_t *w, const dn_eval_result_t *r)
{
    static const char *const names[] = {"alpha", "threshold", "balanced_accuracy",
                                        "sensitivity", "specificity", "adaptation_time",
                                        "jaccard_distance", "auc_historical"};
    const double values[] = {r->alpha, r->threshold, r->balanced_accuracy, r->sensitivity,
                             r->specificity, r->adaptation_time, r->jaccard_distance,
                             r->auc_historical};
    dn_jw_object(w);
    dn_jw_key(w, "method");
    dn_jw_string(w, r->method == DN_METHOD_S ? "s" : "ml");
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        dn_jw_key(w, names[i]);
        dn_jw_number(w, values[i]);
    }
    dn_jw_key(w, "n_runs");
    dn_jw_int(w, r->n_runs);
    dn_jw_key(w, "n_historical");
    dn_jw_int(w, r->n_hist);
    dn_jw_key(w, "n_change_points");
    dn_jw_int(w, r->n_change_points);
    dn_jw_key(w, "n_empty");
    dn_jw_int(w, r->n_empty);
    if (r->n_horizons > 1) {
        /* which horizons, each one's threshold (null: could not tune) and how
         * many continual runs it flagged with the largest margin */
        char list[256], name[DN_HZ_NAME_MAX];
        if (dn_hz_spec_format(&r->horizons, list, sizeof list) == 0) {
            dn_jw_key(w, "horizons");
            dn_jw_string(w, list);
        }
        dn_jw_key(w, "horizon_thresholds");
        dn_jw_object(w);
        for (int h = 0; h < r->n_horizons; h++) {
            dn_jw_key(w, dn_hz_name(&r->horizons, h, name, sizeof name));
            dn_jw_number(w, r->hz_threshold[h]);
        }
        dn_jw_end(w);
        dn_jw_key(w, "horizon_flagged");
        dn_jw_object(w);
        for (int h = 0; h < r->n_horizons; h++) {
            dn_jw_key(w, dn_hz_name(&r->horizons, h, name, sizeof name));
            dn_jw_int(w, r->hz_fired[h]);
        }
        dn_jw_end(w);
    }
    if (r->n_slow_bad > 0) {
        dn_jw_key(w, "slow_sensitivity");
        dn_jw_number(w, r->slow_sensitivity);
        dn_jw_key(w, "n_slow_bad");
        dn_jw_int(w, r->n_slow_bad);
        dn_jw_key(w, "slow_warned");
        dn_jw_number(w, r->slow_warned);
        dn_jw_key(w, "nominal_specificity");
        dn_jw_number(w, r->nominal_specificity);
    }
    /* both regimes as the reference reports them (issue 22) */
    regime_json(w, &r->historical, "historical");
    regime_json(w, &r->continual, "continual");
    dn_jw_key(w, "seconds");
    dn_jw_fixed(w, r->seconds, 3);
    return dn_jw_end(w);
}

void dn_eval_result_write_json(const dn_eval_result_t *r, FILE *f)
{
    dn_jw_t w;
    dn_jw_init(&w, f);
    dn_eval_result_json(&w, r);
    dn_jw_finish(&w);
}

int dn_scores_csv_header(dn_csv_t *w)
{
    return dn_csv_header(w, DN_SCORES_CSV_COLUMNS);
}

int dn_scores_csv_header_hz(dn_csv_t *w, const dn_hz_spec_t *spec)
{
    if (!spec || spec->n <= 1)
        return dn_scores_csv_header(w);
    char *cols = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&cols, &len);
    if (!f)
        return DN_ENOMEM;
    fputs(DN_SCORES_CSV_COLUMNS, f);
    for (int h = 1; h < spec->n; h++) {
        char name[DN_HZ_NAME_MAX];
        dn_hz_name(spec, h, name, sizeof name);
        fprintf(f, ",chi2_%s,score_%s", name, name);
    }
    if (fclose(f) != 0) {
        free(cols);
        return DN_ENOMEM;
    }
    int rc = dn_csv_header(w, cols);
    free(cols);
    return rc;
}

int dn_scores_csv_row(dn_csv_t *w, const dn_score_row_t *row)
{
    dn_csv_int(w, row->run);
    if (row->label >= 0)
        dn_csv_int(w, row->label);
    else
        dn_csv_empty(w);
    const char *status = row->status == DN_ROW_MISSING    ? "missing"
                         : row->status == DN_ROW_REJECTED ? "rejected"
                         : isnan(row->chi2)               ? "insufficient_statistics"
                                                          : NULL;
    if (status) {
        dn_csv_empty(w);
        dn_csv_empty(w);
        dn_csv_field(w, status);
    } else {
        dn_csv_double(w, row->chi2);
        dn_csv_double(w, row->score);
        dn_csv_field(w, "ok");
    }
    for (int h = 0; h < row->n_lagged; h++) {
        double c = row->lagged_chi2[h];
        if (status || isnan(c)) { /* unavailable: the horizon has no reference yet */
            dn_csv_empty(w);
            dn_csv_empty(w);
        } else {
            dn_csv_double(w, c);
            dn_csv_double(w, row->lagged_score[h]);
        }
    }
    return dn_csv_end_row(w);
}

int dn_pulls_csv_header(dn_csv_t *w, int n_bins)
{
    static const char *const prefix[3] = {"pull_b", "ref_b", "ref_unc_b"};
    dn_csv_field(w, "run");
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < n_bins; j++) {
            char name[32];
            snprintf(name, sizeof name, "%s%d", prefix[k], j);
            dn_csv_field(w, name);
        }
    return dn_csv_end_row(w);
}

int dn_pulls_csv_row(dn_csv_t *w, int64_t run, const double *pulls, const double *ref_mu,
                     const double *ref_sigma, int n_bins)
{
    const double *rows[3] = {pulls, ref_mu, ref_sigma};
    dn_csv_int(w, run);
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < n_bins; j++)
            dn_csv_double(w, rows[k][j]);
    return dn_csv_end_row(w);
}
