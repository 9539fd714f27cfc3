/* generator: streams synthetic DINAMO datasets (SPEC 1) as the events log
 * (docs/pipeline.md), standing in for an experiment's histogram feed and its
 * shifters.
 *
 * At start it generates H datasets (`histograms`), histogram i from seed
 * `seed + i` under key synthetic/h<i>, so histogram 0 equals `dinamo generate
 * --seed seed`. It then appends to its durable log "events", in this order: run
 * i (one Run with the H histograms), then the labels that became due (one Label
 * per (run, histogram) with the ground truth), and END_OF_STREAM after the last
 * run and its labels. Labels come `label_delay_runs` runs late (deterministic
 * order), or `label_delay_s` seconds after their run was appended. The
 * envelopes, and a person's labels taken from the requests socket (`dinamo
 * label`; automatic ones are not: every run has the generator's), are the
 * events producer's (lib/pipe/events.h), as for the feed.
 *
 * Pacing: `rate` runs per second, or (0) as fast as flow control allows: the
 * log is published at most `window` entries beyond its slowest follower, and
 * nothing is appended while the unpublished backlog is a window long, so a slow
 * pipeline holds the generator back and memory stays bounded.
 *
 * Invariants: the log's entry at an offset never changes; its checkpoint
 * (next run, next label, pending label times, and a fingerprint of the
 * parameters) commits in the same LMDB transaction as the entries it accounts
 * for, so a restarted generator (kill -9 included) appends exactly the entries
 * the uninterrupted one would have. A restart with other parameters over the
 * same log is refused.
 *
 * Slow anomalies (`slow_defects` > 0 and the other slow_* keys, generator.h):
 * every histogram's dataset has its own episodes (its own seed), each Label's
 * Truth carries slow_kind, slow_size and slow_bad, and the label is bad where
 * the defect passed its tolerance. With localised, the ordinary bad runs are
 * the seed's own (dn_generate_bad_runs), broken as before, and the slow
 * defects lie on top of every histogram. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "clock.h"
#include "events.h"
#include "generator.h"
#include "log.h"
#include "msg.h"
#include "node.h"
#include "rng.h"

typedef struct gen_t {
    /* configuration */
    dn_gen_params_t params;
    dn_slow_params_t slow;   /* slow anomalies; n_defects 0: off */
    uint64_t seed;
    int n_hist;
    char stream[128];
    int delay_runs;
    double delay_s;
    double rate;
    char fingerprint[2048];
    /* data */
    dn_dataset_t **ds;       /* [n_hist] */
    char **keys;             /* [n_hist] "synthetic/h<i>" */
    char **subsys;           /* [n_hist] "synthetic", or "sub<i mod subsystems>" */
    dn_histin_t *row;        /* [n_hist] the histograms of a run, counts set per run */
    int n_subsys, localised, broken_max;
    dn_events_t *ev;         /* the events log: runs appended, labels, end of stream */
    /* state (checkpointed) */
    uint64_t next_label;     /* next run whose labels are to be appended */
    double *appended_at;     /* [n_runs] wall time each run was appended (delay_s) */
    /* pacing (not checkpointed: a restart starts a new schedule) */
    double t0;
    uint64_t run0;
} gen_t;

static uint64_t n_runs(const gen_t *g)
{
    return (uint64_t)g->params.n_runs;
}

/* The next run to append: run_seq i is run i of the datasets. */
static uint64_t next_run(const gen_t *g)
{
    return dn_events_stats(g->ev).runs;
}

/* ---- appending ----------------------------------------------------------- */

static int append_run(gen_t *g, uint64_t i, dn_err_t *err)
{
    for (int k = 0; k < g->n_hist; k++)
        g->row[k].counts = g->ds[k]->counts + (size_t)i * (size_t)g->ds[k]->n_bins;
    double now = dn_clock_wall();
    int rc = dn_events_append_run(g->ev, g->ds[0]->run[i], now, g->row, g->n_hist, err);
    if (rc)
        return rc;
    g->appended_at[i] = now;
    return 0;
}

