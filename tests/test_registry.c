/* test_registry.c: the registry service (services/registry) as a real
 * process, and its client (lib/pipe/registry.h): the storage operations and
 * their errors, a retried write answered from its stored outcome and never
 * applied twice, stale numbers, weights checked before they are stored and
 * published once, hostile requests refused by name without harm, and a
 * registry killed with -9 and restarted while a client waits, losing nothing
 * it had acknowledged. The lease protocol over the registry is
 * test_lease_registry.c. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "lease_store.h"
#include "msg.h"
#include "registry.h"
#include "registry_proc.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];
static dn_test_registry_t reg;
static dn_lease_store_t *ls;
static dn_sock_t *sub; /* a test's own socket, closed before its context */

static void setup(void)
{
    dn_test_tmpdir(dir, "registry");
    dn_test_registry_start(&reg, dir);
    dn_test_registry_connect(&reg, "test", 5000);
    ls = dn_registry_lease_store(reg.client);
    cr_assert_not_null(ls);
}

static void teardown(void)
{
    dn_lease_store_destroy(&ls);
    dn_sock_destroy(&sub);
    dn_test_registry_stop(&reg, SIGTERM);
    dn_test_rmdir(dir);
}

TestSuite(registry, .init = setup, .fini = teardown, .timeout = 120);

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* ---- requests by hand: chosen numbers, raw bytes ----------------------------------- */

/* Sends bytes as one request frame on a fresh DEALER and returns the answer
 * (caller frees), or NULL when none came within 5 s. */
static Dinamo__RegistryReply *raw_call(const void *bytes, size_t len, int frames)
{
    dn_err_t err = {0};
    char ep[300];
    snprintf(ep, sizeof ep, "connect:%s", reg.requests);
    dn_sock_t *d = dn_sock_new(reg.ctx, ZMQ_DEALER, ep, NULL, &err);
    cr_assert_not_null(d, "%s", err.msg);
    dn_frames_t f = {.n = frames};
    for (int i = 0; i < frames; i++)
        f.data[i] = (void *)bytes, f.len[i] = len;
    cr_assert_eq(dn_sock_send_frames(d, &f, 2000, &err), 0, "%s", err.msg);
    dn_frames_t in;
    int rc = dn_sock_recv_frames(d, 5000, &in, &err);
    Dinamo__RegistryReply *r = NULL;
    if (rc == 0)
        r = dinamo__registry_reply__unpack(NULL, in.len[in.n - 1], in.data[in.n - 1]);
    dn_frames_clear(&in);
    dn_sock_destroy(&d);
    return r;
}

static Dinamo__RegistryReply *send_request(Dinamo__RegistryRequest *q)
{
    size_t len = dinamo__registry_request__get_packed_size(q);
    uint8_t *buf = malloc(len + 1);
    dinamo__registry_request__pack(q, buf);
    Dinamo__RegistryReply *r = raw_call(buf, len, 1);
    free(buf);
    cr_assert_not_null(r, "no answer to request %llu", (unsigned long long)q->id);
    return r;
}

/* A CAS of table t, key k: expecting absence (expect NULL) or expect, to val. */
static Dinamo__RegistryReply *cas_numbered(const char *client, uint64_t id, const char *k,
                                           const char *expect, const char *val)
{
    Dinamo__RegistryRequest q = DINAMO__REGISTRY_REQUEST__INIT;
    q.client = (char *)client;
    q.has_id = 1, q.id = id;
    q.has_op = 1, q.op = DINAMO__REGISTRY_OP__REGISTRY_CAS;
    q.table = "t";
    q.has_key = 1, q.key.data = (uint8_t *)k, q.key.len = strlen(k);
    if (expect)
        q.has_expect = 1, q.expect.data = (uint8_t *)expect, q.expect.len = strlen(expect);
    else
        q.has_expect_absent = 1, q.expect_absent = 1;
    q.has_value = 1, q.value.data = (uint8_t *)val, q.value.len = strlen(val);
    return send_request(&q);
}

