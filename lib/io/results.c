/* results.c: writers of result files shared by the offline tool and the
 * services (see results.h). Number formats are part of the files' contract:
 * the evaluation's metrics in the shortest round-trip form, its seconds with
 * three decimals, scores and pulls with %.17g. */
#include "results.h"

#include <math.h>

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