static int append_labels(gen_t *g, uint64_t i, dn_err_t *err)
{
    for (int k = 0; k < g->n_hist; k++) {
        const dn_dataset_t *ds = g->ds[k];
        Dinamo__Truth t = DINAMO__TRUTH__INIT;
        t.has_mu = t.has_sigma = t.has_rapid_mu = t.has_rapid_sigma = 1;
        t.has_events = ds->events[i] >= 0; /* -1: unknown (dataset.h) */
        t.has_dead_bins = ds->dead_bins[i] >= 0;
        t.mu = ds->true_mu[i];
        t.sigma = ds->true_sigma[i];
        t.rapid_mu = ds->rapid_mu[i] != 0;
        t.rapid_sigma = ds->rapid_sigma[i] != 0;
        t.events = ds->events[i];
        t.dead_bins = ds->dead_bins[i];
        if (ds->slow_kind) { /* only in the slow mode: SPEC 1 labels unchanged */
            t.has_slow_kind = t.has_slow_size = t.has_slow_bad = 1;
            t.slow_kind = ds->slow_kind[i];
            t.slow_size = ds->slow_size[i];
            t.slow_bad = ds->slow_bad[i] != 0;
        }
        dn_events_label_t l = {.run_number = ds->run[i], .run_seq = i, .bad = ds->label[i] != 0,
                               .source = DINAMO__LABEL_SOURCE__GENERATOR,
                               .histogram_key = g->keys[k], .truth = &t};
        int rc = dn_events_append_label(g->ev, &l, err);
        if (rc)
            return rc;
    }
    g->next_label = i + 1;
    return 0;
}

static int append_eos(gen_t *g, dn_err_t *err)
{
    return dn_events_append_eos(g->ev, n_runs(g) ? g->ds[0]->run[n_runs(g) - 1] : -1, err);
}

/* Labels due now: with a delay in runs, those of runs up to next_run - 1 -
 * delay_runs (all of them once every run is out); in seconds, those whose run
 * was appended delay_s ago. *wait_ms: when the next one falls due (seconds). */
static int labels_due(const gen_t *g, double now, uint64_t *upto, int *wait_ms)
{
    const uint64_t out = next_run(g);
    uint64_t u = g->next_label;
    if (g->delay_s > 0.0) {
        while (u < out && g->appended_at[u] + g->delay_s <= now)
            u++;
        if (u < out) {
            double w = g->appended_at[u] + g->delay_s - now;
            *wait_ms = (int)ceil(w * 1000.0);
        }
    } else if (out == n_runs(g)) {
        u = out;
    } else if (out > (uint64_t)g->delay_runs) {
        u = out - (uint64_t)g->delay_runs;
    }
    *upto = u;
    return u > g->next_label;
}

/* Appends what is due and fits. Returns 0 or an error; *wait_ms = how long the
 * loop may sleep (0: more to do right away). */
static int advance(gen_t *g, int *wait_ms, dn_err_t *err)
{
    *wait_ms = DN_SERVICE_POLL_MAX_MS;
    double now = dn_clock_wall();
    int appended = 0;
    for (;;) {
        if (dn_events_room(g->ev) <= 0)
            return 0; /* flow control: the pump's progress wakes us */
        uint64_t upto;
        int lw = DN_SERVICE_POLL_MAX_MS;
        if (labels_due(g, now, &upto, &lw)) {
            int rc = append_labels(g, g->next_label, err);
            if (rc)
                return rc;
            continue;
        }
        if (lw < *wait_ms)
            *wait_ms = lw < 0 ? 0 : lw;
        const uint64_t i = next_run(g);
        if (i < n_runs(g)) {
            if (appended >= DN_EVENTS_RUNS_PER_ROUND) {
                *wait_ms = 0;
                return 0;
            }
            if (g->rate > 0.0) {
                double due = g->t0 + (double)(i - g->run0) / g->rate;
                if (due > now) {
                    int w = (int)ceil((due - now) * 1000.0);
                    if (w < *wait_ms)
                        *wait_ms = w;
                    return 0;
                }
            }
            int rc = append_run(g, i, err);
            if (rc)
                return rc;
            appended++;
            continue;
        }
        if (!dn_events_stats(g->ev).ended && g->next_label == n_runs(g))
            return append_eos(g, err);
        return 0;
    }
}

