/* test_msg.c: envelope round trips, every validation error, hostile bytes, and
 * the sequence tracker (lib/msg.h). */
#include <criterion/criterion.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "rng.h"

/* ---- builders: messages on the stack, arrays in fixtures ---------------- */

typedef struct fixture_t {
    double counts[2][5];
    double variances[5];
    double edges[6];
    Dinamo__Histogram h[2];
    Dinamo__Histogram *hp[2];
    Dinamo__Run run;
    Dinamo__Envelope env;
} fixture_t;

static void make_run(fixture_t *f)
{
    for (int j = 0; j < 5; j++) {
        f->counts[0][j] = 10.0 * j + 1;
        f->counts[1][j] = 3.5 * j;
        f->variances[j] = 0.5 + j;
        f->edges[j] = -1.0 + 0.5 * j;
    }
    f->edges[5] = 100.0;
    static const char *keys[2] = {"calo/energy", "tracker/hits"};
    for (int i = 0; i < 2; i++) {
        dinamo__histogram__init(&f->h[i]);
        f->h[i].key = (char *)keys[i];
        f->h[i].subsystem = (char *)"sub";
        f->h[i].n_counts = 5;
        f->h[i].counts = f->counts[i];
        f->hp[i] = &f->h[i];
    }
    f->h[0].n_variances = 5;
    f->h[0].variances = f->variances;
    f->h[0].n_edges = 6;
    f->h[0].edges = f->edges;
    dinamo__run__init(&f->run);
    f->run.stream = (char *)"synthetic-42";
    f->run.has_run_number = 1;
    f->run.run_number = 1234;
    f->run.has_run_seq = 1;
    f->run.run_seq = 7;
    f->run.has_time = 1;
    f->run.time = 1.7e9;
    f->run.n_histograms = 2;
    f->run.histograms = f->hp;
    dinamo__envelope__init(&f->env);
    f->env.producer = (char *)"generator/runs";
    f->env.has_incarnation = 1;
    f->env.incarnation = 99;
    f->env.has_seq = 1;
    f->env.seq = 11;
    f->env.body_case = DINAMO__ENVELOPE__BODY_RUN;
    f->env.run = &f->run;
}

/* Encodes (unchecked) and decodes; returns the decode code, message in err. */
static int roundtrip(const Dinamo__Envelope *env, Dinamo__Envelope **out, dn_err_t *err,
                     dn_msg_stats_t *stats)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(dn_msg_encode_unchecked(env, &buf, &len), 0);
    int rc = dn_msg_decode(buf, len, out, stats, err);
    free(buf);
    return rc;
}

Test(msg, run_roundtrip)
{
    fixture_t f;
    make_run(&f);
    uint8_t *buf = NULL;
    size_t len = 0;
    dn_err_t err = {0};
    cr_assert_eq(dn_msg_encode(&f.env, &buf, &len, &err), 0, "encode: %s", err.msg);
    Dinamo__Envelope *e = NULL;
    dn_msg_stats_t st = {0};
    cr_assert_eq(dn_msg_decode(buf, len, &e, &st, &err), 0, "decode: %s", err.msg);
    free(buf);
    cr_assert_eq(dn_msg_type(e), DN_MSG_RUN);
    cr_assert_str_eq(e->producer, "generator/runs");
    cr_assert(e->has_incarnation && e->incarnation == 99 && e->seq == 11);
    cr_assert_eq(e->run->run_number, 1234);
    cr_assert_eq(e->run->run_seq, 7u);
    cr_assert_eq(e->run->time, 1.7e9);
    cr_assert_str_eq(e->run->stream, "synthetic-42");
    cr_assert_eq(e->run->n_histograms, 2);
    for (int i = 0; i < 2; i++) {
        Dinamo__Histogram *h = e->run->histograms[i];
        cr_assert_str_eq(h->key, f.h[i].key);
        cr_assert_eq(h->n_counts, 5);
        for (int j = 0; j < 5; j++)
            cr_assert_eq(h->counts[j], f.counts[i][j], "hist %d bin %d: %g != %g", i, j,
                         h->counts[j], f.counts[i][j]);
    }
    cr_assert_eq(e->run->histograms[0]->n_variances, 5);
    cr_assert_eq(e->run->histograms[0]->variances[4], 4.5);
    cr_assert_eq(e->run->histograms[0]->n_edges, 6);
    cr_assert_eq(e->run->histograms[0]->edges[5], 100.0);
    cr_assert_eq(e->run->histograms[1]->n_variances, 0);
    cr_assert_eq(st.accepted, 1);
    cr_assert_eq(dn_msg_stats_rejected(&st), 0);
    dn_msg_free(&e);
    cr_assert_null(e);
    dn_msg_free(&e); /* NULL is fine */
}

static Dinamo__Envelope wrap(void *body, Dinamo__Envelope__BodyCase c)
{
    Dinamo__Envelope env;
    dinamo__envelope__init(&env);
    env.producer = (char *)"p";
    env.has_seq = 1;
    env.seq = 0;
    env.body_case = c;
    env.run = body; /* union: any member */
    return env;
}

static Dinamo__Label make_label(void)
{
    Dinamo__Label l;
    dinamo__label__init(&l);
    l.has_run_number = 1;
    l.run_number = -5;
    l.has_run_seq = 1;
    l.run_seq = 3;
    l.has_verdict = 1;
    l.verdict = DINAMO__VERDICT__GOOD;
    l.has_source = 1;
    l.source = DINAMO__LABEL_SOURCE__SHIFTER;
    l.who = (char *)"alice";
    l.reason = (char *)"looks fine";
    l.histogram_key = (char *)"calo/energy";
    l.has_time = 1;
    l.time = 12.25;
    return l;
}

Test(msg, label_roundtrip)
{
    Dinamo__Label l = make_label();
    Dinamo__Envelope env = wrap(&l, DINAMO__ENVELOPE__BODY_LABEL), *e = NULL;
    dn_err_t err = {0};
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    cr_assert_eq(dn_msg_type(e), DN_MSG_LABEL);
    cr_assert_eq(e->label->run_number, -5);
    cr_assert_eq(e->label->verdict, DINAMO__VERDICT__GOOD);
    cr_assert_eq(e->label->source, DINAMO__LABEL_SOURCE__SHIFTER);
    cr_assert_str_eq(e->label->who, "alice");
    cr_assert_str_eq(e->label->reason, "looks fine");
    cr_assert_str_eq(e->label->histogram_key, "calo/energy");
    cr_assert_eq(e->label->time, 12.25);
    dn_msg_free(&e);
}

static Dinamo__Score make_score(double *pulls, double *ref, double *unc)
{
    Dinamo__Score s;
    dinamo__score__init(&s);
    s.has_run_number = 1;
    s.run_number = 77;
    s.has_run_seq = 1;
    s.run_seq = 2;
    s.has_method = 1;
    s.method = DINAMO__METHOD__METHOD_ML;
    s.histogram_key = (char *)"h";
    s.has_status = 1;
    s.status = DINAMO__SCORE_STATUS__OK;
    s.has_chi2 = 1;
    s.chi2 = 12.5;
    s.has_score = 1;
    s.score = log(12.5 / 3);
    s.n_pulls = s.n_reference = s.n_reference_uncertainty = 3;
    s.pulls = pulls;
    s.reference = ref;
    s.reference_uncertainty = unc;
    s.has_model_version = 1;
    s.model_version = 41;
    return s;
}

