/* dinamo_s.h: DINAMO-S, the EWMA reference tracker of one histogram (SPEC 2).
 *
 * A tracker holds the current reference of one monitored histogram: per-bin mean
 * mu and uncertainty sigma_mu, and the exponentially weighted sums W, S_mu, S_sig
 * they come from. Each run is scored against the reference (chi2, pulls, score
 * log(chi2/n_bins)); runs labelled good then update it with weights
 * w = 1/(sx2 + DN_EPS) and forgetting factor alpha:
 *   W = alpha W + (1-alpha) w,  S_sig = alpha S_sig + (1-alpha) w (xt - mu)^2,
 *   S_mu = alpha S_mu + (1-alpha) w xt,  mu = S_mu/W,  sigma_mu = sqrt(S_sig/W).
 * Bad runs, unknown-label runs, empty runs (sum <= DN_EPS) and invalid runs never
 * update. The reference reported with a run is always the one that scored it.
 * The reference's integral I_mu follows the same EWMA on good updates,
 * I_mu = alpha I_mu + (1-alpha) sum(x), from 100 n_bins; only statistical
 * debiasing (dn_s_set_debiasing) reads it.
 *
 * Numbers agree with the Python reference (numpy) to ~1e-12 relative; sums are
 * numpy's pairwise sums; variances are kept squared so that the hot path needs
 * no square root: sigma_mu = sqrt(sigma_mu^2) is taken only when it is asked for
 * (dn_s_sigma, ref_sigma outputs, dn_s_save).
 *
 * Ownership: dn_s_new/dn_s_load return a tracker the caller owns and frees with
 * dn_s_destroy. Pointers from dn_s_mu/dn_s_sigma are owned by the tracker, valid
 * until it is destroyed, and change on every update.
 *
 * Statistical debiasing (off by default; dn_s_set_debiasing): chi2 and pulls are
 * averages over n_resamples Gaussian resamplings, as the Python reference's
 * stat_debiasing. When I_mu >= sum(x) the reference is resampled,
 * mu' ~ N(mu, sigma_mu^2 + sx2), against denominators 2 sx2 + sigma_mu^2; else
 * the run, x' ~ N(xt, sigma_mu^2 + sp_mu^2), against sx2 + sigma_mu^2 + sp_mu^2,
 * where sp_mu^2 = mu/I_mu - mu^2/I_mu (1/I_mu^2 where mu == 0) is the
 * reference's own Poisson variance. Per bin the mean and mean square of the
 * n_resamples normal draws are drawn from their exact joint law (a normal and
 * a chi2(n_resamples - 1)), so the cost per bin does not grow with
 * n_resamples while the averages have the reference's distribution. The draws
 * come from the tracker's seeded generator (rng.h); its state is part of the
 * tracker's state (copied, saved, loaded), so a restored tracker continues the
 * same stream. Only scoring is debiased: updates are the plain EWMA above.
 * Since Monte-Carlo draws differ from numpy's, numbers agree with the
 * reference's statistically, not bit for bit.
 *
 * Thread rules: a tracker is not synchronised. Functions taking a const tracker
 * (accessors, dn_s_score, dn_s_state_size, dn_s_save) may run concurrently with
 * each other, except dn_s_sigma, which refreshes a cached array after updates and
 * so needs exclusive access like anything that updates, and dn_s_score with
 * debiasing on, which advances the generator. Distinct trackers are
 * independent. Output arrays must not overlap the inputs. */
#ifndef DN_DINAMO_S_H
#define DN_DINAMO_S_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct dn_s_t dn_s_t;

/* New tracker for histograms of n_bins bins with EWMA factor alpha, holding the
 * initial reference of SPEC 2: mu0 = 1/n_bins, sigma_mu0 from I_mu0 = 100 n_bins.
 * Returns NULL if n_bins < 1, alpha is not in [0, 1) (NaN included), or memory
 * runs out. */
dn_s_t *dn_s_new(int n_bins, double alpha);

/* Frees *self_p; accepts NULL and *self_p == NULL; sets *self_p to NULL. */
void dn_s_destroy(dn_s_t **self_p);

/* Largest n_resamples dn_s_set_debiasing accepts (a million draws per bin and
 * run is already minutes per dataset). */
#define DN_S_MAX_RESAMPLES 1000000