/* ---- checkpoint ------------------------------------------------------------
 * The body after the node's framing: the events producer's record
 * (fingerprint, runs, labels, end of stream), the next run to label, and the
 * append times of the runs whose labels are still to come (label_delay_s). */

static void save(void *self, dn_wbuf_t *w)
{
    const gen_t *g = self;
    dn_events_save(g->ev, w);
    dn_wb_u64(w, g->next_label);
    dn_wb_u64(w, next_run(g) - g->next_label);
    for (uint64_t i = g->next_label; i < next_run(g); i++)
        dn_wb_f64(w, g->appended_at[i]);
}

static int load(dn_node_t *node, void *self, dn_rbuf_t *r, dn_err_t *err)
{
    (void)node;
    gen_t *g = self;
    int rc = dn_events_load(g->ev, r, err);
    if (rc)
        return rc;
    const uint64_t out = next_run(g);
    g->next_label = dn_rb_u64(r);
    uint64_t n_pending = dn_rb_u64(r);
    if (!r->bad && (out > n_runs(g) || g->next_label > out || n_pending != out - g->next_label))
        return dn_err_set(err, DN_EFORMAT, "checkpoint generator: inconsistent (next run "
                          "%llu, next label %llu, %llu pending, %llu runs)",
                          (unsigned long long)out, (unsigned long long)g->next_label,
                          (unsigned long long)n_pending, (unsigned long long)n_runs(g));
    for (uint64_t i = g->next_label; !r->bad && i < out; i++)
        g->appended_at[i] = dn_rb_f64(r);
    dn_events_stats_t st = dn_events_stats(g->ev);
    dn_log(DN_LOG_INFO, "restored: %llu of %llu runs and %llu labels appended%s",
           (unsigned long long)out, (unsigned long long)n_runs(g),
           (unsigned long long)st.labels, st.ended ? ", end of stream sent" : "");
    return 0;
}

/* ---- service callbacks ------------------------------------------------------- */

/* A label from the requests socket (`dinamo label`) for a run already
 * appended goes into the log next to the ground truth the generator gave it.
 * The generator labels every run itself, so automatic labels are not taken. */
static int on_label_request(dn_node_t *node, void *self, const Dinamo__Envelope *request,
                            dn_err_t *err)
{
    (void)node;
    gen_t *g = self;
    dn_events_run_t run = {.labelled = 1};
    run.found = dn_events_find_row(g->ds[0]->run, next_run(g), request->label->run_number,
                                   &run.run_seq);
    return dn_events_take_label(g->ev, request->label, &run, err);
}

static int round_work(dn_node_t *node, void *self, int *wait_ms, dn_err_t *err)
{
    gen_t *g = self;
    int rc = advance(g, wait_ms, err);
    if (!rc)
        dn_events_stop_when_delivered(g->ev, node);
    return rc;
}

static int tick(dn_node_t *node, void *self, dn_err_t *err)
{
    (void)err;
    const gen_t *g = self;
    dn_node_progress(node, next_run(g), n_runs(g));
    dn_source_stats_t st = dn_source_stats(dn_events_source(g->ev));
    dn_log(DN_LOG_DEBUG, "runs %llu/%llu entries %llu published %llu slowest %llu followers %d",
           (unsigned long long)next_run(g), (unsigned long long)n_runs(g),
           (unsigned long long)st.head, (unsigned long long)st.cursor,
           (unsigned long long)st.slowest, st.followers);
    return 0;
}

static void stop(dn_node_t *node, void *self)
{
    (void)node;
    const gen_t *g = self;
    dn_source_stats_t st = dn_source_stats(dn_events_source(g->ev));
    dn_log(DN_LOG_INFO, "stopped: %llu of %llu runs, %llu labels appended, %llu entries "
           "published (%llu republished, %llu rewinds, %llu bad requests)",
           (unsigned long long)next_run(g), (unsigned long long)n_runs(g),
           (unsigned long long)dn_events_stats(g->ev).labels, (unsigned long long)st.published,
           (unsigned long long)st.republished, (unsigned long long)st.rewinds,
           (unsigned long long)st.requests_bad);
}

