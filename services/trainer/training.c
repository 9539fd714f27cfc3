/* training.c: what the trainer does with the events of its owned keys.
 *
 * A run is held, per owned key that has not seen its offset, until its label
 * arrives; the leading held runs whose labels arrived are learned in run
 * order (dn_ml_learn on good ones). A key's tracker is built at its first run
 * exactly as dn_score_dataset_ml builds it (dn_ml_new_for: SPEC 3 defaults
 * sized for the key's bins, `seed`, the initial weights) and its version 0
 * stored and published; every good run added to the key's good-run set gives
 * version + 1 with that run's run_seq and number. Each version is put to the
 * registry (an encoded ModelWeights envelope, keep_last per key), which
 * stores it and only then publishes it, so a scorer can always fetch what it
 * heard of. Training is deterministic: after a restart the same versions come
 * again bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "histo.h"
#include "log.h"
#include "mlmodel.h"
#include "service.h"
#include "trainer.h"

/* ---- versions ---------------------------------------------------------------------- */

/* The ModelWeights of ks's current version (blob: raw parameters, borrowed). */
static void weights_msg(const tkey_t *ks, int64_t run_number, uint64_t run_seq, int steps,
                        float loss, uint8_t *raw, size_t n, Dinamo__ModelWeights *w)
{
    const dn_ml_opts_t *o = dn_ml_opts(ks->ml);
    dinamo__model_weights__init(w);
    w->histogram_key = (char *)ks->key;
    w->has_version = 1;
    w->version = ks->version;
    if (ks->version > 0) {
        w->has_last_run_number = w->has_last_run_seq = 1;
        w->last_run_number = run_number;
        w->last_run_seq = run_seq;
        w->has_train_steps = 1;
        w->train_steps = (uint32_t)steps;
        if (!isnan(loss)) {
            w->has_train_loss = 1;
            w->train_loss = loss;
        }
    }
    w->has_n_bins = w->has_d_model = w->has_n_heads = w->has_n_layers = w->has_d_ff = 1;
    w->has_context = w->has_dropout = w->has_activation = w->has_blob = 1;
    w->n_bins = (uint32_t)o->model.n_bins;
    w->d_model = (uint32_t)o->model.d_model;
    w->n_heads = (uint32_t)o->model.n_heads;
    w->n_layers = (uint32_t)o->model.n_layers;
    w->d_ff = (uint32_t)o->model.d_ff;
    w->context = (uint32_t)o->model.context;
    w->dropout = o->model.dropout;
    w->activation = o->model.activation == DN_ML_ACT_GELU ? DINAMO__ACTIVATION__GELU
                                                           : DINAMO__ACTIVATION__RELU;
    w->blob.data = raw;
    w->blob.len = n;
}

/* Stores version ks->version of ks (trained on run seq/number, or none for
 * version 0) at the registry, which then publishes it. */
static int put_version(trainer_t *tr, tkey_t *ks, int64_t run_number, uint64_t run_seq,
                       int steps, float loss, dn_err_t *err)
{
    double t0 = dn_clock_mono();
    dn_mlmodel_t *m = dn_ml_model(ks->ml);
    size_t n = dn_mlmodel_raw_size(m);
    uint8_t *raw = malloc(n);
    if (!raw)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    dn_mlmodel_export_raw(m, raw, n);
    Dinamo__ModelWeights w;
    weights_msg(ks, run_number, run_seq, steps, loss, raw, n, &w);
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_WEIGHTS;
    env.weights = &w;
    /* The stored copy names its producer; the registry's publication stamps
     * its own. */
    env.producer = tr->name;
    env.has_seq = 1;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = dn_msg_encode(&env, &buf, &len, err);
    if (!rc)
        rc = dn_registry_weights_put(tr->registry, ks->key, ks->version, buf, len, tr->keep_last,
                                     err);
    free(buf);
    if (!rc)
        tr->versions++;
    free(raw);
    tr->put_s += dn_clock_mono() - t0;
    return rc;
}

/* dn_ml_learn's step hook of an elastic trainer. A key's first runs train
 * hundreds of steps, which can outlast a short lease (seconds under load or a
 * sanitizer); renewed only between runs, the lease of a trainer that was merely
 * busy ran out, the others took its keys and restarted them from their last
 * checkpoint, and under steady slowness the keys went round the trainers
 * without ever getting further. */