static void expect_status(Dinamo__RegistryReply *r, int status, const char *words)
{
    cr_assert_eq(r->status, status, "status %d (%s), want %d", r->status,
                 r->error ? r->error : "", status);
    if (words)
        cr_assert(r->error && strstr(r->error, words), "error '%s' does not say '%s'",
                  r->error ? r->error : "(none)", words);
    dinamo__registry_reply__free_unpacked(r, NULL);
}

static void expect_value(const char *table, const char *key, const char *want)
{
    void *v = NULL;
    size_t n = 0;
    dn_err_t err = {0};
    int rc = dn_lease_store_get(ls, table, key, strlen(key), &v, &n, &err);
    if (!want) {
        cr_assert_eq(rc, DN_ENOTFOUND, "%s/%s: rc %d, want not found", table, key, rc);
    } else {
        cr_assert_eq(rc, 0, "%s/%s: %s", table, key, err.msg);
        cr_assert(n == strlen(want) && !memcmp(v, want, n), "%s/%s = '%.*s', want '%s'", table,
                  key, (int)n, (const char *)v, want);
    }
    free(v);
}

/* ---- the storage operations ------------------------------------------------------- */

static int collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    char *out = arg;
    size_t at = strlen(out);
    snprintf(out + at, 256 - at, "%.*s=%.*s;", (int)klen, (const char *)key, (int)vlen,
             (const char *)val);
    return 0;
}

