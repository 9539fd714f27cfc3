/* model.h: what the dashboard knows of the stream, in memory, compact.
 *
 * The model is the summary every page is drawn from without touching the
 * disk: per histogram key its name, subsystem, bins, thresholds per method,
 * and one cell per run holding the key (the chi2 and status each method's
 * Score gave, the label that judges it); per run its number, time, keys, the
 * assessment of each method (severity, combined score, worst histograms:
 * evaluator's rule, lib/core/severity.h), and the label a shifter sees.
 * Pulls, references and counts are not here: detail.h keeps them on disk.
 *
 * Severity is judged exactly as the evaluator judges (services/evaluator/
 * judge.c), from the thresholds the evaluator publishes (Threshold entries):
 * a histogram's score log(chi2 / n_bins) against (bad, warning); a run of the
 * continual regime (run_seq >= historical_runs) takes the worst severity of
 * its histograms once every histogram is scored by that method and every
 * scored key has its threshold; runs of the historical regime, and runs not
 * complete yet, are "none" (not judged). So the runs the dashboard lists as
 * bad are the bad runs of the evaluator's flags.csv.
 *
 * Every update is idempotent (the same entry applied twice leaves the same
 * state), so entries redelivered after a restart change nothing. Updates
 * mark runs dirty; dash_model_settle() re-assesses the dirty runs once per
 * round and hands their numbers to the caller (the live events).
 *
 * Memory: 24 bytes per (run, histogram) cell (arrays grown by an eighth),
 * ~200 per run, the distinct key lists (runs holding the same keys share
 * one), people's label texts: 20,000 runs x 100 histograms take ~60 MB
 * (bench_dashboard measures it).
 *
 * Thread rules: none inside; the dashboard holds its lock (readers render,
 * the node thread updates). Ownership: strings passed in are copied; every
 * pointer returned lives until the next update. */
#ifndef DASH_MODEL_H
#define DASH_MODEL_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "horizon.h"
#include "severity.h"

#define DASH_METHODS 2 /* 0 = DINAMO-S, 1 = DINAMO-ML */
#define DASH_WORST 3   /* worst histograms kept per run and method */
#define DASH_MAX_SEQ (1 << 30) /* run_seqs the model holds: 0 .. DASH_MAX_SEQ - 1 */

extern const char *const dash_method_name[DASH_METHODS]; /* "s", "ml" */

/* Score status of a cell, as the Score message's (0: no score yet). */
enum { DASH_ST_NONE = 0, DASH_ST_OK = 1, DASH_ST_INSUFFICIENT = 2, DASH_ST_REJECTED = 3 };

/* Where the label a shifter sees came from. */
typedef enum dash_label_state_t {
    DASH_LABEL_AWAITING = 0, /* nobody labelled the run yet */
    DASH_LABEL_AUTO,         /* accepted by an automatic rule */
    DASH_LABEL_RECORDED,     /* came with the input (generator truth, a recorded label) */
    DASH_LABEL_PERSON,       /* a person's verdict */
} dash_label_state_t;

typedef struct dash_cell_t {
    double chi2[DASH_METHODS];
    uint8_t status[DASH_METHODS]; /* DASH_ST_* */
    int8_t label;                 /* -1 none, 0 good, 1 bad */
    uint8_t label_auto;           /* the label is an automatic one */
    uint8_t held;                 /* the run holds the key (it arrived) */
} dash_cell_t;

typedef struct dash_key_t {
    char *name;
    int subsystem;                  /* index into the model's subsystems */
    int n_bins;
    int n_bins_y;                   /* 2-D: bins of y (flattened x outer); 0: 1-D */
    uint8_t shape_known;            /* n_bins_y was fixed by a run (scores do not say) */
    double bad[DASH_METHODS], warning[DASH_METHODS]; /* NAN until published */
    char origin[DASH_METHODS][16];  /* "policy", "tuned", "untunable", "" */
    double alpha;                   /* S's alpha of the latest score (NAN) */
    uint64_t first_seq;             /* cells[i] is run first_seq + i */
    dash_cell_t *cells;
    int n_cells, cap_cells;
    /* DINAMO-S at several horizons (lib/core/horizon.h), as the evaluator's
     * book keeps them: the lagged horizons' names, fixed by the key's first
     * OK S Score (a later Score naming others loses its horizons); their chi2
     * per cell, hz_chi2[i * n_lagged + h - 1] beside cells[i] (NAN:
     * unavailable), NULL until a Score brought some; and the thresholds the
     * evaluator published for them (hz_tuned once it did; NAN: never votes). */
    uint8_t hz_fixed, hz_tuned;
    int n_lagged;
    char hz_name[DN_HZ_MAX - 1][DN_HZ_NAME_MAX];
    double hz_bad[DN_HZ_MAX - 1];
    double *hz_chi2;
    int cap_hz;                     /* rows of hz_chi2 */
} dash_key_t;