static int renew_while_training(void *ctx, dn_err_t *err)
{
    trainer_t *tr = ctx;
    int rc = trainer_renew(tr, err);
    if (rc) {
        tr->renew_rc = rc;
        tr->renew_err = *err;
    }
    return rc;
}

void trainer_watch_training(trainer_t *tr, dn_ml_t *ml)
{
    if (tr->lease)
        dn_ml_set_step_hook(ml, renew_while_training, tr);
}

/* Gives owned key ks its tracker at its first run (n_bins bins), as
 * dn_score_dataset_ml does, and stores and publishes version 0. */
static int key_start(trainer_t *tr, tkey_t *ks, int n_bins, int n_bins_y, dn_err_t *err)
{
    const char *k = ks->key;
    dn_ml_setup_t setup = {.n_bins = n_bins, .seed = tr->seed,
                           .min_entries = dn_policy_lookup(tr->policy, k, NULL).min_entries,
                           .weights = tr->weights, .weights_len = tr->weights_len,
                           .team = tr->team};
    if (dn_ml_new_for(&setup, &ks->ml, err))
        return dn_err_prefix(err, "key %s", k);
    trainer_watch_training(tr, ks->ml);
    ks->n_bins = n_bins;
    ks->n_bins_y = n_bins_y;
    ks->version = 0;
    int rc = put_version(tr, ks, 0, 0, 0, NAN, err);
    if (rc)
        return rc;
    dn_log(DN_LOG_INFO, "key %s v0: initial weights (%d bins, seed %llu)", k, n_bins,
           (unsigned long long)tr->seed);
    return 0;
}

/* ---- held runs and training ---------------------------------------------------------- */

/* Learns held run `it` of ks (labelled good); a new version when the run
 * joined the key's good-run set. */
static int learn(trainer_t *tr, tkey_t *ks, const item_t *it, dn_err_t *err)
{
    int64_t before = dn_ml_n_good(ks->ml);
    int steps = 0;
    float loss = NAN;
    dn_err_t e = {0};
    double t0 = dn_clock_mono();
    int lrc = dn_ml_learn(ks->ml, (int64_t)it->seq, it->x, it->var, &steps, &loss, &e);
    tr->learn_s += dn_clock_mono() - t0;
    if (tr->renew_rc) { /* not the run's fault: our lease is gone */
        *err = tr->renew_err;
        return tr->renew_rc;
    }
    if (lrc) {
        tr->learn_failed++;
        dn_log(DN_LOG_WARN, "run %lld: key %s: not learned: %s", (long long)it->run_number,
               ks->key, e.msg);
    }
    if (dn_ml_n_good(ks->ml) == before)
        return 0;
    ks->version++;
    int rc = put_version(tr, ks, it->run_number, it->seq, steps, loss, err);
    if (rc)
        return rc;
    dn_log(DN_LOG_INFO, "key %s v%llu trained on run_seq %llu: %d steps, loss %.6g", ks->key,
           (unsigned long long)ks->version, (unsigned long long)it->seq, steps, (double)loss);
    return 0;
}

int trainer_train_ready(trainer_t *tr, dn_err_t *err)
{
    for (int k = 0; k < trainer_n_keys(tr); k++) {
        tkey_t *ks = &tr->keys[k];
        int done = 0;
        while (done < ks->n_items && ks->items[done].label != LBL_NONE) {
            if (dn_service_signalled())
                break;
            item_t *it = &ks->items[done];
            int rc = trainer_renew(tr, err); /* a long backlog must not cost the lease */
            if (!rc && it->label == LBL_GOOD)
                rc = learn(tr, ks, it, err);
            if (rc)
                return rc;
            trainer_item_free(it);
            done++;
        }
        if (done) {
            memmove(ks->items, ks->items + done,
                    (size_t)(ks->n_items - done) * sizeof *ks->items);
            ks->n_items -= done;
            ks->dirty = tr->dirty = 1;
        }
    }
    return 0;
}

