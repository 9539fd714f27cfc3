/* fuzz_checkpoint.c: libFuzzer target for the checkpoint a scorer service
 * restores at start: the node's frame (lib/pipe/node.h,
 * dn_node_checkpoint_open: magic, version, the followed logs' offsets) and
 * the scorer's body (lib/pipe/scorer.h, dn_scorer_load: positions, flags,
 * END_OF_STREAM, each key's name, bins and state), with a method whose key
 * state is a DINAMO-S tracker (lib/core/dinamo_s.h, dn_s_load, as scorer_s
 * keeps) and whose own part is a sequence tracker (lib/pipe/msg.h,
 * dn_seq_tracker_load, as services keep their producers' sequences). The held
 * runs' table of its store is empty (fuzz_held.c fuzzes those rows); the
 * store is an LMDB under /dev/shm (else $TMPDIR), made once.
 *
 * Checked beyond "no crash":
 *   - a refusal returns a named error naming the checkpoint ("scorer_f");
 *   - an accepted checkpoint's keys have the bins their trackers have;
 *     framed and saved again (the node's frame, then dn_scorer_save) it is
 *     the input's bytes up to the method's part (unless a tracker came in an
 *     older format, DINAMO-S state version 1: it saves as the current
 *     one), and loads again to the same
 *     sequence totals (the sequence tracker is a set: it saves its producers
 *     in its hash table's order, not the order they were read in). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dinamo_s.h"
#include "fuzzcheck.h"
#include "msg.h"
#include "node.h"
#include "scorer.h"
#include "store.h"

#define NAME "scorer_f"

static const dn_node_def_t def = {.name = NAME, .ckpt_magic = "DNSF", .ckpt_version = 1};

/* The method: a key's state is a DINAMO-S tracker, its own part a sequence
 * tracker; scoring is never asked for here. */
typedef struct {
    dn_seq_tracker_t *seq;
} method_t;

static int key_new(void *m, const char *key, int n_bins, int64_t run, void **state,
                   dn_err_t *err)
{
    (void)m, (void)key, (void)run;
    *state = dn_s_new(n_bins, 0.1);
    return *state ? 0 : dn_err_set(err, DN_ENOMEM, "out of memory");
}

static void key_free(void *m, void *state)
{
    (void)m;
    dn_s_t *s = state;
    dn_s_destroy(&s);
}

static int score(void *m, void *state, const dn_scorer_hist_t *h, dn_scorer_out_t *out,
                 dn_err_t *err)
{
    (void)m, (void)state, (void)h, (void)out;
    return dn_err_set(err, DN_ESTATE, "not scoring");
}

static int learn(void *m, void *state, const dn_scorer_hist_t *h, dn_err_t *err)
{
    (void)m, (void)state, (void)h, (void)err;
    return 0;
}

static void key_save(void *m, const void *state, dn_wbuf_t *w)
{
    (void)m;
    size_t n = dn_s_state_size(state);
    dn_wb_u32(w, (uint32_t)n);
    if (!dn_wb_need(w, n)) {
        dn_s_save(state, w->p + w->len, n);
        w->len += n;
    }
}

/* Set when a key's tracker was read in an older format than it saves in. */
static int upgraded;

static int key_load(void *m, const char *key, int n_bins, dn_rbuf_t *r, void **state,
                    dn_err_t *err)
{
    (void)m, (void)key;
    uint32_t n = 0;
    const unsigned char *b = dn_rb_str(r, &n);
    dn_s_t *s = NULL;
    if (r->bad)
        return dn_err_set(err, DN_EFORMAT, "truncated");
    int rc = dn_s_load(b, n, &s, err);
    if (!rc && dn_s_n_bins(s) != n_bins) {
        rc = dn_err_set(err, DN_EFORMAT, "tracker of %d bins", dn_s_n_bins(s));
        dn_s_destroy(&s);
    }
    if (!rc && dn_s_state_size(s) != n)
        upgraded = 1;
    *state = s;
    return rc;
}

/* Where the method's part began in the last save, and the totals of the
 * last sequence tracker loaded. */
static size_t method_at;
static dn_seq_totals_t loaded_totals;

static void save(void *m, dn_wbuf_t *w)
{
    method_at = w->len;
    uint8_t *b = NULL;
    size_t n = 0;
    FUZZ_CHECK(dn_seq_tracker_save(((method_t *)m)->seq, &b, &n) == 0, "memory");
    dn_wb_str(w, b, n);
    free(b);
}

static int load(void *m, dn_scorer_t *sc, dn_store_t *store, dn_rbuf_t *r, dn_err_t *err)
{
    (void)sc, (void)store;
    uint32_t n = 0;
    const unsigned char *b = dn_rb_str(r, &n);
    if (r->bad)
        return dn_err_set(err, DN_EFORMAT, "checkpoint " NAME ": sequences truncated");
    int rc = dn_seq_tracker_load(((method_t *)m)->seq, b, n, err);
    if (!rc)
        loaded_totals = dn_seq_tracker_totals(((method_t *)m)->seq);
    return rc ? dn_err_prefix(err, "checkpoint " NAME) : 0;
}

