/* tune.h: DINAMO-S's alpha tuned for the weighted balanced accuracy, the
 * reference's metric_mode "wba" (hyperopt_dinamo_s.py), beside the ROC AUC
 * tuning of dn_s_tune_alpha (its "auc").
 *
 * The reference searches alpha with optuna's TPE sampler; we search the same
 * deterministic grid as dn_s_tune_alpha (0.00 .. 0.99, then the 0.001 grid
 * within +-0.01 of the best), so a tuning is reproducible and costs a known
 * number of passes. Its objective, for one alpha: score the historical runs
 * from a fresh reference; thresholds numpy.linspace(min score, max score, 200);
 * n_boot bootstrap resamples of the runs; at each threshold the median over
 * resamples of (sens + beta spec) / (1 + beta); the objective is the largest
 * of those medians. The reference's own wba path calls its bootstrap without a
 * seed and never hands beta over from dinamo_s_processing, so as published it
 * cannot run; this implements its evident intent with the seed and beta of
 * the threshold tuning (the same resamples for every alpha).
 *
 * Thread rules: no global state; each call allocates and frees its own
 * memory. */
#ifndef DN_TUNE_H
#define DN_TUNE_H

#include <stdint.h>

#include "error.h"

/* Thresholds of the wba objective (the reference's 200). */
#define DN_TUNE_WBA_GRID 200

/* The wba objective of score[n] against label[n] (runs with label < 0 or a
 * NaN score skipped, also for the grid's ends): the largest, over the grid
 * of DN_TUNE_WBA_GRID thresholds from the smallest to the largest score of
 * those runs, median weighted balanced accuracy over n_boot resamples seeded
 * with seed (dn_threshold_scan). *wba_out gets it; *t_out (nullable) the first
 * threshold reaching it. Returns 0; DN_EINVAL (no scored run with a label,
 * n_boot < 1, ba_weight negative or not finite); DN_ENOMEM. */
int dn_tune_wba_objective(const double *score, const int8_t *label, int n, int n_boot,
                          uint64_t seed, double ba_weight, double *wba_out, double *t_out,
                          dn_err_t *err);

/* Alpha tuning by the wba objective over the first n_hist runs: counts
 * [n_hist*n_bins] row-major, variances the same or NULL (Poisson), labels
 * [n_hist]; runs below min_entries entries (or empty) are insufficient
 * statistics, left out as by dn_s_tune_alpha. With n_resamples > 0 the runs
 * are scored with statistical debiasing (dinamo_s.h dn_s_set_debiasing), the
 * generator started afresh from debias_seed for every alpha, as
 * dn_s_tune_alpha_debiased does. The first maximum (smallest alpha) wins; an
 * alpha whose objective is NaN never does. *alpha_out and *wba_out (each
 * nullable) get the choice and its objective. Returns 0; DN_EINVAL (n_hist or
 * n_bins < 1, no good or no bad scored run, bad n_boot, ba_weight or
 * n_resamples; err says which); DN_ERANGE (invalid counts, err names the run
 * and bin); DN_ENOMEM. */
int dn_tune_alpha_wba(const double *counts, const double *variances, const int8_t *labels,
                      int n_hist, int n_bins, double min_entries, int n_resamples,
                      uint64_t debias_seed, int n_boot, uint64_t seed, double ba_weight,
                      double *alpha_out, double *wba_out, dn_err_t *err);

/* DINAMO-S's alpha tuned on ds's first n_hist runs as opts says: by ROC AUC
 * (dn_s_tune_alpha_debiased) or, with opts->alpha_metric DN_ALPHA_WBA, by
 * dn_tune_alpha_wba with opts->n_boot, opts->boot_seed and opts->ba_weight;
 * scored with the debiasing db (NULL: none; evaluate.h dn_eval_debias); runs
 * below opts->min_entries left out. *objective_out (nullable) gets the AUC or
 * the median weighted balanced accuracy reached. Returns as those. */
struct dn_dataset_t;
struct dn_eval_opts_t;
struct dn_debias_t;
int dn_tune_alpha(const struct dn_dataset_t *ds, int n_hist, const struct dn_eval_opts_t *opts,
                  const struct dn_debias_t *db, double *alpha_out, double *objective_out,
                  dn_err_t *err);

#endif
