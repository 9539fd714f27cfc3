/* horizon.h: multi-horizon references for DINAMO-S: the current reference and
 * references frozen N runs or T seconds ago, each run scored against all.
 *
 * Why: an evolving reference learns every good-labelled run, so a defect that
 * grows slowly while it is still within tolerance (labelled good run after
 * run) is absorbed: when it crosses the line the current reference has moved
 * with it and no longer sees it (the paper's Section 6, "Limitations"). A
 * reference frozen some time ago has not moved: against it the whole
 * accumulated change shows.
 *
 * Horizons. Horizon 0 is always "now", the tracker's current reference (the
 * single reference of SPEC 2: with no other horizon everything is exactly
 * dn_s_t's). Horizon h > 0 has a lag: L runs (the run's position among the
 * runs of its key, counting every run scored, empty or invalid ones
 * included) or T seconds (the run's time, Run.time). Its reference for a run
 * is the newest snapshot taken at least the lag before it; until such a
 * snapshot exists the horizon is unavailable for that run (chi2 NAN) and
 * takes no part in the verdict.
 *
 * Snapshots. Each lagged horizon keeps its own ring: a copy of the current
 * tracker is taken before scoring a run when a step of lag / resolution has
 * passed since the ring's newest (runs: at positions that are multiples of
 * the step; seconds: at the first run with a finite time at least a step
 * after the newest), so the reference used is between lag and
 * lag + lag / resolution old, and at most lag / step + 2 copies are held per
 * horizon (resolution 4: 6). Memory and checkpoint size are therefore
 * bounded: (1 + sum over horizons of their ring sizes) trackers.
 * Snapshots are taken in dn_hz_score, i.e. a horizon's reference for run p
 * is the current reference that scored run p - lag (runs), exactly. None is
 * taken while the current reference is still dominated by its flat start
 * (fewer than ln 0.01 / ln alpha updates: the start weighs more than 1%).
 *
 * Accepted changes (dn_hz_update): snapshots never learn, but when a run
 * the current reference scored far off (above the acceptance level) is
 * labelled good, a shifter has accepted a change, and the snapshots move
 * with it, so older horizons do not flag it again for lag runs.
 *
 * The verdict (dn_hz_margin): with per-horizon thresholds thr[h] tuned on the
 * historical regime (dn_hz_tune_thresholds: now's like the single threshold,
 * the lagged ones within a false-alarm budget), a run is bad when any
 * available horizon scores above its own threshold. The
 * combined score is the margin max_h (score_h - thr_h), bad when > 0; the
 * horizon that fired is the one with the largest margin.
 *
 * Ownership: dn_hz_new/dn_hz_load return a tracker the caller owns and frees
 * with dn_hz_destroy; dn_hz_now returns a pointer owned by the tracker.
 * Thread rules: a tracker is not synchronised (dn_hz_score takes snapshots,
 * so it writes); distinct trackers are independent. Spec functions are
 * reentrant. */
#ifndef DN_HORIZON_H
#define DN_HORIZON_H

#include <stddef.h>
#include <stdint.h>

#include "dinamo_s.h"
#include "error.h"

enum { DN_HZ_MAX = 8, DN_HZ_RESOLUTION = 4, DN_HZ_NAME_MAX = 24 };

typedef enum { DN_HZ_NOW = 0, DN_HZ_RUNS = 1, DN_HZ_SECONDS = 2 } dn_hz_kind_t;

/* A set of horizons: plain data. [0] is always DN_HZ_NOW with lag 0. */
typedef struct dn_hz_spec_t {
    int n;                          /* 1 .. DN_HZ_MAX */
    dn_hz_kind_t kind[DN_HZ_MAX];
    double lag[DN_HZ_MAX];          /* runs (a whole number >= 1) or seconds (> 0) */
    int resolution;                 /* snapshots per lag, 1 .. 64 (DN_HZ_RESOLUTION) */
} dn_hz_spec_t;