/* Turns statistical debiasing on with n_resamples (1..DN_S_MAX_RESAMPLES) draws
 * per bin and run from a generator seeded with seed (restarting its stream), or
 * off with n_resamples 0 (the plain chi2, bit for bit). Returns 0, or
 * DN_EINVAL for another n_resamples (err says which; nothing changed). */
int dn_s_set_debiasing(dn_s_t *self, int n_resamples, uint64_t seed, dn_err_t *err);

/* n_resamples of debiasing (0: off), and the reference's integral I_mu. */
int dn_s_n_resamples(const dn_s_t *self);
double dn_s_integral(const dn_s_t *self);

/* The debiasing seed of the tracker of histogram `key` (NULL: the dataset's only
 * histogram, seed itself): `dinamo score --key K` and the scorer_s service derive
 * each key's stream this way, so both draw the same numbers for K. */
uint64_t dn_s_debias_seed(uint64_t seed, const char *key);

/* Number of bins, and the EWMA factor alpha. */
int dn_s_n_bins(const dn_s_t *self);
double dn_s_alpha(const dn_s_t *self);

/* Makes dst the same tracker as src (state, alpha, update count, integral,
 * debiasing setting and generator state; not min_entries, a policy): scoring
 * with dst then gives exactly what scoring with src gives now. Returns 0, or
 * DN_EMISMATCH when the bin counts differ. Neither allocates nor fails
 * otherwise (for frozen snapshots, horizon.h). */
int dn_s_copy(dn_s_t *dst, const dn_s_t *src);

/* Moves the reference by dmu[n_bins] and its variance sigma_mu^2 by
 * dsig2[n_bins] (or not, when NULL; clamped at 0), keeping the EWMA sums
 * consistent with them (S_sig = sigma_mu^2 W), so that a checkpoint keeps
 * the moved reference. For a frozen snapshot, which scores but never learns
 * (horizon.h moves its snapshots by the changes a shifter accepted); the
 * move counts as an update (n_updates + 1), as the state is no longer the
 * initial reference. */
void dn_s_shift(dn_s_t *self, const double *dmu, const double *dsig2); /* I_mu kept */

/* sigma_mu^2 [n_bins] of the reference (owned by self, valid until the next
 * update or shift). */
const double *dn_s_sig2(const dn_s_t *self);

/* Runs with fewer than min_entries entries are insufficient statistics
 * (DN_EEMPTY: no score, no update), as empty ones always are. A policy
 * setting, not state: checkpoints do not carry it. Default 0. */
void dn_s_set_min_entries(dn_s_t *self, double min_entries);

/* Number of updates applied since dn_s_new (kept across save/load). */
uint64_t dn_s_n_updates(const dn_s_t *self);

/* The current reference mu[n_bins] and its uncertainty sigma_mu[n_bins]; owned
 * by self (see ownership above). dn_s_sigma first refreshes the array if an
 * update made it stale (not thread-safe, see above). */
const double *dn_s_mu(const dn_s_t *self);
const double *dn_s_sigma(const dn_s_t *self);

/* Scores counts x[n_bins] (var: per-bin count variances, or NULL for the Poisson
 * rule; see dn_hist_normalise) against the current reference without updating.
 * Outputs (each may be NULL): *chi2; pulls[n_bins]; ref_mu[n_bins] and
 * ref_sigma[n_bins] receive the reference that scored the run.
 * Returns 0; DN_EEMPTY when sum x <= DN_EPS (insufficient statistics: *chi2 and
 * every output are NAN); DN_ERANGE when a count or variance is NaN, infinite or
 * negative (err names the bin; outputs NAN). */
int dn_s_score(const dn_s_t *self, const double *x, const double *var, double *chi2,
               double *pulls, double *ref_mu, double *ref_sigma, dn_err_t *err);

/* Updates the reference with a good run x[n_bins] (var as dn_s_score).
 * Returns 0; DN_EEMPTY or DN_ERANGE (as dn_s_score) and then nothing changed. */
int dn_s_update(dn_s_t *self, const double *x, const double *var, dn_err_t *err);

/* The hot path: scores x exactly as dn_s_score, then, when good != 0 and the
 * score was valid (return 0), updates exactly as dn_s_update; normalises once.
 * Same outputs and return codes as dn_s_score. */
int dn_s_step(dn_s_t *self, const double *x, const double *var, int good, double *chi2,
              double *pulls, double *ref_mu, double *ref_sigma, dn_err_t *err);