/* ---- configuration ------------------------------------------------------------ */

static const dn_config_key_t own_keys[] = {
    {"seed", DN_CFG_INT, "70", "dataset seed; histogram i uses seed + i"},
    {"histograms", DN_CFG_INT, "1", "histograms per run (keys synthetic/h0 ..)"},
    {"stream", DN_CFG_STRING, "", "stream name (default synthetic-seed<seed>)"},
    {"label_delay_runs", DN_CFG_INT, "0", "labels of run i follow run i + this"},
    {"label_delay_s", DN_CFG_DOUBLE, "0", "labels follow their run after this many seconds "
                                          "(overrides label_delay_runs when > 0)"},
    {"rate", DN_CFG_DOUBLE, "0", "runs per second; 0: as fast as the pipeline takes"},
    DN_EVENTS_KEYS,
    {"subsystems", DN_CFG_INT, "1", "histogram i belongs to subsystem sub<i mod this> (1: "
                                    "all in \"synthetic\")"},
    {"localised", DN_CFG_BOOL, "false",
     "bad runs are those of histogram 0's dataset, and each breaks only 1..broken_max "
     "histograms of one subsystem (the others stay good): localisation can be measured"},
    {"broken_max", DN_CFG_INT, "2", "localised: most histograms broken per bad run"},
};

/* A generator parameter's config key: its CLI name with '_' for '-'. */
static void config_name(char *buf, size_t cap, const char *cli_name)
{
    snprintf(buf, cap, "%s", cli_name);
    for (char *c = buf; *c; c++)
        if (*c == '-')
            *c = '_';
}

/* The generator parameters as config keys. */
typedef struct param_keys_t {
    dn_config_key_t *keys;
    char (*names)[48];
    char (*defs)[40];
    int n;
} param_keys_t;

/* The generator parameters and then the slow-anomaly ones, as config keys. */
static int param_keys_build(param_keys_t *pk)
{
    int n_gen = 0, n_slow = 0;
    const dn_gen_param_info_t *gen = dn_gen_param_table(&n_gen);
    const dn_gen_param_info_t *slow = dn_slow_param_table(&n_slow);
    const int n_tab = n_gen + n_slow;
    int n_own = (int)(sizeof own_keys / sizeof *own_keys);
    pk->keys = calloc((size_t)(n_tab + n_own), sizeof *pk->keys);
    pk->names = calloc((size_t)n_tab, sizeof *pk->names);
    pk->defs = calloc((size_t)n_tab, sizeof *pk->defs);
    if (!pk->keys || !pk->names || !pk->defs)
        return DN_ENOMEM;
    dn_gen_params_t def;
    dn_gen_params_default(&def);
    dn_slow_params_t sdef;
    dn_slow_params_default(&sdef);
    for (int i = 0; i < n_tab; i++) {
        const dn_gen_param_info_t *info = i < n_gen ? &gen[i] : &slow[i - n_gen];
        const char *base = i < n_gen ? (const char *)&def : (const char *)&sdef;
        config_name(pk->names[i], sizeof pk->names[i], info->name);
        const char *field = base + info->offset;
        if (info->type == DN_GEN_INT) {
            int v;
            memcpy(&v, field, sizeof v);
            snprintf(pk->defs[i], sizeof pk->defs[i], "%d", v);
        } else {
            double v;
            memcpy(&v, field, sizeof v);
            snprintf(pk->defs[i], sizeof pk->defs[i], "%.17g", v);
        }
        pk->keys[i] = (dn_config_key_t){pk->names[i], info->type == DN_GEN_INT ? DN_CFG_INT
                                                                                : DN_CFG_DOUBLE,
                                        pk->defs[i], info->help};
    }
    for (int i = 0; i < n_own; i++)
        pk->keys[n_tab + i] = own_keys[i];
    pk->n = n_tab + n_own;
    return 0;
}

static void param_keys_free(param_keys_t *pk)
{
    free(pk->keys);
    free(pk->names);
    free(pk->defs);
}

