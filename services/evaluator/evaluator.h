/* evaluator.h: the parts of the evaluator service and what each one owns;
 * private to services/evaluator/ (docs/pipeline.md describes the service).
 *
 *   ingest.c      the book: every run, label and score received, per histogram
 *                 key and run_seq, kept in LMDB (ev.runs, ev.labels,
 *                 ev.scores, ev.auto) and rebuilt from it at start;
 *   judge.c       the thresholds of every (key, method), the severity of a
 *                 scored histogram (severity.h's rule), the assessment of a
 *                 run or subsystem, and the flag line of a judged run;
 *   autoaccept.c  labelling runs good that every chosen method judged good;
 *   figures.c     the figure sets of runs flagged bad: their queue, the
 *                 figure worker that draws them, the sets kept on disk;
 *   report.c      the report directory: metrics.json and the CSV files;
 *   evaluator.c   what the service does with each entry and round, its
 *                 configuration and its node definition.
 * Each part keeps its state in its own struct, embedded in the service's;
 * the book is read by the others, changed only through ingest.c (and
 * ev_book_mark_auto). Indices: a histogram key is k (its dense index in the
 * book's key table), a run is its run_seq, a method m (0 s, 1 ml).
 *
 * Thread rules: everything runs on the node's thread. */
#ifndef EV_EVALUATOR_H
#define EV_EVALUATOR_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "error.h"
#include "evaluate.h"
#include "horizon.h"
#include "keytab.h"
#include "msg.h"
#include "policy.h"
#include "severity.h"
#include "store.h"

#define EV_METHODS 2
extern const char *const ev_method_name[EV_METHODS]; /* "s", "ml" */
extern const char *const ev_log_name[EV_METHODS];    /* "scores_s", "scores_ml" */

/* ---- the book (ingest.c) -------------------------------------------------------- */

/* One histogram in one run: what its run, its label and each method's score
 * said. Arrays are NULL until given. */
typedef struct ev_row_t {
    int64_t run_number;
    uint8_t has_run, has_label, has_truth;
    int8_t label;            /* 0 good, 1 bad, -1 none */
    uint8_t label_auto;      /* the system's label (a person's or recorded one wins) */
    double mu, sigma;        /* the truth, when the label carried it */
    uint8_t rapid_mu, rapid_sigma;
    uint8_t has_slow, slow_kind, slow_bad; /* slow-defect truth, when the label had it */
    double slow_size;
    double *counts;          /* [n_bins] from the run */
    double *variances;       /* [n_bins] when the run gave them (weighted fills) */
    double *edges;           /* [nx + 1] when the run gave them (1-D: nx = n_bins) */
    double *edges_y;         /* 2-D: [n_bins_y + 1] when the run gave them */
    uint8_t has_score[EV_METHODS], status[EV_METHODS];
    double chi2[EV_METHODS], alpha[EV_METHODS];
    double *ref_mu[EV_METHODS], *ref_sigma[EV_METHODS]; /* what scored it */
    double *pulls[EV_METHODS]; /* the pulls the scorer sent with that reference, or NULL.
                                * Kept because DINAMO-S's debiased pulls (averages over
                                * resamplings) are not the reference's pulls, and the
                                * figures must show what went into the score */
    /* The lagged horizons of the key's hz[m] (S at several horizons): their
     * chi2 [hz[m].n - 1] (NAN: the horizon had no reference yet), NULL when
     * the Score had none (not OK, or its horizon names were rejected); when
     * the scorer sent them, each one's reference, its uncertainty and its
     * pulls, [hz[m].n - 1] rows of hz_nb[m] (a row NAN where that horizon
     * sent none), NULL when no horizon did. */
    double *hz_chi2[EV_METHODS];
    double *hz_ref_mu[EV_METHODS], *hz_ref_sigma[EV_METHODS], *hz_pulls[EV_METHODS];
    int hz_nb[EV_METHODS];
} ev_row_t;