/* *out = the single horizon "now" at the default resolution. */
void dn_hz_spec_single(dn_hz_spec_t *out);

/* Parses a comma-separated list: a whole number N is "N runs ago"; a number
 * with a unit s, m, h, d or w is that many seconds, minutes, hours, days or
 * weeks ago ("12h", "7d", "1.5d"); "now" (optional, anywhere) is horizon 0,
 * which is always there; "" or "now" alone is the single horizon. Lags are
 * sorted (runs first, then seconds, each increasing) and must be distinct.
 * Returns 0, or DN_EINVAL with err naming the item ("'10x': unknown unit",
 * "more than 7 lagged horizons", "'0': a lag must be >= 1 run"). */
int dn_hz_spec_parse(const char *text, int resolution, dn_hz_spec_t *out, dn_err_t *err);

/* Checks a spec (as dn_hz_spec_parse would have made it). 0 or DN_EINVAL. */
int dn_hz_spec_check(const dn_hz_spec_t *spec, dn_err_t *err);

/* The name of horizon h: "now", "500r" (runs), "7d", "12h", "90m", "45s"
 * (seconds in the largest unit that divides them, else seconds with %g).
 * Writes at most len bytes (DN_HZ_NAME_MAX is enough); returns buf. */
const char *dn_hz_name(const dn_hz_spec_t *spec, int h, char *buf, size_t len);

/* The canonical list ("now" for one horizon, else "500,7d" without "now"):
 * parsing it gives the spec back. Returns 0, or DN_EINVAL if len is too small. */
int dn_hz_spec_format(const dn_hz_spec_t *spec, char *buf, size_t len);

/* The spec whose lagged horizons are named names[n] (as dn_hz_name names
 * them, in the spec's order: what a scorer sends in Score.horizons), at the
 * default resolution (names do not carry it). Returns 0, or DN_EINVAL with
 * err naming the name that is no horizon, is out of order or is "now". */
int dn_hz_spec_from_names(const char *const *names, int n, dn_hz_spec_t *out, dn_err_t *err);

/* 1 if some horizon counts seconds (runs then need times). */
int dn_hz_spec_has_time(const dn_hz_spec_t *spec);

/* 1 if both specs are the same horizons at the same resolution. */
int dn_hz_spec_equal(const dn_hz_spec_t *a, const dn_hz_spec_t *b);

typedef struct dn_hz_t dn_hz_t;

/* New multi-horizon tracker of n_bins bins at EWMA factor alpha (the current
 * reference is dn_s_new's). Returns NULL on a bad spec, n_bins or alpha (as
 * dn_s_new), or memory. */
dn_hz_t *dn_hz_new(const dn_hz_spec_t *spec, int n_bins, double alpha);

/* Frees *self_p; accepts NULL and *self_p == NULL; sets *self_p to NULL. */
void dn_hz_destroy(dn_hz_t **self_p);

/* The spec, the current reference's tracker (owned by self), and the number
 * of runs scored so far (the position the next run gets). */
const dn_hz_spec_t *dn_hz_spec(const dn_hz_t *self);
dn_s_t *dn_hz_now(dn_hz_t *self);
uint64_t dn_hz_position(const dn_hz_t *self);

/* Changes the horizons of a tracker to spec (a restart configured with other
 * horizons than its checkpoint's): the current reference and the position
 * are kept; a lagged horizon of spec that self has too (same kind and lag)
 * keeps its snapshots, the newest that fit its new ring when the resolution
 * shrank it; the other horizons of spec start with empty rings (unavailable
 * until a snapshot is lag old), and horizons no longer in spec are dropped.
 * min_entries must be set again afterwards (dn_hz_set_min_entries). Returns
 * 0 (nothing changes when the specs are equal); DN_EINVAL (bad spec, err
 * says why) or DN_ENOMEM, with self unchanged. */
int dn_hz_respec(dn_hz_t *self, const dn_hz_spec_t *spec, dn_err_t *err);