static int read_params(gen_t *g, dn_node_t *node, dn_err_t *err)
{
    const dn_config_t *cfg = dn_node_config(node);
    int n_tab = 0;
    const dn_gen_param_info_t *tab = dn_gen_param_table(&n_tab);
    dn_gen_params_default(&g->params);
    for (int i = 0; i < n_tab; i++) {
        char name[48];
        config_name(name, sizeof name, tab[i].name);
        int rc = dn_gen_params_set(&g->params, tab[i].name, dn_config_str(cfg, name), err);
        if (rc)
            return rc;
    }
    int n_slow = 0;
    const dn_gen_param_info_t *slow = dn_slow_param_table(&n_slow);
    dn_slow_params_default(&g->slow);
    for (int i = 0; i < n_slow; i++) {
        char name[48];
        config_name(name, sizeof name, slow[i].name);
        int rc = dn_slow_params_set(&g->slow, slow[i].name, dn_config_str(cfg, name), err);
        if (rc)
            return rc;
    }
    int rc = dn_gen_params_check(&g->params, err);
    if (rc || (rc = dn_slow_params_check(&g->slow, &g->params, err)))
        return rc;
    int64_t seed, hist, delay_runs, n_subsys, broken_max;
    if ((rc = dn_node_int(node, "seed", 0, INT64_MAX, &seed, err)) ||
        (rc = dn_node_int(node, "histograms", 1, 100000, &hist, err)) ||
        (rc = dn_node_int(node, "label_delay_runs", 0, INT32_MAX, &delay_runs, err)) ||
        (rc = dn_node_double(node, "label_delay_s", 0, INFINITY, &g->delay_s, err)) ||
        (rc = dn_node_double(node, "rate", 0, INFINITY, &g->rate, err)) ||
        (rc = dn_node_int(node, "subsystems", 1, hist, &n_subsys, err)) ||
        (rc = dn_node_int(node, "broken_max", 1, 1000, &broken_max, err)))
        return rc;
    g->localised = dn_node_bool(node, "localised");
    g->n_subsys = (int)n_subsys;
    g->broken_max = (int)broken_max;
    if (g->params.n_runs < 1)
        return dn_err_set(err, DN_EINVAL, "runs %d: need at least one run", g->params.n_runs);
    g->seed = (uint64_t)seed;
    g->n_hist = (int)hist;
    g->delay_runs = (int)delay_runs;
    if (dn_config_str(cfg, "stream")[0])
        snprintf(g->stream, sizeof g->stream, "%s", dn_config_str(cfg, "stream"));
    else
        snprintf(g->stream, sizeof g->stream, "synthetic-seed%llu", (unsigned long long)g->seed);
    /* What fixes the log's content (pacing and delays in seconds do not
     * change what a follower computes; the delay in runs does). */
    int len = snprintf(g->fingerprint, sizeof g->fingerprint,
                       "seed=%llu histograms=%d stream=%s delay_runs=%d delay_s=%s "
                       "subsystems=%d localised=%d broken_max=%d",
                       (unsigned long long)g->seed, g->n_hist, g->stream, g->delay_runs,
                       g->delay_s > 0 ? "yes" : "no", g->n_subsys, g->localised,
                       g->broken_max);
    for (int i = 0; i < n_tab && len > 0 && (size_t)len < sizeof g->fingerprint; i++) {
        char name[48];
        config_name(name, sizeof name, tab[i].name);
        len += snprintf(g->fingerprint + len, sizeof g->fingerprint - (size_t)len, " %s=%s",
                        tab[i].name, dn_config_str(cfg, name));
    }
    /* The slow parameters only when the mode is on: a log without it keeps
     * the fingerprint it had before the mode existed. */
    for (int i = 0; g->slow.n_defects > 0 && i < n_slow && len > 0 &&
                    (size_t)len < sizeof g->fingerprint; i++) {
        char name[48];
        config_name(name, sizeof name, slow[i].name);
        len += snprintf(g->fingerprint + len, sizeof g->fingerprint - (size_t)len, " %s=%s",
                        slow[i].name, dn_config_str(cfg, name));
    }
    if (len < 0 || (size_t)len >= sizeof g->fingerprint)
        return dn_err_set(err, DN_EINVAL, "the parameters do not fit the log's fingerprint "
                          "(%zu bytes; a shorter stream name helps)", sizeof g->fingerprint);
    return 0;
}

