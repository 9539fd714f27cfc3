/* dinamo_ml.h: DINAMO-ML, the online transformer tracker of one histogram
 * (SPEC 3), on top of the network of mlmodel.h.
 *
 * The tracker keeps the model and the good-run set D (runs labelled good, in run
 * order). A run i is scored by an eval-mode prediction from its context (the up to
 * M most recent good runs with index < i, oldest first, padded on the old side
 * with DN_ML_PAD_VALUE histograms at relative time DN_ML_PAD_TIME), then chi2,
 * pulls and score exactly as DINAMO-S with mu := mu_hat, sigma_mu := sigma_hat and
 * the run's own Poisson variance (histo.h, in double). A run labelled good joins
 * D and the model trains on the K most recent runs of D, each with its own context
 * (its M predecessors in D), AdamW with dropout on that same batch until the loss
 * has failed to improve on its best for `patience` consecutive steps.
 *
 * Only the last M+K runs of D are kept (normalised, as float32 rows in a ring);
 * that is all a training batch or the context of a new run needs. Scoring a run
 * whose context reaches older good runs than that is DN_ESTATE.
 *
 * Training batches share their histograms (mlmodel.h): the batch names the
 * distinct rows once, in this layout, which is part of the contract because it
 * fixes the order of the x_emb gradient sums:
 *   row 0 the padding histogram, present only when some token is padding;
 *   then the runs of D from the oldest any context uses to the second newest,
 *   oldest first (the newest run is only a target).
 * Token (b, g) of batch context b (oldest batch run first) is the g-th of its M
 * context tokens, oldest first, with time (float)(index_g - index_b).
 *
 * Ownership: dn_ml_new/dn_ml_load return a tracker the caller owns and frees with
 * dn_ml_destroy. dn_ml_model returns a model owned by the tracker.
 *
 * Thread rules: a tracker is not synchronised; every call except dn_ml_version and
 * dn_ml_state_size/dn_ml_save (which only read) needs exclusive access (scoring
 * runs the network, which writes its activations). Distinct trackers are
 * independent. Output arrays must not overlap the inputs. */
#ifndef DN_DINAMO_ML_H
#define DN_DINAMO_ML_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "mlmodel.h"

typedef struct dn_ml_t dn_ml_t;

/* Options. model: the architecture and optimizer (its max_batch and max_hist are
 * ignored: the tracker sizes the model for batch_runs contexts over
 * batch_runs + context histograms). */
typedef struct dn_ml_opts_t {
    dn_mlconfig_t model;
    int batch_runs;    /* K: runs per training batch, >= 1 (SPEC: 10) */
    int patience;      /* non-improving steps before training stops, >= 1 (5) */
    int max_steps;     /* most training steps per good run, >= 1 (1000) */
    uint64_t seed;     /* parameter init and dropout generator */
} dn_ml_opts_t;

/* Writes the SPEC 3 defaults: dn_mlconfig_default, K 10, patience 5, max_steps
 * 1000, seed 0. */
void dn_ml_opts_default(dn_ml_opts_t *o);

/* Checks *o: 0 or DN_EINVAL with the offending field in *err (may be NULL). */
int dn_ml_opts_check(const dn_ml_opts_t *o, dn_err_t *err);

/* New tracker with every buffer allocated and a fresh model from o->seed.
 * Returns NULL on invalid options or allocation failure. */
dn_ml_t *dn_ml_new(const dn_ml_opts_t *o);

/* How a histogram key's tracker is made: every place that builds one (the
 * offline tool through dn_score_dataset_ml, the trainer, scorer_ml) goes
 * through dn_ml_new_for, so that the pipeline's trackers equal the offline
 * tool's by construction, not by keeping copies in step. */
typedef struct dn_ml_setup_t {
    int n_bins;                /* the key's bins (SPEC 3 defaults sized for them) */
    uint64_t seed;             /* parameter init and dropout */
    double min_entries;        /* below it a histogram is insufficient statistics */
    const void *weights;       /* initial parameters, DNML or raw (dn_mlmodel_import_any);
                                * NULL: from seed */
    size_t weights_len;
    int frozen;                /* 1: never trains (scorer_ml, --no-train) */
    int threads;               /* per training step, 1..DN_ML_MAX_THREADS; ignored with team */
    struct dn_team_t *team;    /* borrowed threads shared by several trackers, or NULL */
} dn_ml_setup_t;

/* A new tracker as *s says into *out (caller owns it; NULL on failure).
 * Returns 0, DN_EINVAL (bins, threads), DN_ENOMEM, or the weights' import
 * code (DN_EMISMATCH: made for another architecture; DN_EFORMAT; DN_ERANGE),
 * with *err set. */
int dn_ml_new_for(const dn_ml_setup_t *s, dn_ml_t **out, dn_err_t *err);

/* Frees *self_p; accepts NULL and *self_p == NULL; sets *self_p to NULL. */
void dn_ml_destroy(dn_ml_t **self_p);

/* The options the tracker runs with (model sizes as adjusted), owned by it. */
const dn_ml_opts_t *dn_ml_opts(const dn_ml_t *self);

/* Scores counts x[n_bins] of run `run_index` (var: per-bin count variances or
 * NULL for the Poisson rule, see dn_hist_normalise) without learning. Any
 * run_index may be scored (not only increasing ones); its context is built from
 * the good runs learned so far with a smaller index. Outputs (each may be NULL
 * except chi2): *chi2; pulls[n_bins]; ref_mu[n_bins], ref_sigma[n_bins] = the
 * mu_hat, sigma_hat that scored it.
 * Returns 0; DN_EEMPTY when sum x <= DN_EPS (chi2 and outputs NAN); DN_ERANGE for
 * a NaN, infinite or negative count or variance (err names the bin; outputs NAN);
 * DN_ESTATE when the context would need good runs older than the buffer keeps;
 * DN_EINVAL for NULL x/chi2. */