/* Holds histogram hg of run (at offset off) for owned key ks. */
static int hold_run(trainer_t *tr, tkey_t *ks, const Dinamo__Run *run,
                    const Dinamo__Histogram *hg, dn_err_t *err)
{
    if (run->run_seq < ks->next_run_seq) {
        tr->runs_unexpected++;
        dn_log(DN_LOG_WARN, "run %lld: key %s: run_seq %llu already seen: skipped",
               (long long)run->run_number, ks->key, (unsigned long long)run->run_seq);
        return 0;
    }
    ks->next_run_seq = run->run_seq + 1;
    int nb = (int)hg->n_counts, ny = hg->has_n_bins_y ? (int)hg->n_bins_y : 0, rc;
    if (!ks->ml) {
        if ((rc = key_start(tr, ks, nb, ny, err)))
            return rc;
    } else if (ks->n_bins != nb || ks->n_bins_y != ny) {
        char got[64], want[64];
        dn_hist_binning_name(got, sizeof got, nb, ny);
        dn_hist_binning_name(want, sizeof want, ks->n_bins, ks->n_bins_y);
        tr->bad_bins++;
        dn_log(DN_LOG_WARN, "run %lld: key %s: binning changed: %s, the key has %s: skipped",
               (long long)run->run_number, hg->key, got, want);
        return 0;
    }
    item_t it = {.seq = run->run_seq, .run_number = run->run_number, .label = LBL_NONE};
    it.x = malloc((size_t)nb * sizeof *it.x);
    if (hg->n_variances == (size_t)nb)
        it.var = malloc((size_t)nb * sizeof *it.var);
    if (!it.x || (hg->n_variances == (size_t)nb && !it.var) || trainer_item_push(ks, &it)) {
        trainer_item_free(&it);
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    memcpy(it.x, hg->counts, (size_t)nb * sizeof *it.x);
    if (it.var)
        memcpy(it.var, hg->variances, (size_t)nb * sizeof *it.var);
    return 0;
}

int trainer_on_run(trainer_t *tr, const Dinamo__Run *run, uint64_t off, dn_err_t *err)
{
    if (off >= tr->frontier)
        tr->runs++;
    for (size_t j = 0; j < run->n_histograms; j++) {
        const Dinamo__Histogram *hg = run->histograms[j];
        int rc;
        if (tr->lease && (rc = trainer_register(tr, hg->key, off, err)))
            return rc;
        tkey_t *ks = trainer_key(tr, hg->key);
        if (!ks && trainer_owns_static(tr, hg->key) && !(ks = trainer_key_add(tr, hg->key, off)))
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        if (!ks || off < ks->next)
            continue; /* not ours, or applied before */
        if ((rc = hold_run(tr, ks, run, hg, err)))
            return rc;
    }
    return 0;
}

/* Applies label l (at offset off) to ks unless ks saw that offset: sets the
 * label of the held run, and says whether ks held it (*hit) or the run is
 * still to come for ks (*fresh). */
static void label_key(tkey_t *ks, const Dinamo__Label *l, uint64_t off, int *hit, int *fresh)
{
    if (off < ks->next)
        return;
    if (l->run_seq >= ks->next_run_seq)
        *fresh = 1;
    for (int i = 0; i < ks->n_items; i++) {
        item_t *it = &ks->items[i];
        if (it->seq != l->run_seq)
            continue;
        *hit = 1;
        if (it->label == LBL_NONE)
            it->label = l->verdict == DINAMO__VERDICT__GOOD ? LBL_GOOD : LBL_BAD;
    }
}

void trainer_on_label(trainer_t *tr, const Dinamo__Label *l, uint64_t off)
{
    if (off >= tr->frontier)
        tr->labels++;
    int all = !l->histogram_key || !l->histogram_key[0], hit = 0, fresh = 0;
    if (all) {
        for (int k = 0; k < trainer_n_keys(tr); k++)
            label_key(&tr->keys[k], l, off, &hit, &fresh);
    } else {
        tkey_t *ks = trainer_key(tr, l->histogram_key);
        if (ks)
            label_key(ks, l, off, &hit, &fresh);
    }
    if (!hit && fresh) {
        tr->labels_unknown++;
        dn_log(DN_LOG_WARN, "label for run %lld (run_seq %llu, key %s): unknown run: skipped",
               (long long)l->run_number, (unsigned long long)l->run_seq,
               all ? "(all)" : l->histogram_key);
    }
}