/* Localised anomalies: the bad runs are those of the seed's dataset; at each,
 * one subsystem (drawn) has 1..broken_max of its histograms broken (drawn), each
 * taken from its own seed's dataset with those bad runs; every other histogram
 * of the run is the same seed's run without an anomaly (dn_generate_with_bad
 * makes the two agree on good runs). Labels and truth are per histogram. */
static int localise(gen_t *g, dn_err_t *err)
{
    const int n = g->params.n_runs, H = g->n_hist;
    int *bad = malloc(sizeof(int) * ((size_t)n + 1)), n_bad = 0;
    int *members = malloc(sizeof(int) * ((size_t)H + 1)), *pick = malloc(sizeof(int) * ((size_t)H + 1));
    int *scratch = malloc(sizeof(int) * ((size_t)H + 1));
    uint8_t *broken = calloc((size_t)n * (size_t)H + 1, 1);
    int rc = DN_OK;
    if (!bad || !members || !pick || !scratch || !broken) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory");
        goto done;
    }
    if (g->slow.n_defects > 0) { /* the labels hold the slow-bad runs too */
        if ((rc = dn_generate_bad_runs(&g->params, g->seed, bad, err)))
            goto done;
        n_bad = g->params.n_anomalous;
    } else {
        for (int i = 0; i < n; i++)
            if (g->ds[0]->label[i])
                bad[n_bad++] = i;
    }
    dn_rng_t rng;
    dn_rng_seed_stream(&rng, g->seed, UINT64_C(0x10CA115ED));
    for (int b = 0; b < n_bad; b++) {
        int s = (int)dn_rng_below(&rng, (uint64_t)g->n_subsys), cnt = 0;
        for (int h = s; h < H; h += g->n_subsys)
            members[cnt++] = h;
        int k = 1 + (int)dn_rng_below(&rng, (uint64_t)(g->broken_max < cnt ? g->broken_max : cnt));
        dn_rng_choose(&rng, cnt, k, pick, scratch);
        for (int q = 0; q < k; q++)
            broken[(size_t)bad[b] * H + members[pick[q]]] = 1;
    }
    for (int h = 0; h < H; h++) {
        dn_dataset_t *dirty = NULL, *clean = NULL;
        uint64_t sd = g->seed + (uint64_t)h;
        if ((rc = dn_generate_slow_with_bad(&g->params, &g->slow, sd, bad, n_bad, &dirty,
                                            err)) ||
            (rc = dn_generate_slow_with_bad(&g->params, &g->slow, sd, NULL, 0, &clean, err))) {
            dn_dataset_destroy(&dirty);
            goto done;
        }
        const int nb = clean->n_bins;
        for (int i = 0; i < n; i++) {
            if (!broken[(size_t)i * H + h])
                continue;
            memcpy(clean->counts + (size_t)i * nb, dirty->counts + (size_t)i * nb,
                   sizeof(double) * (size_t)nb);
            clean->label[i] = 1;
            clean->true_mu[i] = dirty->true_mu[i];
            clean->true_sigma[i] = dirty->true_sigma[i];
            clean->dead_bins[i] = dirty->dead_bins[i];
        }
        dn_dataset_destroy(&dirty);
        dn_dataset_destroy(&g->ds[h]);
        g->ds[h] = clean;
    }
done:
    free(bad);
    free(members);
    free(pick);
    free(scratch);
    free(broken);
    return rc;
}