Test(msg, score_roundtrip)
{
    double pulls[3] = {-1.5, 0, 2.25}, ref[3] = {0.2, 0.3, 0.5}, unc[3] = {0.01, 0.02, 0.03};
    Dinamo__Score s = make_score(pulls, ref, unc);
    Dinamo__Envelope env = wrap(&s, DINAMO__ENVELOPE__BODY_SCORE), *e = NULL;
    dn_err_t err = {0};
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    cr_assert_eq(dn_msg_type(e), DN_MSG_SCORE);
    cr_assert_eq(e->score->method, DINAMO__METHOD__METHOD_ML);
    cr_assert_eq(e->score->chi2, 12.5);
    cr_assert_eq(e->score->score, log(12.5 / 3));
    cr_assert_eq(e->score->model_version, 41u);
    for (int j = 0; j < 3; j++)
        cr_assert(e->score->pulls[j] == pulls[j] && e->score->reference[j] == ref[j] &&
                      e->score->reference_uncertainty[j] == unc[j],
                  "bin %d differs", j);
    dn_msg_free(&e);
    /* A perfect match has chi2 0 and score -inf: legitimate. */
    s.chi2 = 0;
    s.score = -INFINITY;
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    cr_assert(isinf(e->score->score) && e->score->score < 0);
    dn_msg_free(&e);
    /* Insufficient statistics needs no chi2/score. */
    s.has_chi2 = s.has_score = 0;
    s.status = DINAMO__SCORE_STATUS__INSUFFICIENT_STATISTICS;
    s.n_pulls = s.n_reference = s.n_reference_uncertainty = 0;
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    cr_assert_eq(e->score->status, DINAMO__SCORE_STATUS__INSUFFICIENT_STATISTICS);
    dn_msg_free(&e);
}

static Dinamo__ModelWeights make_weights(uint8_t **blob)
{
    Dinamo__ModelWeights w;
    dinamo__model_weights__init(&w);
    w.histogram_key = (char *)"calo/energy";
    w.has_version = 1;
    w.version = 3;
    w.has_last_run_number = 1;
    w.last_run_number = 1000;
    w.has_last_run_seq = 1;
    w.last_run_seq = 999;
    w.has_n_bins = w.has_d_model = w.has_n_heads = w.has_n_layers = w.has_d_ff = 1;
    w.has_context = w.has_dropout = w.has_activation = 1;
    w.n_bins = 8;
    w.d_model = 4;
    w.n_heads = 2;
    w.n_layers = 1;
    w.d_ff = 6;
    w.context = 5;
    w.dropout = 0.15;
    w.activation = DINAMO__ACTIVATION__GELU;
    size_t n = (size_t)dn_msg_weights_params(8, 4, 1, 6) * 4;
    *blob = malloc(n);
    for (size_t i = 0; i < n; i++)
        (*blob)[i] = (uint8_t)(i * 31);
    w.has_blob = 1;
    w.blob.data = *blob;
    w.blob.len = n;
    w.has_train_loss = 1;
    w.train_loss = -3.25;
    w.has_train_steps = 1;
    w.train_steps = 28;
    return w;
}

Test(msg, weights_params_match_spec)
{
    /* SPEC 3: 254,700 parameters at the defaults. */
    cr_assert_eq(dn_msg_weights_params(100, 100, 3, 100), 254700u,
                 "got %llu", (unsigned long long)dn_msg_weights_params(100, 100, 3, 100));
    cr_assert_eq(dn_msg_weights_params(0, 100, 3, 100), 0u);
}

Test(msg, weights_roundtrip)
{
    uint8_t *blob;
    Dinamo__ModelWeights w = make_weights(&blob);
    Dinamo__Envelope env = wrap(&w, DINAMO__ENVELOPE__BODY_WEIGHTS), *e = NULL;
    dn_err_t err = {0};
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    cr_assert_eq(dn_msg_type(e), DN_MSG_WEIGHTS);
    Dinamo__ModelWeights *d = e->weights;
    cr_assert(d->version == 3 && d->last_run_number == 1000 && d->last_run_seq == 999);
    cr_assert(d->n_bins == 8 && d->d_model == 4 && d->n_heads == 2 && d->n_layers == 1 &&
              d->d_ff == 6 && d->context == 5 && d->dropout == 0.15 &&
              d->activation == DINAMO__ACTIVATION__GELU);
    cr_assert_eq(d->blob.len, w.blob.len);
    cr_assert_eq(memcmp(d->blob.data, blob, w.blob.len), 0);
    cr_assert_eq(d->train_steps, 28u);
    dn_msg_free(&e);
    free(blob);
}

Test(msg, control_roundtrip)
{
    Dinamo__Counter c1 = DINAMO__COUNTER__INIT, c2 = DINAMO__COUNTER__INIT;
    c1.name = (char *)"runs";
    c1.has_value = 1;
    c1.value = 1000;
    c2.name = (char *)"rejected";
    c2.has_value = 1;
    c2.value = 3;
    Dinamo__Counter *cs[2] = {&c1, &c2};
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    c.has_kind = 1;
    c.kind = DINAMO__CONTROL_KIND__HEARTBEAT;
    c.service = (char *)"scorer_s";
    c.n_counters = 2;
    c.counters = cs;
    Dinamo__Envelope env = wrap(&c, DINAMO__ENVELOPE__BODY_CONTROL), *e = NULL;
    dn_err_t err = {0};
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    cr_assert_eq(dn_msg_type(e), DN_MSG_CONTROL);
    cr_assert_str_eq(e->control->service, "scorer_s");
    cr_assert_eq(e->control->n_counters, 2);
    cr_assert_str_eq(e->control->counters[1]->name, "rejected");
    cr_assert_eq(e->control->counters[0]->value, 1000u);
    dn_msg_free(&e);

    c.kind = DINAMO__CONTROL_KIND__END_OF_STREAM;
    c.n_counters = 0;
    c.has_final_run_number = c.has_final_run_seq = c.has_n_runs = c.has_n_labels = 1;
    c.final_run_number = 2999;
    c.final_run_seq = 1999;
    c.n_runs = 2000;
    c.n_labels = 2000;
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    cr_assert(e->control->kind == DINAMO__CONTROL_KIND__END_OF_STREAM &&
              e->control->final_run_number == 2999 && e->control->final_run_seq == 1999 &&
              e->control->n_runs == 2000);
    dn_msg_free(&e);
    c.kind = DINAMO__CONTROL_KIND__FLUSH;
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    dn_msg_free(&e);
}

static Dinamo__Threshold make_threshold(void)
{
    Dinamo__Threshold t = DINAMO__THRESHOLD__INIT;
    t.histogram_key = (char *)"calo/e";
    t.has_method = 1;
    t.method = DINAMO__METHOD__METHOD_ML;
    t.has_bad = t.has_warning = t.has_historical_runs = 1;
    t.bad = 2.5;
    t.warning = 1.25;
    t.historical_runs = 50;
    t.origin = (char *)"tuned";
    t.stream = (char *)"synthetic-seed42";
    return t;
}