typedef struct ev_key_t {
    const char *key;         /* the key table's copy */
    char *subsystem;         /* from the first run that gave the key; NULL before */
    int n_bins;              /* 0 until a run gave it */
    int n_bins_y;            /* 2-D: bins of y (n_bins = nx * n_bins_y flattened, x
                              * outer); 0: 1-D. Fixed with n_bins by the first run */
    ev_row_t *rows;          /* indexed by run_seq */
    int n_rows, cap_rows;
    /* Its horizons by method (horizon.h; [0] is now): fixed by the first
     * Score with status OK, from its horizon names (none: now alone); a later
     * Score naming others keeps its own fields (horizon now) and loses its
     * horizons (ev_book_t's n_hz_rejected). */
    dn_hz_spec_t hz[EV_METHODS];
    uint8_t hz_fixed[EV_METHODS];
} ev_key_t;

typedef struct ev_run_t {
    int n_keys;              /* histograms in the run; 0 until the run arrived */
    int64_t run_number;
    uint8_t auto_sent;       /* labelled good automatically (ev.auto) */
    int n_scored[EV_METHODS]; /* scores received for it (of any key): a run is judged
                               * only once they are at least n_keys */
} ev_run_t;

/* Called after every change to histogram k of run seq (live and rebuilt). */
typedef void (*ev_changed_fn)(void *arg, int k, uint64_t seq);

typedef struct ev_pending_t ev_pending_t; /* rows not committed yet */

typedef struct ev_book_t {
    dn_keytab_t *index;      /* key -> k */
    ev_key_t *keys;
    int n_keys, cap_keys;
    ev_run_t *runs;          /* indexed by run_seq */
    int n_runs, cap_runs;
    int rebuilding;          /* replaying the store: judge quietly, send nothing */
    ev_pending_t *pending;
    int n_pending, cap_pending;
    uint64_t n_scores, n_dups, n_labels, n_run_msgs;
    uint64_t n_hist_skipped; /* histograms whose binning is not their key's */
    uint64_t n_hz_rejected;  /* Scores whose horizon names are not their key's (their
                              * horizons dropped, horizon now kept) */
    ev_changed_fn changed;
    void *changed_arg;
} ev_book_t;

/* An empty book calling changed(arg, k, seq) after each change. Returns 0 or
 * DN_ENOMEM. ev_book_free frees everything (also after a failed init). */
int ev_book_init(ev_book_t *b, ev_changed_fn changed, void *arg);
void ev_book_free(ev_book_t *b);

/* Entries delivered by the followed logs: stored (for the next commit) and
 * taken in. A score is taken once per (method, run_seq, key): ev_book_score
 * returns 1 for a new one, 0 for a duplicate (counted). Return < 0 on error
 * (DN_ENOMEM; the encoder's codes). */
int ev_book_run(ev_book_t *b, const Dinamo__Envelope *env);
int ev_book_label(ev_book_t *b, const Dinamo__Envelope *env);
int ev_book_score(ev_book_t *b, int m, const Dinamo__Envelope *env);

/* Remembers (and stores, table ev.auto) that run seq was labelled good
 * automatically. Returns 0 or DN_ENOMEM. */
int ev_book_mark_auto(ev_book_t *b, uint64_t seq);

/* Replays the store's tables into the empty book (rebuilding set meanwhile).
 * Damaged rows are skipped. Returns 0, DN_EIO, DN_ENOMEM with *err set. */
int ev_book_rebuild(ev_book_t *b, dn_store_t *store, dn_err_t *err);

/* The rows stored since the last commit: added to the node's commit batch,
 * and forgotten once it was applied. ev_book_stage returns 0 or DN_ENOMEM /
 * DN_EINVAL from the batch. */
int ev_book_pending(const ev_book_t *b);
int ev_book_stage(ev_book_t *b, dn_store_batch_t *batch);
void ev_book_committed(ev_book_t *b);