static void destroy(void *m)
{
    method_t *me = m;
    dn_seq_tracker_destroy(&me->seq);
    free(me);
}

static const dn_scorer_method_t method = {
    .destroy = destroy, .key_new = key_new, .key_free = key_free, .score = score,
    .learn = learn, .key_save = key_save, .key_load = key_load, .save = save, .load = load};

static int64_t room(void *arg)
{
    (void)arg;
    return 0;
}

static int append(void *arg, Dinamo__Envelope *env, dn_err_t *err)
{
    (void)arg, (void)env;
    return dn_err_set(err, DN_ESTATE, "no appending here");
}

static dn_store_t *store;
static char dir[256];

static void cleanup(void)
{
    dn_store_destroy(&store);
    char path[400];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

/* Opens and loads a checkpoint; on success its save (framed again) into *w,
 * or w->p NULL when the body had bytes after its end. Returns the code. */
static int load_save(const uint8_t *data, size_t size, dn_wbuf_t *w)
{
    dn_err_t err = {0};
    uint64_t next[1];
    dn_rbuf_t body;
    *w = (dn_wbuf_t){0};
    int rc = dn_node_checkpoint_open(&def, data, size, 1, next, &body, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(strstr(err.msg, NAME), "refusal without the checkpoint's name: %s", err.msg);
        return rc;
    }
    method_t *m = calloc(1, sizeof *m);
    if (!m || !(m->seq = dn_seq_tracker_new())) {
        free(m);
        return DN_ENOMEM;
    }
    void *mp = m;
    dn_scorer_opts_t opts = {.name = NAME, .log = "scores_f"};
    dn_scorer_sink_t sink = {room, append, NULL};
    dn_scorer_t *sc = dn_scorer_new(&method, &mp, &opts, &sink, &err);
    FUZZ_CHECK(sc, "dn_scorer_new: %s", err.msg);
    rc = dn_scorer_load(sc, store, &body, &err);
    if (!rc && body.bad)
        rc = dn_err_set(&err, DN_EFORMAT, "checkpoint %s: truncated", NAME);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(strstr(err.msg, NAME), "refusal without the checkpoint's name: %s", err.msg);
        goto done;
    }
    FUZZ_SAY("accepted: %d keys", dn_scorer_key_count(sc));
    for (int k = 0; k < dn_scorer_key_count(sc); k++)
        FUZZ_CHECK(dn_scorer_key_bins(sc, k) >= 1, "key %d: %d bins", k,
                   dn_scorer_key_bins(sc, k));
    if (body.pos == body.len) {
        dn_wb_bytes(w, def.ckpt_magic, 4);
        dn_wb_u32(w, def.ckpt_version);
        dn_wb_u32(w, 1);
        dn_wb_u64(w, next[0]);
        dn_scorer_save(sc, w);
        if (w->oom) {
            free(w->p);
            *w = (dn_wbuf_t){0};
        }
    }
done:
    dn_scorer_destroy(&sc);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dn_err_t err = {0};
    if (!store) {
        fuzz_dir(dir, sizeof dir, "ckpt");
        store = dn_store_open(dir, DN_STORE_NOSYNC, 1 << 20, &err);
        FUZZ_CHECK(store, "%s", err.msg);
        atexit(cleanup);
    }
    dn_wbuf_t w1, w2;
    upgraded = 0;
    if (load_save(data, size, &w1) || !w1.p)
        return 0;
    size_t at1 = method_at;
    dn_seq_totals_t t1 = loaded_totals;
    /* Up to the method's own part, the save is the input's bytes. The
     * sequence tracker is a set: it saves its producers in its hash table's
     * order, which differs from the order they were read in when names
     * collide around the table's end; it must load again with the same
     * totals. */
    size_t at = 0;
    while (at < at1 && at < size && w1.p[at] == data[at])
        at++;
    FUZZ_CHECK(at == at1 || upgraded, "loaded, saved differently before the method's part (byte %zu of %zu)",
               at, at1);
    int rc = load_save(w1.p, w1.len, &w2);
    FUZZ_CHECK(rc == 0 || rc == DN_ENOMEM, "the checkpoint saved again is refused");
    FUZZ_CHECK(!w2.p || (w2.len == w1.len && method_at == at1 && !memcmp(w1.p, w2.p, at1) &&
                         !memcmp(&t1, &loaded_totals, sizeof t1)),
               "saved, loaded, saved differently (%zu bytes, then %zu)", w1.len, w2.len);
    free(w1.p);
    free(w2.p);
    return 0;
}