Test(msg, threshold_roundtrip)
{
    Dinamo__Threshold t = make_threshold();
    Dinamo__Envelope env = wrap(&t, DINAMO__ENVELOPE__BODY_THRESHOLD), *e = NULL;
    dn_err_t err = {0};
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    cr_assert_eq(dn_msg_type(e), DN_MSG_THRESHOLD);
    const Dinamo__Threshold *d = e->threshold;
    cr_assert_str_eq(d->histogram_key, "calo/e");
    cr_assert(d->method == DINAMO__METHOD__METHOD_ML && d->bad == 2.5 && d->warning == 1.25 &&
              d->historical_runs == 50u, "got method %d bad %g warning %g n_hist %u",
              (int)d->method, d->bad, d->warning, d->historical_runs);
    cr_assert_str_eq(d->origin, "tuned");
    cr_assert_str_eq(d->stream, "synthetic-seed42");
    dn_msg_free(&e);

    /* Untunable: bad +inf, no warning level (NaN); and no warning at all. */
    t.bad = INFINITY;
    t.warning = NAN;
    t.origin = (char *)"untunable";
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    cr_assert(isinf(e->threshold->bad) && e->threshold->bad > 0 && isnan(e->threshold->warning));
    dn_msg_free(&e);
    t.has_warning = 0;
    t.origin = NULL;
    t.bad = -3; /* a score is a log: negative thresholds are real */
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    dn_msg_free(&e);
    t.has_warning = 1;
    t.warning = -3; /* warning == bad */
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    dn_msg_free(&e);
}

Test(msg, control_passive_roundtrip)
{
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    c.has_kind = 1;
    c.kind = DINAMO__CONTROL_KIND__ACK;
    c.consumer = (char *)"dashboard";
    c.log = (char *)"events";
    c.has_offset = 1;
    c.offset = 5;
    c.has_passive = 1;
    c.passive = 1;
    Dinamo__Envelope env = wrap(&c, DINAMO__ENVELOPE__BODY_CONTROL), *e = NULL;
    dn_err_t err = {0};
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    cr_assert(e->control->has_passive && e->control->passive);
    dn_msg_free(&e);
}

/* ---- validation errors ------------------------------------------------- */

/* Expects decode of env to fail with code and reason, and the message to
 * contain each of the NULL-terminated substrings. */
static void expect_reject(const Dinamo__Envelope *env, int code, dn_reject_t why, ...)
{
    Dinamo__Envelope *e = NULL;
    dn_err_t err = {0};
    dn_msg_stats_t st = {0};
    int rc = roundtrip(env, &e, &err, &st);
    cr_assert_eq(rc, code, "want %s, got %d (%s): %s", dn_strerror(code), rc, dn_strerror(rc),
                 err.msg);
    cr_assert_null(e);
    cr_assert_eq(st.rejected[why], 1, "reason %s not counted (message: %s)", dn_reject_name(why),
                 err.msg);
    cr_assert_eq(st.accepted, 0);
    cr_assert_eq(err.code, code);
    va_list ap;
    va_start(ap, why);
    for (const char *s; (s = va_arg(ap, const char *));)
        cr_assert(strstr(err.msg, s), "message '%s' lacks '%s'", err.msg, s);
    va_end(ap);
    /* encode refuses the same envelope with the same code */
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(dn_msg_encode(env, &buf, &len, NULL), code);
    cr_assert_null(buf);
}

/* Score.horizons: two lagged horizons, the second without a reference that
 * old yet; each rule broken once is refused with what was wrong. */
Test(msg, score_horizons_roundtrip_and_errors)
{
    double pulls[3] = {-1.5, 0, 2.25}, ref[3] = {0.2, 0.3, 0.5}, unc[3] = {0.01, 0.02, 0.03};
    double hp[3] = {3, -4, 0.5}, hr[3] = {0.25, 0.25, 0.5}, hu[3] = {0.02, 0.02, 0.04};
    Dinamo__Score s = make_score(pulls, ref, unc);
    s.method = DINAMO__METHOD__METHOD_S;
    s.has_model_version = 0;
    Dinamo__HorizonScore h[8], *hv[8];
    for (int k = 0; k < 8; k++) {
        dinamo__horizon_score__init(&h[k]);
        hv[k] = &h[k];
    }
    h[0].name = (char *)"50r";
    h[0].has_age = h[0].has_chi2 = h[0].has_score = 1;
    h[0].age = 51;
    h[0].chi2 = 40.25;
    h[0].score = log(40.25 / 3);
    h[0].n_pulls = h[0].n_reference = h[0].n_reference_uncertainty = 3;
    h[0].pulls = hp;
    h[0].reference = hr;
    h[0].reference_uncertainty = hu;
    h[1].name = (char *)"7d";
    s.n_horizons = 2;
    s.horizons = hv;
    Dinamo__Envelope env = wrap(&s, DINAMO__ENVELOPE__BODY_SCORE), *e = NULL;
    dn_err_t err = {0};
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    cr_assert_eq(e->score->n_horizons, 2u);
    const Dinamo__HorizonScore *g = e->score->horizons[0];
    cr_assert_str_eq(g->name, "50r");
    cr_assert(g->has_age && g->age == 51 && g->chi2 == 40.25 && g->score == log(40.25 / 3));
    for (int j = 0; j < 3; j++)
        cr_assert(g->pulls[j] == hp[j] && g->reference[j] == hr[j] &&
                      g->reference_uncertainty[j] == hu[j], "bin %d differs", j);
    g = e->score->horizons[1];
    cr_assert_str_eq(g->name, "7d");
    cr_assert(!g->has_age && !g->has_chi2 && !g->has_score && !g->n_pulls);
    dn_msg_free(&e);

    /* each case breaks one thing, then it is put back */
    h[1].name = (char *)"";
    expect_reject(&env, DN_EFORMAT, DN_REJECT_MISSING, "run 77", "horizon 1: no name", NULL);
    h[1].name = (char *)"a-name-of-25-bytes-long!!";
    expect_reject(&env, DN_EFORMAT, DN_REJECT_VALUE, "name of 25 bytes (at most 24)", NULL);
    h[1].name = (char *)"7\nd";
    expect_reject(&env, DN_EFORMAT, DN_REJECT_VALUE, "control character 0x0a", NULL);
    h[1].name = (char *)"7d";
    h[0].age = -1;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "horizon '50r'", "age -1", NULL);
    h[0].age = INFINITY;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "age inf", NULL);
    h[0].age = 51;
    h[0].chi2 = NAN;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "horizon '50r'", "chi2 nan", NULL);
    h[0].chi2 = 40.25;
    h[0].score = NAN;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "score nan", NULL);
    h[0].score = log(40.25 / 3);
    h[0].has_score = 0;
    expect_reject(&env, DN_EFORMAT, DN_REJECT_MISSING, "an age without chi2 and score", NULL);
    h[0].has_score = 1;
    h[1].has_chi2 = 1;
    expect_reject(&env, DN_EFORMAT, DN_REJECT_MISSING, "horizon '7d'",
                  "chi2 or score without an age", NULL);
    h[1].has_chi2 = 0;
    h[1].n_pulls = 3;
    h[1].pulls = hp;
    expect_reject(&env, DN_EMISMATCH, DN_REJECT_LENGTH, "pulls or reference without an age",
                  NULL);
    h[1].n_pulls = 0;
    h[0].n_reference = 2;
    expect_reject(&env, DN_EMISMATCH, DN_REJECT_LENGTH, "2 reference", "the score's 3", NULL);
    h[0].n_reference = 3;
    hu[2] = -0.5;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "horizon '50r'", "bin 2",
                  "reference uncertainty", NULL);
    hu[2] = 0.04;
    hr[1] = -2e-7; /* a snapshot moved by an accepted change may dip below 0 */
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "reference -2e-7: %s", err.msg);
    dn_msg_free(&e);
    hr[1] = INFINITY;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "horizon '50r'", "bin 1", "reference value",
                  NULL);
    hr[1] = 0.25;
    s.n_pulls = s.n_reference = s.n_reference_uncertainty = 0; /* pulls off: none in horizons */
    expect_reject(&env, DN_EMISMATCH, DN_REJECT_LENGTH, "the score's 0", NULL);
    h[0].n_pulls = h[0].n_reference = h[0].n_reference_uncertainty = 0;
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "no pulls anywhere: %s", err.msg);
    dn_msg_free(&e);
    s.n_pulls = s.n_reference = s.n_reference_uncertainty = 3;
    h[0].n_pulls = h[0].n_reference = h[0].n_reference_uncertainty = 3;
    for (int k = 2; k < 8; k++)
        h[k].name = (char *)"100r";
    s.n_horizons = 8;
    expect_reject(&env, DN_EMISMATCH, DN_REJECT_LENGTH, "8 horizons (at most 7)", NULL);
    s.n_horizons = 7;
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "7 horizons: %s", err.msg);
    dn_msg_free(&e);
    s.n_horizons = 2;
    s.status = DINAMO__SCORE_STATUS__INSUFFICIENT_STATISTICS;
    s.has_chi2 = s.has_score = 0;
    s.n_pulls = s.n_reference = s.n_reference_uncertainty = 0;
    expect_reject(&env, DN_EFORMAT, DN_REJECT_VALUE, "only status OK", NULL);
}

