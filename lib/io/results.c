/* results.c: writers of result files shared by the offline tool and the
 * services (see results.h). Number formats are part of the files' contract:
 * the evaluation's metrics in the shortest round-trip form, its seconds with
 * three decimals, scores and pulls with %.17g. */
#include "results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const metric_name[DN_METRIC_COLUMNS] = {
    "balanced_accuracy_historical", "accuracy_historical", "specificity_historical",
    "sensitivity_historical", "precision_historical", "jaccard_distance_historical",
    "nsteps_to_adapt_historical", "adaptivity_index_historical",
    "balanced_accuracy_continual", "accuracy_continual", "specificity_continual",
    "sensitivity_continual", "precision_continual", "jaccard_distance_continual",
    "nsteps_to_adapt_continual", "adaptivity_index_continual",
    "balanced_accuracy_historical_lo", "balanced_accuracy_historical_hi",
    "accuracy_historical_lo", "accuracy_historical_hi",
    "specificity_historical_lo", "specificity_historical_hi",
    "sensitivity_historical_lo", "sensitivity_historical_hi",
    "precision_historical_lo", "precision_historical_hi",
    "balanced_accuracy_continual_lo", "balanced_accuracy_continual_hi",
    "accuracy_continual_lo", "accuracy_continual_hi",
    "specificity_continual_lo", "specificity_continual_hi",
    "sensitivity_continual_lo", "sensitivity_continual_hi",
    "precision_continual_lo", "precision_continual_hi",
};

/* The five rates in the columns' order. */
static const int rate_of[5] = {DN_RATE_BALANCED_ACCURACY, DN_RATE_ACCURACY, DN_RATE_SPECIFICITY,
                               DN_RATE_SENSITIVITY, DN_RATE_PRECISION};

const char *dn_metric_column_name(int k)
{
    return k >= 0 && k < DN_METRIC_COLUMNS ? metric_name[k] : NULL;
}

void dn_metric_column_values(const dn_eval_result_t *r, double out[DN_METRIC_COLUMNS])
{
    const dn_regime_metrics_t *reg[2] = {&r->historical, &r->continual};
    for (int g = 0; g < 2; g++) {
        double *o = out + 8 * g, *b = out + DN_METRIC_MAIN + 10 * g;
        for (int x = 0; x < 5; x++) {
            o[x] = reg[g]->rate[rate_of[x]];
            b[2 * x] = reg[g]->rate_lo[rate_of[x]];
            b[2 * x + 1] = reg[g]->rate_hi[rate_of[x]];
        }
        o[5] = reg[g]->jaccard_distance;
        o[6] = reg[g]->nsteps_to_adapt;
        o[7] = reg[g]->adaptivity_index;
    }
}

/* Regime g's members: its eight metrics, its rates' bootstrap percentiles
 * (the column table's order), the confusion counts and the change points. */
static void regime_json(dn_jw_t *w, const dn_eval_result_t *r, int g)
{
    static const char *const regime[2] = {"historical", "continual"};
    const dn_regime_metrics_t *m = g ? &r->continual : &r->historical;
    double v[DN_METRIC_COLUMNS];
    dn_metric_column_values(r, v);
    for (int k = 8 * g; k < 8 * g + 8; k++) {
        dn_jw_key(w, metric_name[k]);
        dn_jw_number(w, v[k]);
    }
    for (int k = DN_METRIC_MAIN + 10 * g; k < DN_METRIC_MAIN + 10 * g + 10; k++) {
        dn_jw_key(w, metric_name[k]);
        dn_jw_number(w, v[k]);
    }
    char key[64];
    const char *names[] = {"tp", "fn", "tn", "fp", "n_runs", "n_change_points"};
    const int values[] = {m->tp, m->fn, m->tn, m->fp, m->n_runs, m->n_change_points};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(key, sizeof key, "%s_%s", names[i], regime[g]);
        dn_jw_key(w, key);
        dn_jw_int(w, values[i]);
    }
}

int dn_metrics_csv_header(dn_csv_t *w)
{
    char cols[1024];
    size_t at = 0;
    for (int k = 0; k < DN_METRIC_MAIN; k++)
        at += (size_t)snprintf(cols + at, sizeof cols - at, "%s%s", k ? "," : "",
                               metric_name[k]);
    return dn_csv_header(w, cols);
}

int dn_metrics_csv_row(dn_csv_t *w, const dn_eval_result_t *r)
{
    double v[DN_METRIC_COLUMNS];
    dn_metric_column_values(r, v);
    for (int k = 0; k < DN_METRIC_MAIN; k++)
        dn_csv_double(w, v[k]); /* NaN: empty, as pandas */
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
    regime_json(w, r, 0);
    regime_json(w, r, 1);
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