int dn_ml_score(dn_ml_t *self, int64_t run_index, const double *x, const double *var,
                double *chi2, double *pulls, double *ref_mu, double *ref_sigma,
                dn_err_t *err);

/* Learns a run labelled good: appends it to D (run_index must exceed every index
 * learned before: DN_EINVAL otherwise, nothing changes), then, unless frozen,
 * trains on the batch described above until `patience` consecutive steps fail to
 * improve the best loss, or max_steps. *steps_out (may be NULL) = steps taken,
 * *loss_out (may be NULL) = loss of the last step (NAN when no step was taken).
 * Returns 0; DN_EEMPTY (empty histogram, not added); DN_ERANGE (bad counts, not
 * added); DN_EINVAL; or a model error or the step hook's code (the run stays in
 * D). */
int dn_ml_learn(dn_ml_t *self, int64_t run_index, const double *x, const double *var,
                int *steps_out, float *loss_out, dn_err_t *err);

/* dn_ml_score, then dn_ml_learn when good != 0 and the score returned 0.
 * Returns the score's code, or the learn's when scoring succeeded. */
int dn_ml_step(dn_ml_t *self, int64_t run_index, const double *x, const double *var,
               int good, double *chi2, double *pulls, double *ref_mu,
               double *ref_sigma, dn_err_t *err);

/* frozen != 0: learn() records good runs (for contexts) but takes no training
 * steps, so the weights stay as they are (pure inference, imported weights). */
void dn_ml_set_frozen(dn_ml_t *self, int frozen);

/* A function dn_ml_learn calls after every training step (hook NULL: none),
 * for a caller that must show it is alive while one run trains for long (the
 * trainer renews its member lease: the first runs of a key train hundreds of
 * steps). It must not touch the tracker; it returns 0, or an error code (with
 * *err set) that stops the training at once: dn_ml_learn returns that code,
 * the run stays in D and the steps taken stand. Not state: checkpoints do not
 * carry it; ctx is borrowed. */
void dn_ml_set_step_hook(dn_ml_t *self, int (*hook)(void *ctx, dn_err_t *err), void *ctx);

/* Runs with fewer than min_entries entries are insufficient statistics
 * (DN_EEMPTY: no score, never learned), as empty ones always are. A policy
 * setting, not state: checkpoints do not carry it. Default 0. */
void dn_ml_set_min_entries(dn_ml_t *self, double min_entries);
int dn_ml_frozen(const dn_ml_t *self);

/* The tracker's model (owned by the tracker), e.g. to import weights. */
dn_mlmodel_t *dn_ml_model(dn_ml_t *self);

/* Number of dn_ml_learn calls that trained (took at least one step). */
int64_t dn_ml_version(const dn_ml_t *self);

/* Number of good runs learned (the size of D, kept or not). */
int64_t dn_ml_n_good(const dn_ml_t *self);

/* Checkpointing: the whole state (options, model parameters, AdamW moments and
 * step, dropout generator, the good-run buffer with indices, counters) as a
 * little-endian blob (offsets in bytes):
 *   0 "DNMt"  4 u32 version (1)  8 u32 header bytes (128)  12 u32 FNV-1a 32 of
 *   bytes [16, end)  16..40 u32 n_bins d_model n_heads n_layers d_ff context
 *   activation  44..64 f32 dropout lr beta1 beta2 eps weight_decay  68..80 u32
 *   batch_runs patience max_steps frozen  84 u32 reserved (0)  88 u64 seed
 *   96 i64 version  104 i64 n_good  112 i64 last learned index  120 u64 model
 *   state bytes; then min(n_good, M+K) good runs oldest first, each i64 run
 *   index and f32 row[n_bins]; then the model state (dn_mlmodel_save_state).
 * A tracker loaded from it continues bit-identically to the one saved. */
size_t dn_ml_state_size(const dn_ml_t *self);

/* Writes the state into buf[cap]. 0, or DN_EINVAL when cap is too small. */
int dn_ml_save(const dn_ml_t *self, void *buf, size_t cap);

/* Reads a state written by dn_ml_save into a new tracker *out (caller owns).
 * Returns 0; DN_EFORMAT (bad magic, version, length, hash, options, indices);
 * DN_EMISMATCH (model state of another architecture); DN_ERANGE (non-finite
 * values); DN_ENOMEM. *out is untouched on error. */
int dn_ml_load(const void *buf, size_t n, dn_ml_t **out, dn_err_t *err);

/* A whole sequence: run i of counts [n_runs*n_bins] (row-major; variances the
 * same shape, or NULL for Poisson) is stepped with
 * run_index i and good = (labels[i] == 0). chi2_out[n_runs] (NAN for empty or
 * invalid runs); ref_mu_out, ref_sigma_out, pulls_out [n_runs*n_bins] and
 * steps_out[n_runs] (training steps, 0 for runs that did not train) may be NULL.
 * progress (may be NULL) is called with (ctx, done, total) every 100 runs and at
 * the end. Empty and invalid runs do not stop the sequence. Returns 0; the first
 * DN_ERANGE (err "run i: bin j: ..."); DN_EINVAL (bad arguments, or run indices
 * not after the runs already learned); or a model error, which stops it. */
int dn_ml_run(dn_ml_t *self, const double *counts, const double *variances,
              const int8_t *labels, int n_runs,
              double *chi2_out, double *ref_mu_out, double *ref_sigma_out,
              double *pulls_out, int *steps_out,
              void (*progress)(void *ctx, int done, int total), void *progress_ctx,
              dn_err_t *err);

#endif