/* Row seq of key k, or NULL when the key has no row that far. */
const ev_row_t *ev_book_row(const ev_book_t *b, int k, uint64_t seq);

/* The subsystem of key k ("" before its first run). */
const char *ev_key_subsystem(const ev_key_t *hk);

/* The score log(chi2 / n_bins) of a row by method m; NAN without an OK score. */
double ev_row_score(const ev_key_t *hk, const ev_row_t *r, int m);

/* The same against horizon h of the key's hz[m] (0: now, ev_row_score); NAN
 * when that horizon had no reference for the run or the Score brought none. */
double ev_row_score_hz(const ev_key_t *hk, const ev_row_t *r, int m, int h);

/* The name of horizon h of key k's horizons by method m ("now", "500r"). */
const char *ev_hz_name(const ev_key_t *hk, int m, int h, char *buf, size_t len);

/* A key as a file name: '/' becomes '_' (the rest is kept). */
void ev_key_file_name(char *dst, size_t cap, const char *key);

/* arr (*cap elements of size bytes) grown, by doubling from `first`, to
 * hold index `need`, the new elements zeroed; arr itself when it already
 * does. NULL when out of memory (arr and *cap unchanged). */
void *ev_grow(void *arr, int *cap, int need, size_t size, int first);

/* ---- the judge (judge.c) ------------------------------------------------------- */

typedef struct ev_verdicts_t ev_verdicts_t; /* per key: the policy's judgement, thresholds */

typedef struct ev_judge_t {
    const dn_policy_t *policy; /* borrowed */
    int n_hist;                /* runs of the historical regime */
    double margin;             /* warning = bad - margin unless the policy sets it */
    /* The evaluation options as `dinamo evaluate` takes them (dn_eval_opts_default,
     * then the keys): n_hist, boot_seed, horizon_budget and the reference's
     * n_boot, ba_weight, adaptivity_patience. Threshold tuning and the final
     * report start from a copy, so both use what the options say. */
    dn_eval_opts_t opts;
    int t_opt;                 /* 0: the bad threshold is threshold_default (a policy's
                                  bad threshold still wins), never tuned */
    double threshold_default;  /* 1.0 */
    ev_verdicts_t *keys;
    int cap_keys;
    uint8_t *judged;           /* per run_seq, bit m: its judgement by m was made */
    int cap_judged;
} ev_judge_t;

void ev_judge_init(ev_judge_t *j, const dn_policy_t *policy, int n_hist, uint64_t boot_seed,
                   double margin);
void ev_judge_free(ev_judge_t *j);

/* The policy's judgement of key k (min_entries 0, thresholds NAN before the
 * key's first run). */
dn_judge_t ev_key_policy(const ev_judge_t *j, int k);

/* The bad and warning thresholds of (k, m); bad NAN while not known. */
dn_thresholds_t ev_thresholds(const ev_judge_t *j, int k, int m);

/* The severity of histogram k in run seq by method m. With several
 * horizons (the key's hz[m], once their thresholds are tuned) it is
 * severity.h's rule applied to the combined margin (ev_margin) against bad
 * 0 and warning (warning - bad): bad when some horizon is above its own
 * threshold, a warning when the margin is within bad - warning of it. */
dn_severity_t ev_severity(const ev_judge_t *j, const ev_book_t *b, int k, uint64_t seq, int m);

/* The threshold of horizon h of (k, m): h 0 is ev_thresholds' bad; a lagged
 * one NAN while not tuned or when it cannot be (it then never votes). */
double ev_hz_threshold(const ev_judge_t *j, int k, int m, int h);

/* The combined margin of histogram k in run seq by method m: score -
 * bad with one horizon, else dn_hz_margin over the key's horizons and their
 * thresholds (> 0: bad); *fired (nullable) the horizon giving it (0 now, -1
 * none). NAN when the histogram is not judged or has no usable score. */