Test(msg, histogram_errors)
{
    fixture_t f;
    make_run(&f);
    f.h[1].key = (char *)"";
    expect_reject(&f.env, DN_EFORMAT, DN_REJECT_KEY, "run 1234", "key is empty", NULL);
    make_run(&f);
    f.h[1].key = NULL;
    expect_reject(&f.env, DN_EFORMAT, DN_REJECT_KEY, "key is empty", NULL);
    make_run(&f);
    f.h[1].key = (char *)"bad\nkey";
    expect_reject(&f.env, DN_EFORMAT, DN_REJECT_KEY, "control character", NULL);
    make_run(&f);
    char longkey[300];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[299] = '\0';
    f.h[1].key = longkey;
    expect_reject(&f.env, DN_EFORMAT, DN_REJECT_KEY, "299 bytes", NULL);

    make_run(&f);
    f.h[1].n_counts = 0;
    expect_reject(&f.env, DN_EFORMAT, DN_REJECT_NO_BINS, "run 1234", "tracker/hits", "no bins",
                  NULL);
    make_run(&f);
    f.counts[1][3] = NAN;
    expect_reject(&f.env, DN_ERANGE, DN_REJECT_COUNT, "run 1234", "tracker/hits", "bin 3",
                  "not finite", NULL);
    make_run(&f);
    f.counts[0][4] = INFINITY;
    expect_reject(&f.env, DN_ERANGE, DN_REJECT_COUNT, "calo/energy", "bin 4", NULL);
    make_run(&f);
    f.counts[0][2] = -3;
    expect_reject(&f.env, DN_ERANGE, DN_REJECT_COUNT, "run 1234", "calo/energy", "bin 2",
                  "count -3 is negative", NULL);

    make_run(&f);
    f.h[0].n_variances = 4;
    expect_reject(&f.env, DN_EMISMATCH, DN_REJECT_LENGTH, "calo/energy", "4 variances for 5 bins",
                  NULL);
    make_run(&f);
    f.variances[1] = -0.5;
    expect_reject(&f.env, DN_ERANGE, DN_REJECT_VARIANCE, "calo/energy", "bin 1", "negative",
                  NULL);
    make_run(&f);
    f.variances[0] = NAN;
    expect_reject(&f.env, DN_ERANGE, DN_REJECT_VARIANCE, "bin 0", "not finite", NULL);
    make_run(&f);
    f.h[0].n_edges = 5;
    expect_reject(&f.env, DN_EMISMATCH, DN_REJECT_LENGTH, "5 edges for 5 bins (want 6)", NULL);
    make_run(&f);
    f.edges[3] = f.edges[2];
    expect_reject(&f.env, DN_ERANGE, DN_REJECT_EDGES, "calo/energy", "bin 2",
                  "edges not increasing", NULL);
    make_run(&f);
    f.edges[5] = INFINITY;
    expect_reject(&f.env, DN_ERANGE, DN_REJECT_EDGES, "edge 5", NULL);

    make_run(&f);
    f.h[1].key = f.h[0].key;
    expect_reject(&f.env, DN_EFORMAT, DN_REJECT_DUPLICATE_KEY, "run 1234",
                  "'calo/energy' appears more than once", NULL);
}

/* A 2-D histogram: 5 counts as nx = 1 row of ny = 5 bins of y, or refused by
 * what is wrong with its shape. */
Test(msg, histogram_2d_shape)
{
    double ex[3] = {0.0, 1.0, 2.0}, ey[6] = {-2, -1, 0, 1, 2, 3};
    fixture_t f;
    make_run(&f);
    f.h[1].has_n_bins_y = 1;
    f.h[1].n_bins_y = 5;
    f.h[1].n_edges = 2;
    f.h[1].edges = ex;
    f.h[1].n_edges_y = 6;
    f.h[1].edges_y = ey;
    Dinamo__Envelope *e = NULL;
    dn_err_t err = {0};
    cr_assert_eq(roundtrip(&f.env, &e, &err, NULL), 0, "%s", err.msg);
    const Dinamo__Histogram *h = e->run->histograms[1];
    cr_assert(h->has_n_bins_y && h->n_bins_y == 5 && h->n_edges == 2 && h->n_edges_y == 6,
              "shape lost: ny %u, %zu x edges, %zu y edges", h->n_bins_y, h->n_edges,
              h->n_edges_y);
    cr_assert_eq(h->edges_y[5], 3.0);
    dn_msg_free(&e);

    f.h[1].n_bins_y = 2;
    expect_reject(&f.env, DN_EMISMATCH, DN_REJECT_LENGTH, "tracker/hits",
                  "5 bins are not a whole number of rows of 2 bins of y", NULL);
    f.h[1].n_bins_y = 5;
    f.h[1].n_edges_y = 0;
    expect_reject(&f.env, DN_EMISMATCH, DN_REJECT_EDGES, "edges of x only", NULL);
    f.h[1].n_edges_y = 5;
    expect_reject(&f.env, DN_EMISMATCH, DN_REJECT_LENGTH, "5 edges of y for 5 bins (want 6)",
                  NULL);
    f.h[1].n_edges_y = 6;
    ey[4] = ey[3];
    expect_reject(&f.env, DN_ERANGE, DN_REJECT_EDGES, "bin 3 of y", "edges not increasing",
                  NULL);
    ey[4] = 1.5;
    f.h[1].n_edges = 3;
    expect_reject(&f.env, DN_EMISMATCH, DN_REJECT_LENGTH, "3 edges for 1 bins (want 2)", NULL);
    make_run(&f);
    f.h[1].n_edges_y = 6;
    f.h[1].edges_y = ey;
    expect_reject(&f.env, DN_EMISMATCH, DN_REJECT_EDGES, "6 edges of y for a 1-D histogram",
                  NULL);
}

Test(msg, all_zero_histogram_is_valid)
{
    fixture_t f;
    make_run(&f);
    memset(f.counts[1], 0, sizeof f.counts[1]);
    Dinamo__Envelope *e = NULL;
    dn_err_t err = {0};
    cr_assert_eq(roundtrip(&f.env, &e, &err, NULL), 0, "%s", err.msg);
    dn_msg_free(&e);
}