/* Insufficient-statistics rule of every reference (dn_s_set_min_entries). */
void dn_hz_set_min_entries(dn_hz_t *self, double min_entries);

/* Snapshots held now, summed over the horizons, and the most any ring may
 * hold (the bound on memory and checkpoint). */
int dn_hz_snapshot_count(const dn_hz_t *self);
int dn_hz_snapshot_bound(const dn_hz_t *self);

/* What one run gets from each horizon h < spec->n. */
typedef struct dn_hz_out_t {
    double chi2[DN_HZ_MAX];      /* NAN: horizon unavailable, or the run empty/invalid */
    double age[DN_HZ_MAX];       /* age of the reference used (runs or seconds); 0 for
                                    now; NAN when unavailable */
    double *pulls[DN_HZ_MAX];    /* each [n_bins] or NULL: not wanted (NAN rows when the
                                    horizon is unavailable or the run empty/invalid) */
    double *ref_mu[DN_HZ_MAX];
    double *ref_sigma[DN_HZ_MAX];
} dn_hz_out_t;

/* Scores counts x[n_bins] (var as dn_s_score) of the run at the tracker's
 * position, whose time is t (Unix seconds; NAN when unknown: second-lagged
 * horizons are then unavailable and take no snapshot), against every
 * horizon, after taking the snapshots due at this run; then advances the
 * position. Does not learn (dn_hz_update). Fills *out (pointer members as
 * the caller set them). Returns the current horizon's dn_s_score result:
 * 0, DN_EEMPTY or DN_ERANGE (err names the bin); the position advances and
 * the snapshots are taken whatever the run. */
int dn_hz_score(dn_hz_t *self, const double *x, const double *var, double t, dn_hz_out_t *out,
                dn_err_t *err);

/* Learns a good run into the current reference (dn_s_update). Snapshots
 * never learn, but they follow accepted changes: when the run's score
 * against the current reference (before learning it) is above the
 * acceptance level, a shifter has labelled good a run the reference found
 * far off, i.e. accepted a change (a step of the detector's conditions);
 * the change this update makes to the current reference is then added to
 * every snapshot's mu, so that older horizons do not flag that accepted
 * change again for lag runs, while a drift nobody was alerted to (below
 * the level, run after run) still shows against them in full. Returns as
 * dn_s_update. */
int dn_hz_update(dn_hz_t *self, const double *x, const double *var, dn_err_t *err);

/* The acceptance level (a score, log(chi2/n_bins); NAN: snapshots never
 * move, the default), and the number of accepted changes followed so far.
 * The level is state: checkpoints carry it. */
void dn_hz_set_accept_level(dn_hz_t *self, double level);
double dn_hz_accept_level(const dn_hz_t *self);
uint64_t dn_hz_accepted(const dn_hz_t *self);

/* The acceptance level from history: the q-quantile (numpy percentile
 * 100 q) of the current reference's scores score[n_hist] of the good runs
 * (label 0, score not NAN), NAN when there are none or memory runs out.
 * A good run scored above it is rarer than 1 - q among ordinary good runs. */
#define DN_HZ_ACCEPT_Q 0.99
double dn_hz_level_from_history(const double *score, const int8_t *label, int n_hist, double q);

/* The acceptance level of the first n_hist runs themselves (counts
 * [n_hist*n_bins], variances the same or NULL, labels [n_hist]): a fresh
 * DINAMO-S tracker at alpha (and min_entries) scores them as dn_s_run does,
 * learning the good ones, and *level is dn_hz_level_from_history of those
 * scores at q. *level NAN (never accept) when q <= 0 or n_hist < 1; runs
 * with invalid counts are unscored, as in dn_s_run. Offline tools and
 * scorer_s both set the level this way. Returns 0 or DN_ENOMEM. */
int dn_hz_level_from_runs(const double *counts, const double *variances, const int8_t *labels,
                          int n_hist, int n_bins, double alpha, double min_entries, double q,
                          double *level, dn_err_t *err);