Test(registry, get_cas_scan_apply_answer_as_the_store_does)
{
    dn_err_t err = {0};
    expect_value("t", "a", NULL);
    cr_assert_eq(dn_lease_store_cas(ls, "t", "a", 1, NULL, 0, "1", 1, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_lease_store_cas(ls, "t", "a", 1, NULL, 0, "2", 1, &err), DN_ESTATE,
                 "a CAS expecting absence over a value must fail");
    cr_assert_eq(dn_lease_store_cas(ls, "t", "a", 1, "9", 1, "2", 1, &err), DN_ESTATE);
    cr_assert_eq(dn_lease_store_cas(ls, "t", "a", 1, "1", 1, "2", 1, &err), 0, "%s", err.msg);
    expect_value("t", "a", "2");
    /* A batch is all or nothing: its failing compare leaves the puts unwritten. */
    dn_lease_batch_t *b = dn_lease_batch_new();
    cr_assert_eq(dn_lease_batch_put(b, "t", "p/2", 3, "x", 1), 0);
    cr_assert_eq(dn_lease_batch_cas(b, "t", "a", 1, "1", 1, "3", 1), 0);
    cr_assert_eq(dn_lease_store_apply(ls, b, &err), DN_ESTATE);
    expect_value("t", "p/2", NULL);
    dn_lease_batch_clear(b);
    cr_assert_eq(dn_lease_batch_put(b, "t", "p/2", 3, "x", 1), 0);
    cr_assert_eq(dn_lease_batch_put(b, "t", "p/1", 3, "y", 1), 0);
    cr_assert_eq(dn_lease_batch_put(b, "t", "q", 1, "z", 1), 0);
    cr_assert_eq(dn_lease_batch_cas(b, "t", "a", 1, "2", 1, "3", 1), 0);
    cr_assert_eq(dn_lease_store_apply(ls, b, &err), 0, "%s", err.msg);
    dn_lease_batch_destroy(&b);
    char seen[256] = "";
    cr_assert_eq(dn_lease_store_scan(ls, "t", "p/", 2, collect, seen, &err), 0, "%s", err.msg);
    cr_assert_str_eq(seen, "p/1=y;p/2=x;", "a prefix scan in key order");
    seen[0] = '\0';
    cr_assert_eq(dn_lease_store_scan(ls, "t", NULL, 0, collect, seen, &err), 0, "%s", err.msg);
    cr_assert_str_eq(seen, "a=3;p/1=y;p/2=x;q=z;");
    seen[0] = '\0';
    cr_assert_eq(dn_lease_store_scan(ls, "none", NULL, 0, collect, seen, &err), 0);
    cr_assert_str_eq(seen, "", "a missing table has no records");
    cr_assert_eq(dn_lease_store_sync(ls, &err), 0, "%s", err.msg);
}

Test(registry, a_repeated_write_is_answered_from_its_outcome_never_applied_twice)
{
    /* Request 7 claims k; its answer was "lost" and it is sent again after
     * another client changed k back to absent... here: after k changed. */
    expect_status(cas_numbered("c1", 7, "k", NULL, "mine"), 0, NULL);
    dn_err_t err = {0};
    cr_assert_eq(dn_lease_store_cas(ls, "t", "k", 1, "mine", 4, "theirs", 6, &err), 0, "%s",
                 err.msg);
    /* Applied again it would fail (k is not absent): it is answered 0 and k
     * stays what the other client wrote. */
    expect_status(cas_numbered("c1", 7, "k", NULL, "mine"), 0, NULL);
    expect_value("t", "k", "theirs");
    /* A new number is a new request: it fails on its own merits. */
    expect_status(cas_numbered("c1", 8, "k", NULL, "mine"), DN_ESTATE, NULL);
    /* A failed write is not stored: its retry is tried again (and succeeds
     * now that k is what it expects). */
    expect_status(cas_numbered("c1", 9, "k", "theirs", "back"), 0, NULL);
    expect_value("t", "k", "back");
    /* An answer for a number older than the last done is refused as stale. */
    expect_status(cas_numbered("c1", 3, "k", "back", "old"), DN_ESTATE, "older");
    expect_value("t", "k", "back");
    /* Other clients have numbers of their own. */
    expect_status(cas_numbered("c2", 1, "k2", NULL, "v"), 0, NULL);
    expect_value("t", "k2", "v");
}

/* ---- weights ------------------------------------------------------------------ */

/* The encoded envelope of version v of key (2 bins, 1 layer: a tiny model). */
static uint8_t *weights_blob(const char *key, uint64_t v, size_t *len)
{
    Dinamo__ModelWeights w = DINAMO__MODEL_WEIGHTS__INIT;
    w.histogram_key = (char *)key;
    w.has_version = 1, w.version = v;
    w.has_n_bins = 1, w.n_bins = 2;
    w.has_d_model = 1, w.d_model = 2;
    w.has_n_heads = 1, w.n_heads = 1;
    w.has_n_layers = 1, w.n_layers = 1;
    w.has_d_ff = 1, w.d_ff = 2;
    w.has_context = 1, w.context = 1;
    w.has_dropout = 1, w.dropout = 0;
    w.has_activation = 1, w.activation = DINAMO__ACTIVATION__RELU;
    static uint8_t params[1 << 16];
    w.has_blob = 1, w.blob.data = params, w.blob.len = 0;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.producer = "test";
    env.has_seq = 1;
    env.body_case = DINAMO__ENVELOPE__BODY_WEIGHTS;
    env.weights = &w;
    /* The parameter count is the architecture's: find it by asking the
     * validator for the expected length once. */
    dn_err_t err = {0};
    uint8_t *buf = NULL;
    for (size_t n = 0; n <= sizeof params; n += 4) {
        w.blob.len = n;
        if (dn_msg_encode(&env, &buf, len, &err) == 0)
            return buf;
    }
    cr_assert_fail("no parameter count fits: %s", err.msg);
    return NULL;
}

Test(registry, weights_are_checked_stored_published_once_and_read_back)
{
    dn_err_t err = {0};
    char ep[300];
    snprintf(ep, sizeof ep, "bind:%s", reg.weights);
    sub = dn_sock_new(reg.ctx, ZMQ_SUB, ep, NULL, &err);
    cr_assert_not_null(sub, "%s", err.msg);
    /* The registry's PUB reconnects to us. A bound SUB takes its new peer's
     * subscriptions only while it is polled (libzmq #1594, #2267): poll, as a
     * service's loop does, instead of sleeping. */
    for (int i = 0; i < 10; i++) {
        Dinamo__Envelope *env = NULL;
        cr_assert_eq(dn_sock_recv(sub, 50, &env, NULL, &err), DN_BUS_TIMEOUT);
    }
    size_t n1, n2;
    uint8_t *v1 = weights_blob("calo/e", 1, &n1), *v2 = weights_blob("calo/e", 2, &n2);
    /* Not weights, other key, other version: refused, nothing stored. */
    cr_assert_eq(dn_registry_weights_put(reg.client, "calo/e", 1, "junk", 4, 0, &err),
                 DN_EFORMAT, "junk was taken");
    cr_assert_eq(dn_registry_weights_put(reg.client, "calo/x", 1, v1, n1, 0, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "not that version of that key"), "%s", err.msg);
    cr_assert_eq(dn_registry_weights_put(reg.client, "calo/e", 2, v1, n1, 0, &err), DN_EINVAL);
    void *b = NULL;
    size_t n = 0;
    uint64_t got = 0;
    cr_assert_eq(dn_registry_weights_latest(reg.client, "calo/e", &got, &b, &n, &err),
                 DN_ENOTFOUND);
    /* Stored, published; the same put again is not published again. */
    cr_assert_eq(dn_registry_weights_put(reg.client, "calo/e", 1, v1, n1, 1, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(dn_registry_weights_put(reg.client, "calo/e", 1, v1, n1, 1, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(dn_registry_weights_put(reg.client, "calo/e", 2, v2, n2, 1, &err), 0, "%s",
                 err.msg);
    uint64_t seen[4];
    int n_seen = 0;
    for (;;) {
        Dinamo__Envelope *env = NULL;
        int rc = dn_sock_recv(sub, 1000, &env, NULL, &err);
        if (rc == DN_BUS_TIMEOUT)
            break;
        cr_assert_eq(rc, 0, "%s", err.msg);
        cr_assert_lt(n_seen, 4);
        seen[n_seen++] = env->weights->version;
        dn_msg_free(&env);
    }
    if (n_seen != 2) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "cat %s/registry.log >&2", dir);
        (void)!system(cmd);
    }
    cr_assert_eq(n_seen, 2, "%d publications, want 2 (v1 once, v2)", n_seen);
    cr_assert(seen[0] == 1 && seen[1] == 2);
    cr_assert_eq(dn_registry_weights_latest(reg.client, "calo/e", &got, &b, &n, &err), 0, "%s",
                 err.msg);
    cr_assert(got == 2 && n == n2 && !memcmp(b, v2, n2), "latest is v%llu",
              (unsigned long long)got);
    free(b);
    /* keep_last 1: v1 is gone. */
    cr_assert_eq(dn_registry_weights_get(reg.client, "calo/e", 1, &b, &n, &err), DN_ENOTFOUND);
    free(v1);
    free(v2);
}

/* ---- hostile requests -------------------------------------------------------------- */

Test(registry, hostile_requests_are_refused_by_name_and_harm_nothing)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_lease_store_cas(ls, "t", "a", 1, NULL, 0, "1", 1, &err), 0, "%s", err.msg);
    /* Bytes that are no request. */
    expect_status(raw_call("\x0a\xff\xff\xff\xff\x0f not protobuf", 20, 1), DN_EFORMAT,
                  "cannot parse");
    /* A valid request with a field 0 appended in a long form: protobuf-c keeps
     * it as an unknown field; we refuse what we do not understand. */
    Dinamo__RegistryRequest q = DINAMO__REGISTRY_REQUEST__INIT;
    q.client = "evil";
    q.has_id = 1, q.id = 1;
    q.has_op = 1, q.op = DINAMO__REGISTRY_OP__REGISTRY_PING;
    uint8_t buf[64];
    size_t len = dinamo__registry_request__pack(&q, buf);
    memcpy(buf + len, "\x80\x00\x00", 3);
    expect_status(raw_call(buf, len + 3, 1), DN_EFORMAT, "unknown field");
    /* Two frames where one request goes. */
    len = dinamo__registry_request__pack(&q, buf);
    expect_status(raw_call(buf, len, 2), DN_EFORMAT, "one frame");
    /* The registry's own tables: no client writes or reads them. */
    Dinamo__RegistryRequest w = DINAMO__REGISTRY_REQUEST__INIT;
    w.client = "evil";
    w.has_id = 1, w.id = 2;
    w.has_op = 1, w.op = DINAMO__REGISTRY_OP__REGISTRY_SCAN;
    w.table = "registry.clients";
    expect_status(send_request(&w), DN_EINVAL, "the registry's own");
    w.table = "dn.weights";
    w.id = 3;
    expect_status(send_request(&w), DN_EINVAL, "the registry's own");
    /* A key longer than any store key; a table name too long; no client. */
    static char big[600];
    memset(big, 'k', sizeof big);
    w.op = DINAMO__REGISTRY_OP__REGISTRY_GET;
    w.table = "t";
    w.id = 4;
    w.has_key = 1, w.key.data = (uint8_t *)big, w.key.len = sizeof big;
    expect_status(send_request(&w), DN_EFORMAT, "key of 600 bytes");
    w.table = big + 500; /* 100 bytes, unterminated is avoided: big ends at 600 */
    big[599] = '\0';
    w.key.len = 1;
    expect_status(send_request(&w), DN_EFORMAT, "table name of 99 bytes");
    w.table = "t";
    w.client = NULL;
    expect_status(send_request(&w), DN_EFORMAT, "client name of 0 bytes");
    /* An operation that does not exist. */
    q.op = 77;
    q.id = 5;
    len = dinamo__registry_request__pack(&q, buf);
    Dinamo__RegistryReply *r = raw_call(buf, len, 1);
    cr_assert_not_null(r);
    cr_assert_neq(r->status, 0, "operation 77 was accepted");
    dinamo__registry_reply__free_unpacked(r, NULL);
    /* Nothing changed, and the registry still serves. */
    expect_value("t", "a", "1");
    cr_assert_eq(dn_registry_ping(reg.client, &err), 0, "%s", err.msg);
    dn_lease_store_destroy(&ls);
    dn_test_registry_stop(&reg, SIGTERM);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "grep -q 'service registry stopping.* 9 rejected' %s/registry.log",
             dir);
    cr_assert_eq(system(cmd), 0, "the service's stop line does not count 9 rejected requests (see the "
                 "log in %s)", dir);
}