Test(msg, run_and_envelope_errors)
{
    fixture_t f;
    make_run(&f);
    f.run.has_run_number = 0;
    expect_reject(&f.env, DN_EFORMAT, DN_REJECT_MISSING, "no run number", NULL);
    make_run(&f);
    f.run.has_run_seq = 0;
    expect_reject(&f.env, DN_EFORMAT, DN_REJECT_MISSING, "run 1234", "no run_seq", NULL);
    make_run(&f);
    f.run.n_histograms = 0;
    expect_reject(&f.env, DN_EFORMAT, DN_REJECT_MISSING, "no histograms", NULL);
    make_run(&f);
    f.run.time = NAN;
    expect_reject(&f.env, DN_ERANGE, DN_REJECT_VALUE, "time", NULL);
    make_run(&f);
    f.env.producer = (char *)"";
    expect_reject(&f.env, DN_EFORMAT, DN_REJECT_ENVELOPE, "producer", NULL);
    make_run(&f);
    f.env.has_seq = 0;
    expect_reject(&f.env, DN_EFORMAT, DN_REJECT_ENVELOPE, "no seq", NULL);
    make_run(&f);
    f.env.body_case = DINAMO__ENVELOPE__BODY__NOT_SET;
    expect_reject(&f.env, DN_EFORMAT, DN_REJECT_ENVELOPE, "no body", NULL);
}

Test(msg, label_score_weights_control_errors)
{
    Dinamo__Label l = make_label();
    Dinamo__Envelope env = wrap(&l, DINAMO__ENVELOPE__BODY_LABEL);
    l.has_verdict = 0;
    expect_reject(&env, DN_EFORMAT, DN_REJECT_MISSING, "run -5", "no verdict", NULL);
    l = make_label();
    l.verdict = 7;
    expect_reject(&env, DN_ERANGE, DN_REJECT_ENUM, "verdict 7", NULL);
    l = make_label();
    l.source = DINAMO__LABEL_SOURCE__SOURCE_UNSPECIFIED;
    expect_reject(&env, DN_ERANGE, DN_REJECT_ENUM, "source 0", NULL);
    l = make_label();
    l.histogram_key = (char *)"tab\there";
    expect_reject(&env, DN_EFORMAT, DN_REJECT_KEY, "control character", NULL);

    double pulls[3] = {1, 2, 3}, ref[3] = {0.2, 0.3, 0.5}, unc[3] = {0.1, 0.1, 0.1};
    Dinamo__Score s = make_score(pulls, ref, unc);
    env = wrap(&s, DINAMO__ENVELOPE__BODY_SCORE);
    s.n_reference = 2;
    expect_reject(&env, DN_EMISMATCH, DN_REJECT_LENGTH, "2 reference for 3 bins", NULL);
    s = make_score(pulls, ref, unc);
    s.chi2 = -1;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "chi2 -1", NULL);
    s = make_score(pulls, ref, unc);
    s.score = NAN;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "score nan", NULL);
    s = make_score(pulls, ref, unc);
    s.method = 9;
    expect_reject(&env, DN_ERANGE, DN_REJECT_ENUM, "method 9", NULL);
    s = make_score(pulls, ref, unc);
    s.histogram_key = NULL;
    expect_reject(&env, DN_EFORMAT, DN_REJECT_KEY, "run 77", NULL);
    s = make_score(pulls, ref, unc);
    s.has_alpha = 1;
    s.alpha = 1.0; /* an EWMA that never moves is not DINAMO-S */
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "alpha 1 not in [0, 1)", NULL);
    s.alpha = 0.0; /* tuning may choose no memory at all: valid */
    {
        Dinamo__Envelope *e = NULL;
        dn_err_t err = {0};
        cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "alpha 0 refused: %s", err.msg);
        dn_msg_free(&e);
    }
    s = make_score(pulls, ref, unc);
    unc[1] = -0.1;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "bin 1", "reference uncertainty", NULL);

    uint8_t *blob;
    Dinamo__ModelWeights w = make_weights(&blob);
    env = wrap(&w, DINAMO__ENVELOPE__BODY_WEIGHTS);
    w.blob.len -= 4;
    expect_reject(&env, DN_EMISMATCH, DN_REJECT_LENGTH, "calo/energy", "blob of", NULL);
    w.blob.len += 4;
    w.n_heads = 3;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "does not divide", NULL);
    w.n_heads = 2;
    w.dropout = 1.0;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "dropout", NULL);
    w.dropout = 0.1;
    w.has_d_ff = 0;
    expect_reject(&env, DN_EFORMAT, DN_REJECT_MISSING, "no d_ff", NULL);
    w.has_d_ff = 1;
    w.activation = 0;
    expect_reject(&env, DN_ERANGE, DN_REJECT_ENUM, "activation", NULL);
    free(blob);

    Dinamo__Control c = DINAMO__CONTROL__INIT;
    env = wrap(&c, DINAMO__ENVELOPE__BODY_CONTROL);
    expect_reject(&env, DN_EFORMAT, DN_REJECT_MISSING, "no kind", NULL);
    c.has_kind = 1;
    c.kind = DINAMO__CONTROL_KIND__END_OF_STREAM;
    expect_reject(&env, DN_EFORMAT, DN_REJECT_MISSING, "final run", NULL);
    c.kind = DINAMO__CONTROL_KIND__HEARTBEAT;
    expect_reject(&env, DN_EFORMAT, DN_REJECT_MISSING, "heartbeat without a service", NULL);
    c.kind = 12;
    expect_reject(&env, DN_ERANGE, DN_REJECT_ENUM, "kind 12", NULL);
}

/* ---- hostile bytes ----------------------------------------------------- */

Test(msg, threshold_errors)
{
    Dinamo__Threshold t = make_threshold();
    Dinamo__Envelope env = wrap(&t, DINAMO__ENVELOPE__BODY_THRESHOLD);
    t.histogram_key = (char *)"";
    expect_reject(&env, DN_EFORMAT, DN_REJECT_KEY, "threshold", "histogram key is empty", NULL);
    t.histogram_key = (char *)"calo\x01/e";
    expect_reject(&env, DN_EFORMAT, DN_REJECT_KEY, "threshold", "control character", NULL);
    t = make_threshold();
    t.has_method = 0;
    expect_reject(&env, DN_EFORMAT, DN_REJECT_MISSING, "threshold of 'calo/e'", "no method",
                  NULL);
    t.has_method = 1;
    t.method = DINAMO__METHOD__METHOD_UNSPECIFIED;
    expect_reject(&env, DN_ERANGE, DN_REJECT_ENUM, "'calo/e'", "unknown method 0", NULL);
    t.method = (Dinamo__Method)7;
    expect_reject(&env, DN_ERANGE, DN_REJECT_ENUM, "unknown method 7", NULL);
    t = make_threshold();
    t.has_bad = 0;
    expect_reject(&env, DN_EFORMAT, DN_REJECT_MISSING, "threshold of 'calo/e' (ML)",
                  "no bad threshold", NULL);
    t.has_bad = 1;
    t.bad = NAN;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "(ML)", "bad threshold nan", NULL);
    t.bad = -INFINITY;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "bad threshold -inf", NULL);
    t = make_threshold();
    t.warning = 3.0; /* above bad 2.5 */
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "warning threshold 3",
                  "bad = 2.5", NULL);
    t.warning = -INFINITY;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "warning threshold -inf", NULL);
    t = make_threshold();
    t.origin = (char *)"guessed";
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "origin 'guessed'", NULL);
    /* the horizons' thresholds: a name each, no bad -inf (absent or NaN: never votes) */
    t = make_threshold();
    Dinamo__HorizonThreshold h[2] = {DINAMO__HORIZON_THRESHOLD__INIT,
                                     DINAMO__HORIZON_THRESHOLD__INIT}, *hp[2] = {&h[0], &h[1]};
    h[0].name = (char *)"500r";
    h[0].has_bad = 1;
    h[0].bad = NAN;
    h[1].has_bad = 1;
    h[1].bad = 0.7;
    t.n_horizons = 2;
    t.horizons = hp;
    expect_reject(&env, DN_EFORMAT, DN_REJECT_MISSING, "(ML)", "horizon 2 has no name", NULL);
    h[1].name = (char *)"7d";
    h[1].bad = -INFINITY;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "horizon 2: bad threshold -inf", NULL);
    h[1].bad = 0.7;
    Dinamo__Envelope *e = NULL;
    dn_err_t err = {0};
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    cr_assert(e->threshold->n_horizons == 2 && isnan(e->threshold->horizons[0]->bad) &&
              !strcmp(e->threshold->horizons[1]->name, "7d") &&
              e->threshold->horizons[1]->bad == 0.7, "the horizons did not come back");
    dn_msg_free(&e);
    t.origin = (char *)"";
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "origin ''", NULL);
}

