/* results.c: writers of result files shared by the offline tool and the
 * services (see results.h). Number formats are part of the files' contract:
 * the evaluation's metrics in the shortest round-trip form, its seconds with
 * three decimals, scores and pulls with %.17g. */
#include "results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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