typedef struct dash_assess_t {
    uint8_t severity;               /* dn_severity_t of the run (NONE: not judged) */
    int n_scored;                   /* histograms with a score (any status) */
    double chi2, bins;              /* over the OK scores: combined = log(chi2 / bins) */
    int worst[DASH_WORST];          /* key indices, -1 */
    double excess[DASH_WORST];      /* combined margin (one horizon: score - bad threshold) */
    int8_t fired[DASH_WORST];       /* the horizon giving it (0 now) */
} dash_assess_t;

typedef struct dash_run_t {
    uint8_t present;                /* the run arrived */
    uint8_t detail;                 /* its detail is still on disk */
    uint8_t counted;                /* its severities are in the model's counts */
    int64_t run_number;
    double time;                    /* NAN when the run gave none */
    int n_hist;
    int *keys;                      /* [n_hist] key indices, the run's order (shared:
                                       the model's key_lists own them) */
    dash_assess_t m[DASH_METHODS];
    /* the label shown */
    uint8_t lstate, lverdict;       /* dash_label_state_t; 0 good 1 bad */
    double ltime;
    char *who, *reason;             /* NULL when none */
} dash_run_t;

/* A set of run_seqs in the order they were added, each once (a flag per seq
 * says who is in): the runs a round must re-assess, the runs whose live
 * event is due. */
typedef struct dash_seqset_t {
    int *seq, n, cap;
    uint8_t *in;
    int cap_in;
} dash_seqset_t;

/* Adds seq (>= 0) unless it is in. Returns 0 or DN_ENOMEM (the set unchanged). */
int dash_seqset_add(dash_seqset_t *s, int seq);
/* Empties the set (keeps its memory). */
void dash_seqset_clear(dash_seqset_t *s);
void dash_seqset_free(dash_seqset_t *s);

typedef struct dash_model_t {
    dash_key_t *keys;
    int n_keys, cap_keys;
    void *key_index;                /* dn_keytab_t: name -> key index */
    char **subsystems;
    int n_subsystems, cap_subsystems;
    dash_run_t *runs;               /* indexed by run_seq */
    int n_runs, cap_runs;
    int historical_runs;            /* -1 until a Threshold said it */
    char stream[128];
    uint8_t shown[DASH_METHODS];   /* methods the dashboard follows (both by default) */
    int ended;                      /* END_OF_STREAM seen on the events log */
    int counts[DASH_METHODS][DN_SEV_COUNT];
    int awaiting;
    dash_seqset_t dirty;            /* run seqs to re-assess */
    uint64_t version;               /* +1 per settle that changed something */
    int **key_lists;                /* the distinct key lists runs point to */
    int *key_list_n;
    int n_key_lists, cap_key_lists;
} dash_model_t;

/* Sets up the lock the model is used under (the node thread writes, the
 * server's threads read): writers first, so pages reading heavy views back
 * to back (a key's history, the metrics) never hold the node thread off;
 * glibc's default lets readers that overlap keep a writer out for as long as
 * they overlap. Returns 0 or an errno value. */
int dash_model_lock_init(pthread_rwlock_t *lock);

/* Sets up an empty model. Returns 0 or DN_ENOMEM. */
int dash_model_init(dash_model_t *m);
void dash_model_free(dash_model_t *m);

/* The index of key `name` (subsystem and n_bins set when it is new or when
 * they were unknown), added when new; -1 on DN_ENOMEM. */
int dash_model_key(dash_model_t *m, const char *name, const char *subsystem, int n_bins);

/* Whether a histogram of n_bins bins, n_bins_y of y (0: 1-D), has key k's
 * binning, the key's first run fixing it (a score gives the bins only): 1 it
 * has, 2 it has and fixed the key's shape just now, 0 it has not (the same
 * bins in another shape count as another binning). */