Test(msg, truncated_bytes_are_format_errors)
{
    fixture_t f;
    make_run(&f);
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(dn_msg_encode(&f.env, &buf, &len, NULL), 0);
    dn_msg_stats_t st = {0};
    int parse_fail = 0;
    for (size_t n = 0; n < len; n++) {
        /* copy so ASan catches any read past the given length */
        uint8_t *part = malloc(n ? n : 1);
        memcpy(part, buf, n);
        Dinamo__Envelope *e = NULL;
        dn_err_t err = {0};
        int rc = dn_msg_decode(part, n, &e, &st, &err);
        free(part);
        /* A prefix either fails to parse, or parses into a message that lacks
         * something (validation) - never into a valid run. */
        cr_assert_neq(rc, 0, "prefix of %zu/%zu bytes accepted", n, len);
        cr_assert_null(e);
        cr_assert(rc == DN_EFORMAT || rc == DN_ERANGE || rc == DN_EMISMATCH, "prefix %zu: %d %s",
                  n, rc, err.msg);
        parse_fail += rc == DN_EFORMAT;
    }
    cr_assert_eq(st.accepted, 0);
    cr_assert_eq(dn_msg_stats_rejected(&st), len);
    cr_assert_gt(st.rejected[DN_REJECT_PARSE], len / 2, "only %llu of %zu prefixes unparseable",
                 (unsigned long long)st.rejected[DN_REJECT_PARSE], len);
    /* every unparseable prefix reported DN_EFORMAT */
    cr_assert_geq(parse_fail, (int)st.rejected[DN_REJECT_PARSE], "%d EFORMAT for %llu parse fails",
                  parse_fail, (unsigned long long)st.rejected[DN_REJECT_PARSE]);
    free(buf);
}

Test(msg, random_bytes_never_crash)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 20240601);
    dn_msg_stats_t st = {0};
    fixture_t f;
    make_run(&f);
    uint8_t *good = NULL;
    size_t glen = 0;
    cr_assert_eq(dn_msg_encode(&f.env, &good, &glen, NULL), 0);
    int n_trials = 20000;
    for (int t = 0; t < n_trials; t++) {
        size_t len = t % 2 == 0 ? (size_t)dn_rng_below(&rng, 200) : glen;
        uint8_t *b = malloc(len ? len : 1);
        if (t % 2 == 0) {
            for (size_t i = 0; i < len; i++)
                b[i] = (uint8_t)dn_rng_next(&rng);
        } else {
            /* mutate a valid message: a few random byte flips */
            memcpy(b, good, len);
            int flips = 1 + (int)dn_rng_below(&rng, 4);
            for (int k = 0; k < flips; k++)
                b[dn_rng_below(&rng, len)] ^= (uint8_t)(1 + dn_rng_below(&rng, 255));
        }
        Dinamo__Envelope *e = NULL;
        dn_err_t err = {0};
        int rc = dn_msg_decode(b, len, &e, &st, &err);
        free(b);
        if (rc == 0) {
            /* a mutation can still be valid; it must then pass validation */
            cr_assert_eq(dn_msg_validate(e, NULL, NULL), 0);
            dn_msg_free(&e);
        } else {
            cr_assert(rc == DN_EFORMAT || rc == DN_ERANGE || rc == DN_EMISMATCH,
                      "unexpected code %d: %s", rc, err.msg);
            cr_assert(err.msg[0], "empty error message for code %d", rc);
            cr_assert_null(e);
        }
    }
    free(good);
    cr_assert_eq(st.accepted + dn_msg_stats_rejected(&st), (uint64_t)n_trials);
    /* pure garbage is overwhelmingly unparseable */
    cr_assert_gt(st.rejected[DN_REJECT_PARSE], (uint64_t)n_trials / 4,
                 "parse rejects %llu", (unsigned long long)st.rejected[DN_REJECT_PARSE]);
}

Test(msg, oversized_length_is_refused_before_parsing)
{
    uint8_t b[4] = {0};
    Dinamo__Envelope *e = NULL;
    dn_err_t err = {0};
    dn_msg_stats_t st = {0};
    cr_assert_eq(dn_msg_decode(b, (size_t)DN_MSG_SIZE_MAX + 1, &e, &st, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "exceeds"), "%s", err.msg);
    cr_assert_eq(st.rejected[DN_REJECT_PARSE], 1);
}

/* ---- sequence tracker -------------------------------------------------- */

Test(msg, seq_tracker)
{
    dn_seq_tracker_t *t = dn_seq_tracker_new();
    uint64_t miss = 123;
    cr_assert_eq(dn_seq_tracker_feed(t, "a", 1, 0, &miss), DN_SEQ_NEW);
    cr_assert_eq(miss, 0);
    cr_assert_eq(dn_seq_tracker_feed(t, "a", 1, 1, &miss), DN_SEQ_NEW);
    cr_assert_eq(dn_seq_tracker_feed(t, "a", 1, 1, &miss), DN_SEQ_DUPLICATE);
    cr_assert_eq(dn_seq_tracker_feed(t, "a", 1, 0, &miss), DN_SEQ_DUPLICATE);
    cr_assert_eq(dn_seq_tracker_feed(t, "a", 1, 5, &miss), DN_SEQ_GAP);
    cr_assert_eq(miss, 3, "missing %llu", (unsigned long long)miss);
    cr_assert_eq(dn_seq_tracker_feed(t, "a", 1, 6, &miss), DN_SEQ_NEW);
    /* another producer is independent; joining it late is no loss */
    cr_assert_eq(dn_seq_tracker_feed(t, "b", 1, 10, &miss), DN_SEQ_JOIN);
    cr_assert_eq(miss, 10);
    cr_assert_eq(dn_seq_tracker_feed(t, "b", 1, 11, &miss), DN_SEQ_NEW);
    /* producer a restarts */
    cr_assert_eq(dn_seq_tracker_feed(t, "a", 2, 0, &miss), DN_SEQ_RESTART);
    cr_assert_eq(miss, 0);
    cr_assert_eq(dn_seq_tracker_feed(t, "a", 1, 7, &miss), DN_SEQ_DUPLICATE); /* straggler */
    cr_assert_eq(dn_seq_tracker_feed(t, "a", 2, 1, &miss), DN_SEQ_NEW);
    dn_seq_totals_t tot = dn_seq_tracker_totals(t);
    cr_assert_eq(tot.fresh, 8);
    cr_assert_eq(tot.duplicates, 3);
    cr_assert_eq(tot.gaps, 1);
    cr_assert_eq(tot.missing, 3);
    cr_assert_eq(tot.restarts, 1);
    uint64_t inc, seq;
    cr_assert_eq(dn_seq_tracker_last(t, "a", &inc, &seq), 0);
    cr_assert(inc == 2 && seq == 1);
    cr_assert_eq(dn_seq_tracker_last(t, "zz", NULL, NULL), DN_ENOTFOUND);
    cr_assert_eq(dn_seq_tracker_feed(t, NULL, 0, 0, NULL), DN_EINVAL);
    dn_seq_tracker_destroy(&t);
    cr_assert_null(t);
}