/* ---- kill -9 ------------------------------------------------------------------------- */

Test(registry, killed_and_restarted_while_a_client_waits_nothing_acknowledged_is_lost)
{
    dn_err_t err = {0};
    for (int i = 0; i < 50; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "k%02d", i);
        snprintf(v, sizeof v, "v%d", i);
        cr_assert_eq(dn_lease_store_cas(ls, "t", k, strlen(k), NULL, 0, v, strlen(v), &err), 0,
                     "%s", err.msg);
    }
    /* Acknowledged, not synced: a process crash must not lose it (the page
     * cache survives the process). */
    kill(reg.pid, SIGKILL);
    waitpid(reg.pid, NULL, 0);
    reg.pid = 0;
    /* A client asks while no registry runs; it is restarted 1.5 s later. */
    pid_t asker = fork();
    cr_assert_neq(asker, -1);
    if (asker == 0) {
        dn_test_registry_t mine = reg;
        mine.ctx = NULL;
        dn_test_registry_connect(&mine, "asker", 20000);
        dn_lease_store_t *s = dn_registry_lease_store(mine.client);
        dn_err_t e = {0};
        int rc = dn_lease_store_cas(s, "t", "late", 4, NULL, 0, "ok", 2, &e);
        if (rc)
            fprintf(stderr, "asker: %s\n", e.msg);
        dn_lease_store_destroy(&s);
        dn_test_registry_disconnect(&mine);
        _exit(rc ? 1 : 0);
    }
    sleep_ms(1500);
    dn_test_registry_spawn(&reg, dir);
    int st = 0;
    cr_assert_eq(waitpid(asker, &st, 0), asker);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the waiting client got no answer");
    expect_value("t", "late", "ok");
    for (int i = 0; i < 50; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "k%02d", i);
        snprintf(v, sizeof v, "v%d", i);
        expect_value("t", k, v);
    }
}