/* A whole sequence: run i (counts row-major [n_runs*n_bins], variances the same
 * shape or NULL for Poisson, see dn_s_score) is stepped with
 * good = (labels[i] == 0): labels -1 (unknown) and 1 (bad) never update.
 * chi2_out[n_runs] (NAN for empty or invalid runs); ref_mu_out, ref_sigma_out and
 * pulls_out [n_runs*n_bins] may be NULL (rows NAN for empty or invalid runs).
 * An invalid run does not stop the sequence (it is scored NAN and skipped, like an
 * empty one). Returns 0, or the first error: DN_ERANGE with err "run i: bin j:
 * ...". Empty runs are not errors. DN_EINVAL for n_runs < 0 or NULL arrays. */
int dn_s_run(dn_s_t *self, const double *counts, const double *variances,
             const int8_t *labels, int n_runs,
             double *chi2_out, double *ref_mu_out, double *ref_sigma_out,
             double *pulls_out, dn_err_t *err);

/* Checkpointing. The state is a versioned little-endian blob: magic "DNSt",
 * u32 version (2), u32 n_bins, u32 reserved (0), f64 alpha, then f64 arrays W,
 * S_mu, S_sig, mu, sigma of n_bins each, then u64 n_updates; version 2 adds
 * f64 I_mu, u32 n_resamples, u32 reserved (0), u64 debiasing seed and the
 * generator's four u64 words. A tracker loaded from it continues
 * bit-identically to the one saved, debiasing draws included. Version 1 states
 * (without the tail) still load: debiasing off, I_mu the initial 100 n_bins
 * (version 1 did not track it). */

/* Bytes dn_s_save writes: 24 + 40 n_bins + 8 + 56. */
size_t dn_s_state_size(const dn_s_t *self);

/* Writes the state into buf[len]. Returns 0, or DN_EINVAL if len is smaller than
 * dn_s_state_size(self) (nothing written). */
int dn_s_save(const dn_s_t *self, void *buf, size_t len);

/* Reads a state written by dn_s_save: *out gets a new tracker the caller owns.
 * Returns 0; DN_EFORMAT on bad magic, unknown version, a length that does not
 * match n_bins, alpha outside [0, 1), non-finite or negative W/S_sig/sigma or
 * non-finite S_mu/mu (err says which); DN_ENOMEM. *out is untouched on error. */
int dn_s_load(const void *buf, size_t len, dn_s_t **out, dn_err_t *err);

/* Alpha tuning on the historical regime (SPEC 2). counts [n_hist*n_bins]
 * row-major, variances the same shape or NULL (Poisson), labels [n_hist]. For alpha = 0.00, 0.01, ..., 0.99 runs DINAMO-S
 * from a fresh reference over the n_hist runs and computes the ROC AUC of the
 * score against the labels (bad positive; unknown-label runs and runs with
 * insufficient statistics, i.e. empty or below min_entries, left out);
 * then refines on the 0.001 grid within +-0.01 of the best (inside [0, 0.999]).
 * The first maximum (smallest alpha) wins. *alpha_out and *auc_out (each may be
 * NULL) receive it. Returns 0; DN_EINVAL when n_hist < 1, n_bins < 1 or the
 * historical regime has no good or no bad scored run (err says which);
 * DN_ERANGE for invalid counts (err "run i: bin j: ..."); DN_ENOMEM.
 * Normalises every run once and reuses one tracker and one score buffer. */
int dn_s_tune_alpha(const double *counts, const double *variances, const int8_t *labels,
                    int n_hist, int n_bins, double min_entries, double *alpha_out,
                    double *auc_out, dn_err_t *err);

/* dn_s_tune_alpha scoring with statistical debiasing (n_resamples 0: exactly
 * dn_s_tune_alpha), as the reference tunes alpha with its debiasing DinamoS.
 * Every alpha of the grid starts the generator afresh from seed (the reference
 * shares one stream across its trials, so its draws depend on trial order;
 * here each alpha's AUC is a function of alpha and seed alone). DN_EINVAL also
 * for n_resamples outside 0..DN_S_MAX_RESAMPLES. */
int dn_s_tune_alpha_debiased(const double *counts, const double *variances,
                             const int8_t *labels, int n_hist, int n_bins, double min_entries,
                             int n_resamples, uint64_t seed, double *alpha_out,
                             double *auc_out, dn_err_t *err);

#endif