Test(msg, seq_tracker_many_producers_save_load)
{
    dn_seq_tracker_t *t = dn_seq_tracker_new();
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "producer-%d", i);
        for (int s = 0; s <= i % 7; s++)
            cr_assert_eq(dn_seq_tracker_feed(t, name, 5, (uint64_t)s, NULL), DN_SEQ_NEW);
    }
    uint8_t *buf;
    size_t len;
    cr_assert_eq(dn_seq_tracker_save(t, &buf, &len), 0);
    dn_seq_tracker_t *u = dn_seq_tracker_new();
    dn_err_t err = {0};
    cr_assert_eq(dn_seq_tracker_load(u, buf, len, &err), 0, "%s", err.msg);
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "producer-%d", i);
        uint64_t inc, seq;
        cr_assert_eq(dn_seq_tracker_last(u, name, &inc, &seq), 0, "%s lost", name);
        cr_assert(inc == 5 && seq == (uint64_t)(i % 7), "%s: inc %llu seq %llu", name,
                  (unsigned long long)inc, (unsigned long long)seq);
        cr_assert_eq(dn_seq_tracker_feed(u, name, 5, (uint64_t)(i % 7), NULL), DN_SEQ_DUPLICATE);
    }
    cr_assert_eq(dn_seq_tracker_totals(u).fresh, dn_seq_tracker_totals(t).fresh);
    /* every truncation is refused and leaves the tracker as it was */
    for (size_t n = 0; n < len; n += 97) {
        cr_assert_eq(dn_seq_tracker_load(u, buf, n, &err), DN_EFORMAT, "prefix %zu accepted", n);
        cr_assert_eq(dn_seq_tracker_last(u, "producer-999", NULL, NULL), 0);
    }
    buf[0] = 'X';
    cr_assert_eq(dn_seq_tracker_load(u, buf, len, &err), DN_EFORMAT);
    free(buf);
    dn_seq_tracker_destroy(&t);
    dn_seq_tracker_destroy(&u);
}

/* Issue 17: 100k heartbeats each from a new producer name grew scorer_ml's
 * sequence table from 27 to 33 MB. The table stays at its cap, the
 * producers that keep sending stay in it (they are seen again; the flood's
 * names are seen once), the evictions are counted, and the heap does not
 * grow with the flood. */