int dash_model_key_shape(dash_model_t *m, int k, int n_bins, int n_bins_y);

/* A run arrived: its number, time (NAN: none) and keys (indices). Returns 0,
 * DN_ENOMEM, DN_EINVAL (seq beyond 2^31). */
int dash_model_run(dash_model_t *m, uint64_t seq, int64_t run_number, double time,
                   const int *keys, int n_hist);

/* Method me's score of key k in run seq: status DASH_ST_*, chi2 (OK only),
 * S's alpha (NAN). Returns 0 or DN_ENOMEM. */
int dash_model_score(dash_model_t *m, int me, uint64_t seq, int k, int status, double chi2,
                     double alpha);

/* The lagged horizons of S's OK Score of key k in run seq: names[n] and
 * chi2[n] (NAN: unavailable). The key's first fixes its names; a Score
 * naming others is not taken (returns 1: the caller counts it). Returns 0,
 * 1, DN_ENOMEM. */
int dash_model_score_hz(dash_model_t *m, uint64_t seq, int k, int n, const char *const *names,
                        const double *chi2);

/* The horizons' thresholds the evaluator published for S of key k: names[n]
 * and bad[n] (NAN: never votes), matched to the key's horizons by name.
 * Dirties the runs holding the key. Returns 0 or DN_ENOMEM. */
int dash_model_threshold_hz(dash_model_t *m, int k, int n, const char *const *names,
                            const double *bad);

/* A label of run seq: for key k, or every key of the run (k < 0); verdict 0
 * good, 1 bad; state as shown; who/reason may be NULL. A person's label is
 * never replaced by an automatic one (the evaluator's rule). Returns 0 or
 * DN_ENOMEM. */
int dash_model_label(dash_model_t *m, uint64_t seq, int k, int verdict,
                     dash_label_state_t state, const char *who, const char *reason,
                     double time);

/* Sets the label shown for run seq as a restart reads it back (the cells'
 * labels are restored with them). Returns 0 or DN_ENOMEM. */
int dash_model_shown(dash_model_t *m, uint64_t seq, dash_label_state_t state, int verdict,
                     const char *who, const char *reason, double time);

/* The thresholds of (k, me) as the evaluator published them. Returns 0. */
int dash_model_threshold(dash_model_t *m, int k, int me, double bad, double warning,
                         int historical_runs, const char *origin);

/* Re-assesses every dirty run; hands each one's seq to fn (may be NULL), then
 * clears the set. Returns how many runs were handed. */
int dash_model_settle(dash_model_t *m, void (*fn)(void *arg, int seq), void *arg);

/* Marks run seq dirty (an update did). Returns 0 or DN_ENOMEM. */
int dash_model_touch(dash_model_t *m, int seq);

/* Read side. The cell of (k, seq) or NULL; the score log(chi2/n_bins) of a
 * cell by method me (NAN unless OK); its severity (evaluator's rule; NONE in
 * the historical regime or without a threshold). */
const dash_cell_t *dash_model_cell(const dash_model_t *m, int k, uint64_t seq);
double dash_model_cell_score(const dash_model_t *m, int k, const dash_cell_t *c, int me);
dn_severity_t dash_model_cell_severity(const dash_model_t *m, int k, uint64_t seq, int me);

/* The combined margin of (k, seq) by me, as the evaluator's ev_margin:
 * score - bad, or with several horizons (and their thresholds published)
 * max_h (score_h - thr_h); *fired (nullable) the horizon giving it (0 now,
 * -1 none). NAN without a score or threshold. */
double dash_model_cell_margin(const dash_model_t *m, int k, uint64_t seq, int me, int *fired);

/* S's score of (k, seq) against horizon h (0: now; NAN: unavailable). */
double dash_model_cell_score_hz(const dash_model_t *m, int k, uint64_t seq, int h);

/* The name of horizon h of key k ("now" for 0). */
const char *dash_model_hz_name(const dash_model_t *m, int k, int h);

/* The severity word of the API: "none", "insufficient", "ok", "warning", "bad". */
const char *dash_severity_word(dn_severity_t s);
/* The label state word: "awaiting", "auto", "recorded", "person". */
const char *dash_label_state_word(dash_label_state_t s);

#endif
