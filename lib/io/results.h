/* results.h: the files dinamo writes about its results, written the same way
 * by the offline `dinamo` command and by the services, so that a pipeline's
 * report and the offline tool's output compare byte for byte:
 *   - an evaluation (dn_eval_result_t) as one JSON object: `dinamo evaluate`,
 *     `dinamo report`'s metrics.json, and each (key, method) of the
 *     evaluator's metrics.json;
 *   - scores CSV, `run,label,chi2,score,status`: `dinamo score` and the
 *     evaluator's scores_<method>[_<key>].csv;
 *   - pulls CSV, `run,pull_b0..,ref_b0..,ref_unc_b0..`: `dinamo score --pulls`.
 * Everything goes through writer.h's cursors.
 *
 * Thread rules: none (each call writes to the cursor or stream it is given). */
#ifndef DN_RESULTS_H
#define DN_RESULTS_H

#include <stdint.h>
#include <stdio.h>

#include "evaluate.h"
#include "writer.h"

/* Writes *r as the next value of w: one object with the keys `dinamo
 * evaluate` prints (README "Outputs"); undefined values are null. Returns
 * w's sticky error or 0. */
int dn_eval_result_json(dn_jw_t *w, const dn_eval_result_t *r);

/* Writes *r as a document of its own to f (one line, trailing newline). */
void dn_eval_result_write_json(const dn_eval_result_t *r, FILE *f);

/* ---- the metric columns -------------------------------------------------------- */

/* The metrics of an evaluation by the reference's names, one table for every
 * file that carries them (the JSON above, metrics_<seed>.csv, `dinamo bench`'s
 * metrics_<method>.csv, `dinamo report --bench`): for R in historical,
 * continual: balanced_accuracy_R, accuracy_R, specificity_R, sensitivity_R,
 * precision_R, jaccard_distance_R, nsteps_to_adapt_R, adaptivity_index_R (the
 * first DN_METRIC_MAIN); then for R in historical, continual and X the five
 * rates in that order: X_R_lo, X_R_hi (bootstrap 2.5% and 97.5%). */
enum { DN_METRIC_MAIN = 16, DN_METRIC_COLUMNS = 36 };

/* Column k's name; NULL out of range. */
const char *dn_metric_column_name(int k);

/* The DN_METRIC_COLUMNS values of r in column order (NAN where r has none). */
void dn_metric_column_values(const dn_eval_result_t *r, double out[DN_METRIC_COLUMNS]);

/* The reference's metrics_<seed>.csv (results_validation.py): the header of
 * its 16 columns, balanced_accuracy, accuracy, specificity, sensitivity,
 * precision, jaccard_distance, nsteps_to_adapt, adaptivity_index, each
 * _historical then each _continual; and *r's row (undefined values empty,
 * as pandas writes NaN). Return w's sticky error or 0. */
int dn_metrics_csv_header(dn_csv_t *w);
int dn_metrics_csv_row(dn_csv_t *w, const dn_eval_result_t *r);

/* ---- scores CSV --------------------------------------------------------------- */

/* What a row of a scores CSV says about a run (the status column). */
typedef enum dn_score_row_status_t {
    DN_ROW_SCORED = 0, /* "ok", or "insufficient_statistics" when chi2 is NAN */
    DN_ROW_MISSING,    /* the run arrived, its score did not: "missing" */
    DN_ROW_REJECTED,   /* the scorer refused the run: "rejected" */
} dn_score_row_status_t;

typedef struct dn_score_row_t {
    int64_t run;
    int label;         /* 0 good, 1 bad, < 0 not labelled (empty) */
    double chi2;       /* NAN: insufficient statistics */
    double score;      /* log(chi2 / n_bins) */
    dn_score_row_status_t status;
    /* DINAMO-S at several horizons: the lagged horizons' chi2 and score
     * ([n_lagged] each; NAN: the horizon had no reference yet), written after
     * status as chi2_<name>,score_<name> (dn_scores_csv_header_hz). */
    int n_lagged;
    const double *lagged_chi2, *lagged_score;
} dn_score_row_t;

/* The header row, as dn_csv_header takes it. */
#define DN_SCORES_CSV_COLUMNS "run,label,chi2,score,status"

/* Writes the header row. Returns w's sticky error or 0. */
int dn_scores_csv_header(dn_csv_t *w);

/* The header with the lagged horizons' columns of spec (horizon.h), in its
 * order: chi2_500r,score_500r,...; spec NULL or one horizon: the plain one.
 * Returns w's sticky error, or DN_ENOMEM. */
int dn_scores_csv_header_hz(dn_csv_t *w, const dn_hz_spec_t *spec);

/* One run: run, label, then chi2 and score with %.17g and "ok", or three
 * empty fields and the status word. Returns w's sticky error or 0. */
int dn_scores_csv_row(dn_csv_t *w, const dn_score_row_t *row);

/* ---- pulls CSV ---------------------------------------------------------------- */

/* The header row for n_bins bins: run, pull_b0 .. pull_b<n-1>, ref_b0 ..,
 * ref_unc_b0 ... Returns w's sticky error or 0. */
int dn_pulls_csv_header(dn_csv_t *w, int n_bins);

/* One run: its pulls, the reference and its uncertainty that scored it (each
 * [n_bins]; NAN, as for a run not scored, is an empty field). Returns w's
 * sticky error or 0. */
int dn_pulls_csv_row(dn_csv_t *w, int64_t run, const double *pulls, const double *ref_mu,
                     const double *ref_sigma, int n_bins);

#endif