Test(msg, seq_tracker_100k_forged_producers_stay_at_the_cap_memory_flat)
{
    dn_seq_tracker_t *t = dn_seq_tracker_new();
    cr_assert_not_null(t);
    char name[64];
    uint64_t seq_a = 0;
    cr_assert_eq(dn_seq_tracker_feed(t, "generator|run", 7, seq_a++, NULL), DN_SEQ_NEW);
    cr_assert_eq(dn_seq_tracker_feed(t, "generator|run", 7, seq_a++, NULL), DN_SEQ_NEW);
    size_t heap_at_cap = 0;
    for (int i = 0; i < 100000; i++) {
        snprintf(name, sizeof name, "forged-producer-%06d|control", i);
        int st = dn_seq_tracker_feed(t, name, 1, 0, NULL);
        cr_assert_eq(st, DN_SEQ_NEW, "forged %d: status %d", i, st);
        cr_assert_leq(dn_seq_tracker_size(t), DN_SEQ_PRODUCERS_MAX);
        if (i % 100 == 0) /* the real producer keeps sending, in order */
            cr_assert_eq(dn_seq_tracker_feed(t, "generator|run", 7, seq_a++, NULL), DN_SEQ_NEW,
                         "the real producer lost its place at forged name %d", i);
        if (i == 2 * DN_SEQ_PRODUCERS_MAX)
            heap_at_cap = mallinfo2().uordblks;
    }
    size_t heap_end = mallinfo2().uordblks;
    cr_assert_eq(dn_seq_tracker_size(t), DN_SEQ_PRODUCERS_MAX);
    dn_seq_totals_t tot = dn_seq_tracker_totals(t);
    cr_assert_eq(tot.evicted, 100000 + 1 - DN_SEQ_PRODUCERS_MAX, "evicted %llu",
                 (unsigned long long)tot.evicted);
    cr_assert_eq(tot.gaps, 0u);
    uint64_t inc, last;
    cr_assert_eq(dn_seq_tracker_last(t, "generator|run", &inc, &last), 0);
    cr_assert_eq(last, seq_a - 1);
    /* The early forged names are gone, the latest are there. */
    cr_assert_eq(dn_seq_tracker_last(t, "forged-producer-000000|control", NULL, NULL),
                 DN_ENOTFOUND);
    cr_assert_eq(dn_seq_tracker_last(t, "forged-producer-099999|control", NULL, NULL), 0);
    long grown = (long)heap_end - (long)heap_at_cap;
    cr_assert_lt(grown, 16 * 1024, "heap grew %ld bytes over 98k forged names past the cap",
                 grown);
    fprintf(stderr, "100k forged producers: %zu tracked, %llu evicted, heap %zu bytes at "
            "2x the cap, %+ld bytes at the end\n", dn_seq_tracker_size(t),
            (unsigned long long)tot.evicted, heap_at_cap, grown);
    /* The saved state is bounded too, and loads back as it was. */
    uint8_t *buf;
    size_t len;
    cr_assert_eq(dn_seq_tracker_save(t, &buf, &len), 0);
    cr_assert_lt(len, (size_t)DN_SEQ_PRODUCERS_MAX * 64, "saved state of %zu bytes", len);
    dn_seq_tracker_t *u = dn_seq_tracker_new();
    dn_err_t err = {0};
    cr_assert_eq(dn_seq_tracker_load(u, buf, len, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_seq_tracker_size(u), DN_SEQ_PRODUCERS_MAX);
    cr_assert_eq(dn_seq_tracker_totals(u).evicted, tot.evicted);
    /* A smaller cap on load keeps the most recently seen, the real one first. */
    dn_seq_tracker_t *small = dn_seq_tracker_new();
    cr_assert_eq(dn_seq_tracker_set_max(small, 10), 0);
    cr_assert_eq(dn_seq_tracker_load(small, buf, len, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_seq_tracker_size(small), 10);
    cr_assert_eq(dn_seq_tracker_last(small, "generator|run", NULL, &last), 0);
    cr_assert_eq(last, seq_a - 1);
    cr_assert_eq(dn_seq_tracker_last(small, "forged-producer-099999|control", NULL, NULL), 0);
    cr_assert_eq(dn_seq_tracker_last(small, "forged-producer-099990|control", NULL, NULL),
                 DN_ENOTFOUND);
    cr_assert_eq(dn_seq_tracker_set_max(small, 0), DN_EINVAL);
    free(buf);
    dn_seq_tracker_destroy(&small);
    dn_seq_tracker_destroy(&u);
    dn_seq_tracker_destroy(&t);
}

/* A state saved by version 1 (five totals, no list flag) still loads. */
Test(msg, seq_tracker_loads_a_version_1_state)
{
    uint8_t b[64 + 2 * (4 + 1 + 16)], *p = b;
    memcpy(p, "DNSQ", 4);
    p += 4;
    uint64_t head[] = {2, 10, 1, 0, 0, 0}; /* n, fresh, duplicates, gaps, missing, restarts */
    uint32_t one = 1;
    memcpy(p, &one, 4); /* little-endian on every machine we build for */
    p += 4;
    for (int i = 0; i < 6; i++, p += 8)
        memcpy(p, &head[i], 8);
    for (int k = 0; k < 2; k++) {
        uint32_t l = 1;
        memcpy(p, &l, 4);
        p[4] = (uint8_t)('a' + k);
        uint64_t inc = 3, seq = (uint64_t)(5 + k);
        memcpy(p + 5, &inc, 8);
        memcpy(p + 13, &seq, 8);
        p += 21;
    }
    dn_seq_tracker_t *t = dn_seq_tracker_new();
    dn_err_t err = {0};
    cr_assert_eq(dn_seq_tracker_load(t, b, (size_t)(p - b), &err), 0, "%s", err.msg);
    uint64_t seq;
    cr_assert_eq(dn_seq_tracker_last(t, "b", NULL, &seq), 0);
    cr_assert_eq(seq, 6);
    cr_assert_eq(dn_seq_tracker_totals(t).fresh, 10);
    cr_assert_eq(dn_seq_tracker_feed(t, "a", 3, 6, NULL), DN_SEQ_NEW);
    dn_seq_tracker_destroy(&t);
}

Test(msg, names)
{
    cr_assert_str_eq(dn_reject_name(DN_REJECT_COUNT), "count");
    cr_assert_str_eq(dn_reject_name(-1), "?");
    cr_assert_str_eq(dn_reject_name(DN_REJECT__N), "?");
    for (int i = 0; i < DN_REJECT__N; i++)
        cr_assert_str_neq(dn_reject_name(i), "?", "reason %d unnamed", i);
    cr_assert_str_eq(dn_msg_type_name(DN_MSG_WEIGHTS), "weights");
    cr_assert_str_eq(dn_msg_type_name(DN_MSG_THRESHOLD), "threshold");
    cr_assert_eq(dn_msg_type(NULL), DN_MSG_NONE);
}

/* The 27 bytes of issue 17: a valid Label envelope whose body ends in field 0
 * in a long form (80 00 00). protobuf-c parses it and keeps the field as
 * unknown; passed on, it was stored in the events log and no follower could
 * read it back (they rewound to it forever). It must be refused at decode,
 * as must an unknown field anywhere inside (here in a run's histogram). */
static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

Test(msg, unknown_fields_anywhere_are_refused_by_name)
{
    uint8_t buf[256];
    size_t n = unhex("0a017818005a14102518252001280232076d616c6c6f7279800000", buf);
    cr_assert_eq(n, 27);
    Dinamo__Envelope *env = NULL;
    dn_msg_stats_t st = {0};
    dn_err_t err = {0};
    int rc = dn_msg_decode(buf, n, &env, &st, &err);
    cr_assert_eq(rc, DN_EFORMAT, "the wedge decoded (rc %d)", rc);
    cr_assert_null(env);
    cr_assert(strstr(err.msg, "unknown field"), "message: %s", err.msg);
    cr_assert_eq(st.rejected[DN_REJECT_UNKNOWN], 1);
    cr_assert_eq(st.last_reason, DN_REJECT_UNKNOWN);
    /* The same label without the trailing field is a valid label: the bytes
     * are producer "x" (0a 01 78), seq 0 (18 00), then the label (5a, length
     * 0x14 at byte 6, which loses the 3 bytes). */
    uint8_t ok[64];
    memcpy(ok, buf, n - 3);
    cr_assert_eq(ok[5], 0x5a);
    ok[6] = 0x14 - 3;
    rc = dn_msg_decode(ok, n - 3, &env, NULL, &err);
    cr_assert_eq(rc, 0, "the label without its unknown field: %s", err.msg);
    cr_assert_eq(dn_msg_type(env), DN_MSG_LABEL);
    dn_msg_free(&env);
    /* Deep inside: an unknown field (number 99, varint) in a histogram. */
    Dinamo__Histogram h = DINAMO__HISTOGRAM__INIT;
    h.key = "calo/e";
    double counts[2] = {1, 2};
    h.counts = counts, h.n_counts = 2;
    uint8_t hb[128];
    size_t hl = dinamo__histogram__pack(&h, hb);
    hb[hl++] = ((99 << 3) & 0x7f) | 0x80; /* tag of field 99, wire type 0: a two-byte varint */
    hb[hl++] = (99 << 3) >> 7;
    hb[hl++] = 1;
    Dinamo__Histogram *hp = dinamo__histogram__unpack(NULL, hl, hb);
    cr_assert_not_null(hp, "protobuf-c refused the histogram itself");
    Dinamo__Run r = DINAMO__RUN__INIT;
    r.has_run_number = 1, r.run_number = 7;
    r.has_run_seq = 1, r.run_seq = 0;
    r.histograms = &hp, r.n_histograms = 1;
    Dinamo__Envelope e = DINAMO__ENVELOPE__INIT;
    e.producer = "p";
    e.has_seq = 1;
    e.body_case = DINAMO__ENVELOPE__BODY_RUN;
    e.run = &r;
    uint8_t *eb = NULL;
    size_t el = 0;
    cr_assert_eq(dn_msg_encode_unchecked(&e, &eb, &el), 0);
    rc = dn_msg_decode(eb, el, &env, NULL, &err);
    cr_assert_eq(rc, DN_EFORMAT, "a run with an unknown field in its histogram decoded");
    cr_assert(strstr(err.msg, "1 unknown field"), "message: %s", err.msg);
    free(eb);
    dinamo__histogram__free_unpacked(hp, NULL);
}

/* The slow-anomaly truth of a Label (issue 20): round trip, kind 0..3 and a
 * finite size >= 0, a Truth without them still valid. */
Test(msg, label_slow_truth)
{
    Dinamo__Label l = make_label();
    Dinamo__Truth t = DINAMO__TRUTH__INIT;
    t.has_mu = t.has_sigma = 1;
    t.mu = 0.5;
    t.sigma = 1.25;
    l.truth = &t;
    Dinamo__Envelope env = wrap(&l, DINAMO__ENVELOPE__BODY_LABEL), *e = NULL;
    dn_err_t err = {0};
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    cr_assert(!e->label->truth->has_slow_kind && !e->label->truth->has_slow_size &&
              !e->label->truth->has_slow_bad, "slow fields appeared");
    dn_msg_free(&e);
    t.has_slow_kind = t.has_slow_size = t.has_slow_bad = 1;
    t.slow_kind = 3;
    t.slow_size = 0.375;
    t.slow_bad = 1;
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    cr_assert_eq(e->label->truth->slow_kind, 3);
    cr_assert_eq(e->label->truth->slow_size, 0.375);
    cr_assert_eq(e->label->truth->slow_bad, 1);
    dn_msg_free(&e);
    t.slow_kind = 4;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "slow kind 4", NULL);
    t.slow_kind = 1;
    t.slow_size = -0.5;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "slow size -0.5", NULL);
    t.slow_size = NAN;
    expect_reject(&env, DN_ERANGE, DN_REJECT_VALUE, "slow size nan", NULL);
    t.slow_size = 0.0;
    cr_assert_eq(roundtrip(&env, &e, &err, NULL), 0, "%s", err.msg);
    dn_msg_free(&e);
}