static int generate_all(gen_t *g, dn_err_t *err)
{
    g->ds = calloc((size_t)g->n_hist, sizeof *g->ds);
    g->keys = calloc((size_t)g->n_hist, sizeof *g->keys);
    g->subsys = calloc((size_t)g->n_hist, sizeof *g->subsys);
    g->row = calloc((size_t)g->n_hist, sizeof *g->row);
    g->appended_at = calloc((size_t)g->params.n_runs, sizeof *g->appended_at);
    if (!g->ds || !g->keys || !g->subsys || !g->row || !g->appended_at)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    for (int k = 0; k < g->n_hist; k++) {
        int rc = dn_generate_slow(&g->params, &g->slow, g->seed + (uint64_t)k, &g->ds[k], err);
        if (rc)
            return dn_err_prefix(err, "histogram %d (seed %llu)", k,
                                 (unsigned long long)(g->seed + (uint64_t)k));
        char key[32], sub[32];
        snprintf(key, sizeof key, "synthetic/h%d", k);
        if (g->n_subsys > 1)
            snprintf(sub, sizeof sub, "sub%d", k % g->n_subsys);
        else
            snprintf(sub, sizeof sub, "synthetic");
        if (!(g->keys[k] = strdup(key)) || !(g->subsys[k] = strdup(sub)))
            return dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    if (g->localised && g->n_hist > 1) {
        int rc = localise(g, err);
        if (rc)
            return rc;
    }
    for (int k = 0; k < g->n_hist; k++) /* localise may have replaced a dataset */
        g->row[k] = (dn_histin_t){.key = g->keys[k], .subsystem = g->subsys[k],
                                  .n_bins = g->ds[k]->n_bins, .edges = g->ds[k]->edges};
    return 0;
}

static void destroy(void *self)
{
    gen_t *g = self;
    dn_events_destroy(&g->ev);
    for (int k = 0; g->ds && k < g->n_hist; k++) {
        dn_dataset_destroy(&g->ds[k]);
        free(g->keys[k]);
        if (g->subsys)
            free(g->subsys[k]);
    }
    free(g->subsys);
    free(g->ds);
    free(g->keys);
    free(g->row);
    free(g->appended_at);
    free(g);
}

static int create(dn_node_t *node, void **self, dn_err_t *err)
{
    gen_t *g = calloc(1, sizeof *g);
    if (!(*self = g))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    int rc;
    if ((rc = read_params(g, node, err)))
        return rc;
    double t_gen = dn_clock_wall();
    if ((rc = generate_all(g, err)))
        return rc;
    dn_log(DN_LOG_INFO, "generated %d dataset(s) of %d runs x %d bins (seed %llu) in %.2f s",
           g->n_hist, g->params.n_runs, g->params.n_bins, (unsigned long long)g->seed,
           dn_clock_wall() - t_gen);
    dn_events_opts_t eo = {.service = "generator", .stream = g->stream,
                           .fingerprint = g->fingerprint,
                           .own_label_rule = "the generator labels every run itself"};
    if (!(g->ev = dn_events_open(node, &eo, on_label_request, err)))
        return err->code;
    dn_log(DN_LOG_INFO, "stream %s, %d histogram(s), labels %s, rate %s, window %s", g->stream,
           g->n_hist,
           g->delay_s > 0 ? "delayed in seconds" : g->delay_runs ? "delayed in runs" : "at once",
           g->rate > 0 ? "paced" : "unpaced", dn_node_str(node, "window"));
    return 0;
}

/* Pacing starts when the loop does (after the restore), not at creation. */
static int first_round(dn_node_t *node, void *self, int *wait_ms, dn_err_t *err)
{
    gen_t *g = self;
    if (g->t0 == 0.0) {
        g->t0 = dn_clock_wall();
        g->run0 = next_run(g);
    }
    return round_work(node, self, wait_ms, err);
}

int main(int argc, char **argv)
{
    param_keys_t pk = {0};
    if (param_keys_build(&pk)) {
        fprintf(stderr, "generator: out of memory\n");
        param_keys_free(&pk);
        return 1;
    }
    dn_node_def_t def = {
        .name = "generator",
        .usage = "Streams synthetic datasets (SPEC 1) as the events log; the generator\n"
                 "parameters are those of `dinamo generate` with '_' for '-'.\n",
        .keys = pk.keys, .n_keys = pk.n, .flags = DN_NODE_STORE,
        .create = create, .destroy = destroy, .round = first_round, .tick = tick,
        .stop = stop, .ckpt_magic = "DNGN", .ckpt_version = 3, .save = save, .load = load,
    };
    int status = dn_node_main(&def, argc, argv);
    param_keys_free(&pk);
    return status;
}