/* A whole sequence as dn_s_run, against every horizon: run i (counts
 * [n_runs*n_bins], variances the same or NULL) at time times[i] (times NULL:
 * none known) is scored, then learned when labels[i] == 0 and its score was
 * valid. chi2_out [n_hz*n_runs], horizon h's at [h*n_runs + i]; pulls_out,
 * ref_mu_out, ref_sigma_out [n_hz*n_runs*n_bins] or NULL. Returns 0 or the
 * first DN_ERANGE (later runs still scored), DN_EINVAL for bad arguments. */
int dn_hz_run(dn_hz_t *self, const double *counts, const double *variances,
              const double *times, const int8_t *labels, int n_runs, double *chi2_out,
              double *pulls_out, double *ref_mu_out, double *ref_sigma_out, dn_err_t *err);

/* Checkpointing: magic "DNHz", u32 version 1, the spec (n, resolution, kind
 * and lag of each), the position, the acceptance level and the accepted
 * count, the current tracker (dn_s_save, length
 * first), then per lagged horizon its ring: newest time or position, count,
 * and per snapshot its time or position and its dn_s_save state. A tracker
 * loaded from it continues bit-identically. */
size_t dn_hz_state_size(const dn_hz_t *self);
int dn_hz_save(const dn_hz_t *self, void *buf, size_t len);

/* Reads a state written by dn_hz_save into a new tracker (*out). Returns 0;
 * DN_EFORMAT naming what is wrong (magic, version, spec, a ring larger than
 * its bound, a snapshot of other bins, trailing bytes); DN_ENOMEM. */
int dn_hz_load(const void *buf, size_t len, dn_hz_t **out, dn_err_t *err);

/* ---- the verdict ---- */

/* Per-horizon thresholds on the first n_hist runs of the scores score[h*n + i]
 * (NAN where horizon h was unavailable or the run had no score), label[n].
 * Horizon now's: thr[0] as given when it is a number on entry, else tuned
 * like the single threshold (SPEC 4 bootstrap, seed boot_seed). A lagged
 * horizon h is given a false-alarm budget instead: of the historical good
 * runs with a score, at most budget / (n_hz - 1) more may be called bad
 * because of h (runs already over an earlier horizon's threshold do not
 * count), so thr[h] is that quantile of its scores on the good runs not yet
 * called bad. Why not the bootstrap: a reference frozen lag runs ago also
 * sees every legitimate change since (drift, step changes a shifter
 * accepted), so the threshold that maximises balanced accuracy on it flags
 * most good runs after a step; the budget bounds what the older horizons
 * cost in specificity by construction. A lagged threshold is never below
 * now's: an older horizon does not flag a smaller deviation than the
 * current reference would (without this floor a quiet horizon's 1% tail,
 * estimated on a few hundred runs, flagged 10% of later good runs on a
 * stable detector). thr[h] is NAN (never votes) when
 * fewer than DN_HZ_MIN_GOOD such runs exist. budget in [0, 1).
 * Returns 0, DN_EINVAL (horizon now cannot tune: no scored good or bad
 * historical run; bad arguments), DN_ENOMEM. */
enum { DN_HZ_MIN_GOOD = 20 };
#define DN_HZ_BUDGET 0.01 /* default budget: 1% of the historical good runs */
int dn_hz_tune_thresholds(const double *score, const int8_t *label, int n, int n_hz,
                          int n_hist, uint64_t boot_seed, double budget, double *thr,
                          dn_err_t *err);

/* The combined score of one run from its per-horizon scores score[n_hz]
 * (NAN: unavailable) and thresholds thr[n_hz] (NAN: not voting): the margin
 * max over voting, available horizons of score[h] - thr[h] (NAN when none);
 * *fired (may be NULL) the horizon giving it, or -1. The run is bad when the
 * margin is > 0. */
double dn_hz_margin(const double *score, const double *thr, int n_hz, int *fired);

#endif