double ev_margin(const ev_judge_t *j, const ev_book_t *b, int k, uint64_t seq, int m,
                 int *fired);

/* Sets the bad threshold of (k, m) once it can be: the policy's, else tuned
 * (as dn_evaluate does) once the first n_hist runs have labels and scores; a
 * key that cannot be tuned never flags (logged). A key with several horizons
 * gets every horizon's threshold tuned on those runs with
 * dn_hz_tune_thresholds (horizon now's is the policy's when it sets one, as
 * dn_evaluate_scores_hz takes a given threshold); lagged horizons vote only
 * from then on. Returns 1 when the bad threshold or the horizons' became
 * known in this call, 0 otherwise, DN_ENOMEM. */
int ev_judge_tune(ev_judge_t *j, const ev_book_t *b, int k, int m);

/* 1 once the thresholds of the key's several horizons by m are tuned. */
int ev_hz_tuned(const ev_judge_t *j, int k, int m);

#define EV_WORST 3

/* A run (or one subsystem of it) judged by one method: counts by severity,
 * the combined score log(sum chi2 / sum n_bins) over its scored histograms
 * (the paper's combination), and the histograms furthest above their bad
 * thresholds. */
typedef struct ev_assess_t {
    int n_hist, n_scored, n_bad, n_warning, n_insufficient;
    dn_severity_t severity;
    double chi2, bins;
    int worst[EV_WORST];      /* key indices, -1 */
    double excess[EV_WORST];  /* the combined margin (one horizon: score - bad threshold) */
    /* The largest margin of its judged histograms (NAN: none), which one
     * (-1) and the horizon that gave it (0 now, -1 none): the horizon that
     * fired when the run is bad. */
    double margin;
    int margin_key, fired;
} ev_assess_t;

/* 1 when run seq may be wholly judged by m: it arrived, and it has as many
 * scores as histograms (a cheap necessary condition, checked before a scan
 * of every key, so that a run of K histograms costs O(K) and not O(K^2)). */
int ev_run_complete(const ev_book_t *b, uint64_t seq, int m);

/* Assesses run seq by method m: all its histograms (subsystem NULL) or those
 * of one subsystem. Returns 1 when every one of them is judged, else 0. */
int ev_assess(const ev_judge_t *j, const ev_book_t *b, uint64_t seq, int m,
              const char *subsystem, ev_assess_t *a);
double ev_assess_score(const ev_assess_t *a);

/* "calo/e(+1.20) muon/x(+0.40)": the worst histograms and their excess. */
void ev_worst_list(const ev_book_t *b, const ev_assess_t *a, char *buf, size_t cap);

/* "b17:+8.2 b18:-6.1": the bins of key k in run seq with the largest |pull|
 * against the reference of horizon h that scored it (method m; h 0: now);
 * "" without one. A lagged horizon's pulls are computed from its reference
 * when the Score sent it, else taken as sent. A 2-D key names its bins by
 * (ix, iy) and, when the run gave edges, their centres:
 * "bin (3,4) at (1.75, -0.5):+8.2; bin (3,5) at (1.75, 0.5):-6.1". */
void ev_worst_bins(const ev_book_t *b, int k, uint64_t seq, int m, int h, char *buf,
                   size_t cap);

/* The reference (mu, sigma; NULL when none) of horizon h of key k in run seq
 * by method m: the row's own for h 0, the lagged horizon's row otherwise. */
void ev_hz_reference(const ev_book_t *b, int k, uint64_t seq, int m, int h, const double **mu,
                     const double **sigma);

/* Judges run seq by method m once all its histograms are judged (not during
 * a rebuild, not in the historical regime): returns 1 the first time, with
 * the assessment in *a and, for a warning or bad run, its flag line logged;
 * 0 when it is not (or no longer) to be judged, DN_ENOMEM. Runs are judged
 * once per process: a restart judges (and logs) again the runs whose scores
 * come after it. */
int ev_judge_run(ev_judge_t *j, const ev_book_t *b, uint64_t seq, int m, ev_assess_t *a);

/* ---- auto-accept (autoaccept.c) ------------------------------------------------ */

typedef struct ev_auto_t {
    int on;
    int methods[EV_METHODS];  /* the methods that must all agree */
    int warning_ok;           /* warnings do not stop auto-acceptance */
    uint64_t incarnation, seq, sent;
    dn_sock_t *push;          /* to the events log's source (the node's socket) */
} ev_auto_t;

/* Labels run seq good (a Label with source AUTO to the events source) when
 * nobody labelled it, it was not auto-accepted before, and every histogram is
 * good (or a warning, with warning_ok) for every chosen method that is
 * followed. A send that times out is logged and retried with the next
 * change. */
void ev_auto_try(ev_auto_t *au, ev_book_t *b, const ev_judge_t *j, const int methods[EV_METHODS],
                 uint64_t seq);

/* ---- figures (figures.c) ------------------------------------------------------- */

typedef struct ev_figwant_t ev_figwant_t;
struct dn_figkeep_t;
struct dn_figworker_t;

typedef struct ev_figures_t {
    const char *report_dir;       /* borrowed */
    int keep, queue, timeout_ms;  /* figures_keep, figures_queue, figures_timeout_ms */
    /* Sets wanted and not yet handed to the worker: a ring of at most `queue`
     * (run, key, method), oldest first; a set's job file is built only when
     * the worker is idle, so a set dropped from a full ring (the oldest, for
     * the newest: after a burst the runs on shift are the ones drawn) cost
     * nothing. */
    ev_figwant_t *ring;
    int head, n;
    /* Every set wanted ends as exactly one of: drawn, failed or in the
     * worker (its counts), waiting in the ring, dropped from it, or unsent
     * (no data, no directory, the job not saved). */
    uint64_t wanted, dropped, unsent;
    struct dn_figkeep_t *kept;      /* deletes the oldest sets beyond `keep` */
    struct dn_figworker_t *worker;
} ev_figures_t;

/* Figures on: the sets on disk under report_dir/runs (the oldest beyond keep
 * deleted), the worker (this binary with --figure-worker), the ring. Returns
 * 0 or an error with *err set. ev_figures_free accepts a zeroed or failed one. */
int ev_figures_init(ev_figures_t *f, const char *report_dir, int keep, int queue,
                    int timeout_ms, dn_err_t *err);
void ev_figures_free(ev_figures_t *f);
int ev_figures_on(const ev_figures_t *f);

/* Wants the figure set of histogram k of flagged run seq, method m. */
void ev_figures_want(ev_figures_t *f, const ev_book_t *b, uint64_t seq, int m, int k);

/* Collects the worker's answers and hands it the oldest wanted set when it
 * is idle. Returns the sets wanted and not drawn yet. */
int ev_figures_round(ev_figures_t *f, const ev_book_t *b, const ev_judge_t *j);
int ev_figures_waiting(const ev_figures_t *f);

/* The stop line's account of the sets: "N sets wanted, ... older deleted". */
void ev_figures_account(const ev_figures_t *f, char *buf, size_t cap);

/* The helper process's main (the binary run with --figure-worker). */
int ev_figure_worker_main(void);

/* ---- report (report.c) --------------------------------------------------------- */

/* Writes the report into dir (atomically, file by file): metrics.json, the
 * scores CSVs, flags.csv, runs.csv, subsystems.csv, labels.csv (from the
 * store's ev.labels: commit first), references.root when root (a failure of
 * it only logged), then FINAL when final; logs the summary table. Returns 0
 * or an error with *err set. */
int ev_report_write(const ev_book_t *b, const ev_judge_t *j, const int methods[EV_METHODS],
                    dn_store_t *store, const char *dir, int final, int root, dn_err_t *err);

#endif
