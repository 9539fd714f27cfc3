/* test_bus.c: ZeroMQ envelope sockets (lib/bus.h) on loopback only: tcp to
 * 127.0.0.1 on a kernel-chosen port, ipc in a mkdtemp directory, inproc. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"

static void *ctx;

/* Sockets still open, so teardown can close them after a failed assertion
 * (zmq_ctx_term waits for every socket of the context). */
static dn_sock_t *open_socks[16];

static void setup(void)
{
    ctx = zmq_ctx_new();
    cr_assert_not_null(ctx);
}

static void teardown(void)
{
    for (int i = 0; i < 16; i++)
        dn_sock_destroy(&open_socks[i]);
    zmq_ctx_term(ctx);
}

static void close_sock(dn_sock_t **s)
{
    for (int i = 0; i < 16; i++)
        if (open_socks[i] == *s)
            open_socks[i] = NULL;
    dn_sock_destroy(s);
}

TestSuite(bus, .init = setup, .fini = teardown, .timeout = 30);

static dn_sock_t *sock(int type, const char *ep, const dn_sock_opts_t *o)
{
    dn_err_t err = {0};
    dn_sock_t *s = dn_sock_new(ctx, type, ep, o, &err);
    cr_assert_not_null(s, "socket on %s: %s", ep, err.msg);
    int i = 0;
    while (i < 16 && open_socks[i])
        i++;
    cr_assert_lt(i, 16);
    open_socks[i] = s;
    return s;
}

/* A run envelope with one histogram; storage in *st. */
typedef struct run_msg_t {
    double counts[10];
    Dinamo__Histogram h;
    Dinamo__Histogram *hp;
    Dinamo__Run run;
    Dinamo__Envelope env;
} run_msg_t;

static Dinamo__Envelope *make_run(run_msg_t *m, int64_t run_number)
{
    for (int j = 0; j < 10; j++)
        m->counts[j] = (double)(j + run_number);
    dinamo__histogram__init(&m->h);
    m->h.key = (char *)"calo/energy";
    m->h.n_counts = 10;
    m->h.counts = m->counts;
    m->hp = &m->h;
    dinamo__run__init(&m->run);
    m->run.stream = (char *)"s1";
    m->run.has_run_number = m->run.has_run_seq = 1;
    m->run.run_number = run_number;
    m->run.run_seq = (uint64_t)run_number;
    m->run.n_histograms = 1;
    m->run.histograms = &m->hp;
    dinamo__envelope__init(&m->env);
    m->env.body_case = DINAMO__ENVELOPE__BODY_RUN;
    m->env.run = &m->run;
    return &m->env;
}

typedef struct label_msg_t {
    Dinamo__Label l;
    Dinamo__Envelope env;
} label_msg_t;

static Dinamo__Envelope *make_label(label_msg_t *m, int64_t run, int good, const char *key)
{
    dinamo__label__init(&m->l);
    m->l.has_run_number = m->l.has_run_seq = m->l.has_verdict = m->l.has_source = 1;
    m->l.run_number = run;
    m->l.run_seq = (uint64_t)run;
    m->l.verdict = good ? DINAMO__VERDICT__GOOD : DINAMO__VERDICT__BAD;
    m->l.source = DINAMO__LABEL_SOURCE__GENERATOR;
    m->l.histogram_key = (char *)key;
    dinamo__envelope__init(&m->env);
    m->env.body_case = DINAMO__ENVELOPE__BODY_LABEL;
    m->env.label = &m->l;
    return &m->env;
}

Test(bus, push_pull_tcp_loopback_in_order)
{
    dn_sock_opts_t po = {.producer = "gen"};
    dn_sock_t *pull = sock(ZMQ_PULL, "bind:tcp://127.0.0.1:*", NULL);
    const char *ep = dn_sock_endpoint(pull);
    cr_assert(strncmp(ep, "tcp://127.0.0.1:", 16) == 0, "bound %s", ep);
    char conn[600];
    snprintf(conn, sizeof conn, "connect:%s", ep);
    dn_sock_t *push = sock(ZMQ_PUSH, conn, &po);
    dn_err_t err = {0};
    int n = 200;
    for (int i = 0; i < n; i++) {
        run_msg_t m;
        Dinamo__Envelope *env = make_run(&m, 1000 + i);
        cr_assert_eq(dn_sock_send(push, env, 2000, &err), 0, "send %d: %s", i, err.msg);
        cr_assert_str_eq(env->producer, "gen|run");
        cr_assert_eq(env->seq, (uint64_t)i);
    }
    for (int i = 0; i < n; i++) {
        Dinamo__Envelope *e = NULL;
        dn_recv_info_t info;
        cr_assert_eq(dn_sock_recv(pull, 5000, &e, &info, &err), 0, "recv %d: %s", i, err.msg);
        cr_assert_eq(e->run->run_number, 1000 + i, "out of order at %d", i);
        cr_assert_eq(e->run->histograms[0]->counts[9], (double)(1009 + i));
        cr_assert_str_eq(info.topic, "run/s1");
        cr_assert_eq(info.seq, DN_SEQ_NEW, "message %d: status %d", i, info.seq);
        cr_assert_str_eq(e->producer, "gen|run");
        cr_assert(e->has_time_sent && e->time_sent > 1.6e9);
        dn_msg_free(&e);
    }
    dn_sock_stats_t ps = dn_sock_stats(push), rs = dn_sock_stats(pull);
    cr_assert_eq(ps.sent, (uint64_t)n);
    cr_assert_eq(rs.received, (uint64_t)n);
    cr_assert_eq(rs.msg.accepted, (uint64_t)n);
    cr_assert_eq(rs.seq.missing, 0);
    cr_assert_eq(rs.seq.duplicates, 0);
    close_sock(&push);
    close_sock(&pull);
    cr_assert_null(pull);
}

/* Publishes heartbeats until the subscriber receives one (subscriptions travel
 * asynchronously); returns how many were sent. */
static int sync_pubsub(dn_sock_t *pub, dn_sock_t *sub)
{
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    c.has_kind = 1;
    c.kind = DINAMO__CONTROL_KIND__HEARTBEAT;
    c.service = (char *)"test";
    for (int i = 0; i < 500; i++) {
        Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
        env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
        env.control = &c;
        cr_assert_eq(dn_sock_send(pub, &env, 0, NULL), 0);
        Dinamo__Envelope *e = NULL;
        if (dn_sock_recv(sub, 10, &e, NULL, NULL) == 0) {
            dn_msg_free(&e);
            /* drain heartbeats still queued */
            while (dn_sock_recv(sub, 20, &e, NULL, NULL) == 0)
                dn_msg_free(&e);
            return i + 1;
        }
    }
    cr_assert_fail("subscriber never received a heartbeat");
    return 0;
}

Test(bus, pub_sub_ipc_topic_filter_good_labels_only)
{
    char dir[] = "/tmp/dn_bus_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char bind[128], conn[128];
    snprintf(bind, sizeof bind, "bind:ipc://%s/labels", dir);
    snprintf(conn, sizeof conn, "connect:ipc://%s/labels", dir);
    dn_sock_opts_t po = {.producer = "gen"};
    const char *subs[] = {"label/good/", "control/", NULL};
    dn_sock_opts_t so = {.subscribe = subs};
    dn_sock_t *pub = sock(ZMQ_PUB, bind, &po);
    dn_sock_t *sub = sock(ZMQ_SUB, conn, &so);
    sync_pubsub(pub, sub);
    uint64_t missed_heartbeats = dn_sock_stats(sub).seq.missing;
    dn_err_t err = {0};
    int n = 100, n_good = 0;
    for (int i = 0; i < n; i++) {
        label_msg_t m;
        int good = i % 3 != 0;
        n_good += good;
        cr_assert_eq(dn_sock_send(pub, make_label(&m, i, good, i % 2 ? "a" : ""), 0, &err), 0,
                     "%s", err.msg);
    }
    int got = 0;
    Dinamo__Envelope *e = NULL;
    dn_recv_info_t info;
    while (dn_sock_recv(sub, 500, &e, &info, &err) == 0) {
        cr_assert_eq(dn_msg_type(e), DN_MSG_LABEL, "topic %s", info.topic);
        cr_assert_eq(e->label->verdict, DINAMO__VERDICT__GOOD, "bad label %lld passed the filter",
                     (long long)e->label->run_number);
        cr_assert(strncmp(info.topic, "label/good/", 11) == 0, "topic %s", info.topic);
        /* the good-label family is numbered on its own: no gaps for this filter */
        cr_assert(info.seq == DN_SEQ_NEW, "label %lld: status %d missing %llu",
                  (long long)e->label->run_number, info.seq, (unsigned long long)info.missing);
        got++;
        dn_msg_free(&e);
    }
    cr_assert_eq(got, n_good, "received %d of %d good labels", got, n_good);
    cr_assert_eq(dn_sock_stats(sub).seq.missing, missed_heartbeats);
    close_sock(&sub);
    close_sock(&pub);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(bus, receive_timeout)
{
    dn_sock_t *pull = sock(ZMQ_PULL, "bind:inproc://timeout", NULL);
    Dinamo__Envelope *e = (Dinamo__Envelope *)1;
    dn_recv_info_t info;
    int64_t t0 = now_ms();
    cr_assert_eq(dn_sock_recv(pull, 80, &e, &info, NULL), DN_BUS_TIMEOUT);
    int64_t waited = now_ms() - t0;
    cr_assert_null(e);
    cr_assert_geq(waited, 75, "returned after %lld ms of an 80 ms timeout", (long long)waited);
    cr_assert_eq(dn_sock_recv(pull, 0, &e, &info, NULL), DN_BUS_TIMEOUT);
    close_sock(&pull);
}

Test(bus, push_blocks_at_hwm_pub_drops_and_gap_is_detected)
{
    dn_err_t err = {0};
    /* inproc: the pipe holds exactly sndhwm + rcvhwm messages */
    dn_sock_opts_t po = {.producer = "gen", .sndhwm = 5};
    dn_sock_opts_t lo = {.rcvhwm = 5};
    dn_sock_t *pull = sock(ZMQ_PULL, "bind:inproc://hwm", &lo);
    dn_sock_t *push = sock(ZMQ_PUSH, "connect:inproc://hwm", &po);
    int sent = 0, rc = 0;
    run_msg_t m;
    for (int i = 0; i < 100 && (rc = dn_sock_send(push, make_run(&m, i), 0, &err)) == 0; i++)
        sent++;
    cr_assert_eq(rc, DN_BUS_TIMEOUT, "send returned %d: %s", rc, err.msg);
    cr_assert_eq(sent, 10, "PUSH accepted %d messages with HWM 5 + 5", sent);
    /* a timed wait also gives up, and the refused message keeps its seq */
    int64_t t0 = now_ms();
    cr_assert_eq(dn_sock_send(push, make_run(&m, 99), 50, &err), DN_BUS_TIMEOUT);
    cr_assert_geq(now_ms() - t0, 45);
    cr_assert_eq(dn_sock_stats(push).send_timeouts, 2);
    /* drain: all 10 arrive in order; then there is room again */
    Dinamo__Envelope *e = NULL;
    dn_recv_info_t info;
    int got = 0;
    while (dn_sock_recv(pull, 200, &e, &info, &err) == 0) {
        cr_assert_eq(info.seq, DN_SEQ_NEW, "PUSH lost a message before %llu",
                     (unsigned long long)e->seq);
        cr_assert_eq(e->seq, (uint64_t)got);
        got++;
        dn_msg_free(&e);
    }
    cr_assert_eq(got, 10);
    cr_assert_eq(dn_sock_send(push, make_run(&m, 10), 1000, &err), 0, "no room after draining");
    cr_assert_eq(m.env.seq, 10, "refused sends consumed seq numbers");
    cr_assert_eq(dn_sock_recv(pull, 1000, &e, &info, &err), 0);
    cr_assert_eq(info.seq, DN_SEQ_NEW);
    dn_msg_free(&e);
    got++;
    cr_assert_eq(got, 11);
    close_sock(&push);
    close_sock(&pull);

    /* PUB never blocks; the SUB detects what was dropped as a gap */
    dn_sock_opts_t pbo = {.producer = "gen", .sndhwm = 5};
    dn_sock_opts_t sbo = {.rcvhwm = 5};
    dn_sock_t *pub = sock(ZMQ_PUB, "bind:inproc://drop", &pbo);
    dn_sock_t *sub = sock(ZMQ_SUB, "connect:inproc://drop", &sbo);
    sync_pubsub(pub, sub);
    int n = 100;
    for (int i = 0; i < n; i++)
        cr_assert_eq(dn_sock_send(pub, make_run(&m, i), 0, &err), 0, "PUB send %d blocked", i);
    uint64_t missed_heartbeats = dn_sock_stats(sub).seq.missing;
    int received = 0;
    while (dn_sock_recv(sub, 100, &e, &info, &err) == 0) {
        received++;
        dn_msg_free(&e);
    }
    cr_assert_lt(received, n, "nothing dropped at HWM 5 + 5 (%d received)", received);
    cr_assert_gt(received, 0);
    cr_assert_eq(dn_sock_send(pub, make_run(&m, n), 0, &err), 0);
    cr_assert_eq(dn_sock_recv(sub, 1000, &e, &info, &err), 0, "%s", err.msg);
    cr_assert_eq(info.seq, DN_SEQ_GAP);
    dn_msg_free(&e);
    dn_sock_stats_t st = dn_sock_stats(sub);
    uint64_t runs_seen = (uint64_t)received + 1;
    cr_assert_eq(runs_seen + st.seq.missing - missed_heartbeats, (uint64_t)n + 1,
                 "received %llu + missing %llu != sent %d", (unsigned long long)runs_seen,
                 (unsigned long long)(st.seq.missing - missed_heartbeats), n + 1);
    close_sock(&sub);
    close_sock(&pub);
}

Test(bus, bad_messages_are_counted_and_skipped)
{
    dn_err_t err = {0};
    dn_sock_t *pull = sock(ZMQ_PULL, "bind:inproc://bad", NULL);
    dn_sock_t *push = sock(ZMQ_PUSH, "connect:inproc://bad", NULL);
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12};
    cr_assert_eq(dn_sock_send_raw(push, "run/x", garbage, sizeof garbage, 1000, &err), 0);
    /* three frames */
    zmq_send(dn_sock_handle(push), "a", 1, ZMQ_SNDMORE);
    zmq_send(dn_sock_handle(push), "b", 1, ZMQ_SNDMORE);
    zmq_send(dn_sock_handle(push), "c", 1, 0);
    /* a valid envelope, relayed twice: the second is a duplicate */
    run_msg_t m;
    Dinamo__Envelope *env = make_run(&m, 5);
    env->producer = (char *)"relay";
    env->has_seq = 1;
    env->seq = 0;
    uint8_t *buf;
    size_t len;
    cr_assert_eq(dn_msg_encode(env, &buf, &len, &err), 0);
    cr_assert_eq(dn_sock_send_raw(push, "run/s1", buf, len, 1000, &err), 0);
    cr_assert_eq(dn_sock_send_raw(push, NULL, buf, len, 1000, &err), 0); /* single frame */
    free(buf);
    /* a negative count is refused by send itself */
    m.counts[3] = -1;
    cr_assert_eq(dn_sock_send(push, env, 1000, &err), DN_ERANGE);
    cr_assert(strstr(err.msg, "bin 3"), "%s", err.msg);

    Dinamo__Envelope *e = NULL;
    dn_recv_info_t info;
    int rc = dn_sock_recv(pull, 1000, &e, &info, &err);
    cr_assert_eq(rc, DN_EFORMAT, "%d %s", rc, err.msg);
    cr_assert(strstr(err.msg, "topic 'run/x'") && strstr(err.msg, "cannot parse"), "%s",
              err.msg);
    cr_assert_null(e);
    rc = dn_sock_recv(pull, 1000, &e, &info, &err);
    cr_assert_eq(rc, DN_EFORMAT);
    cr_assert(strstr(err.msg, "3 frames"), "%s", err.msg);
    cr_assert_eq(dn_sock_recv(pull, 1000, &e, &info, &err), 0, "%s", err.msg);
    cr_assert_eq(info.seq, DN_SEQ_NEW);
    cr_assert_str_eq(info.topic, "run/s1");
    dn_msg_free(&e);
    cr_assert_eq(dn_sock_recv(pull, 1000, &e, &info, &err), 0, "%s", err.msg);
    cr_assert_eq(info.seq, DN_SEQ_DUPLICATE);
    cr_assert_str_eq(info.topic, "");
    dn_msg_free(&e);
    cr_assert_eq(dn_sock_recv(pull, 50, &e, &info, &err), DN_BUS_TIMEOUT);
    dn_sock_stats_t st = dn_sock_stats(pull);
    cr_assert_eq(st.received, 4);
    cr_assert_eq(st.msg.rejected[DN_REJECT_PARSE], 2);
    cr_assert_eq(st.msg.accepted, 2);
    cr_assert_eq(st.seq.duplicates, 1);
    close_sock(&push);
    close_sock(&pull);
}

/* A message above the socket's max_bytes is never delivered (ZeroMQ drops
 * the connection that sent it); the sender's later messages still are. */
Test(bus, a_message_above_the_maximum_is_dropped)
{
    dn_err_t err = {0};
    dn_sock_opts_t small = {.max_bytes = 1024};
    dn_sock_t *pull = sock(ZMQ_PULL, "bind:tcp://127.0.0.1:*", &small);
    char ep[300];
    snprintf(ep, sizeof ep, "connect:%s", dn_sock_endpoint(pull));
    dn_sock_opts_t po = {.producer = "big", .linger_ms = 1};
    dn_sock_t *push = sock(ZMQ_PUSH, ep, &po);
    static char big[4096];
    memset(big, 0x55, sizeof big);
    cr_assert_eq(dn_sock_send_raw(push, "run/x", big, sizeof big, 1000, &err), 0, "%s", err.msg);
    Dinamo__Envelope *e = NULL;
    cr_assert_eq(dn_sock_recv(pull, 500, &e, NULL, &err), DN_BUS_TIMEOUT,
                 "a message of %zu bytes passed a maximum of 1024", sizeof big);
    run_msg_t m;
    int got = 0;
    for (int i = 0; i < 20 && !got; i++) {
        cr_assert_eq(dn_sock_send(push, make_run(&m, 5), 1000, &err), 0, "%s", err.msg);
        int rc = dn_sock_recv(pull, 250, &e, NULL, &err);
        cr_assert(rc == 0 || rc == DN_BUS_TIMEOUT, "%s", err.msg);
        got = rc == 0;
        if (got)
            cr_assert_eq(dn_msg_type(e), DN_MSG_RUN, "not the small run");
        dn_msg_free(&e);
    }
    cr_assert(got, "nothing arrived after the oversized message");
    close_sock(&push);
    close_sock(&pull);
}

/* Issue 17: 100k heartbeats each from a new producer name grew a receiving
 * socket's sequence table without bound. It stays at its cap, every message
 * is still received, and the producer that keeps sending keeps its place. */
Test(bus, a_flood_of_100k_producer_names_leaves_the_sequence_table_at_its_cap)
{
    dn_err_t err = {0};
    dn_sock_t *pull = sock(ZMQ_PULL, "bind:inproc://names", NULL);
    dn_sock_t *push = sock(ZMQ_PUSH, "connect:inproc://names", NULL);
    cr_assert_eq(dn_seq_tracker_set_max(dn_sock_tracker(pull), 256), 0);
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    c.has_kind = 1;
    c.kind = DINAMO__CONTROL_KIND__HEARTBEAT;
    c.service = (char *)"x";
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.has_seq = 1;
    env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
    env.control = &c;
    char name[64];
    uint64_t real_seq = 0;
    int received = 0;
    for (int i = 0; i < 100000; i++) {
        int real = i % 50 == 0;
        snprintf(name, sizeof name, "forged-%d|control", i);
        env.producer = real ? (char *)"registry|control" : name;
        env.seq = real ? real_seq++ : 0;
        cr_assert_eq(dn_sock_send(push, &env, 1000, &err), 0, "%s", err.msg);
        Dinamo__Envelope *e = NULL;
        dn_recv_info_t info;
        cr_assert_eq(dn_sock_recv(pull, 1000, &e, &info, &err), 0, "%s", err.msg);
        cr_assert_eq(info.seq, DN_SEQ_NEW, "message %d: status %d (%s)", i, info.seq,
                     e->producer);
        dn_msg_free(&e);
        received++;
    }
    cr_assert_eq(received, 100000);
    dn_seq_tracker_t *t = dn_sock_tracker(pull);
    cr_assert_eq(dn_seq_tracker_size(t), 256);
    dn_sock_stats_t st = dn_sock_stats(pull);
    cr_assert_eq(st.seq.evicted, 100000 - 2000 + 1 - 256, "evicted %llu",
                 (unsigned long long)st.seq.evicted);
    cr_assert_eq(st.seq.gaps, 0u, "the real producer never looked like it lost messages");
    uint64_t last;
    cr_assert_eq(dn_seq_tracker_last(t, "registry|control", NULL, &last), 0);
    cr_assert_eq(last, real_seq - 1);
    close_sock(&push);
    close_sock(&pull);
}

Test(bus, endpoint_errors)
{
    dn_err_t err = {0};
    cr_assert_null(dn_sock_new(ctx, ZMQ_PULL, "tcp://127.0.0.1:5555", NULL, &err));
    cr_assert_eq(err.code, DN_EINVAL);
    cr_assert(strstr(err.msg, "say bind: or connect:"), "%s", err.msg);
    cr_assert_null(dn_sock_new(ctx, ZMQ_PULL, "bind:127.0.0.1:5555", NULL, &err));
    cr_assert(strstr(err.msg, "no transport"), "%s", err.msg);
    cr_assert_null(dn_sock_new(ctx, ZMQ_PULL, "", NULL, &err));
    cr_assert_null(dn_sock_new(ctx, ZMQ_REQ, "bind:inproc://x", NULL, &err));
    dn_sock_t *a = sock(ZMQ_PULL, "bind:tcp://127.0.0.1:*", NULL);
    char again[600];
    snprintf(again, sizeof again, "bind:%s", dn_sock_endpoint(a));
    cr_assert_null(dn_sock_new(ctx, ZMQ_PULL, again, NULL, &err));
    cr_assert_eq(err.code, DN_EIO);
    cr_assert(strstr(err.msg, "Address already in use"), "%s", err.msg);
    /* several endpoints and the CZMQ shorthand */
    dn_sock_t *b = sock(ZMQ_PULL, "@inproc://one,bind:inproc://two", NULL);
    cr_assert_str_eq(dn_sock_endpoint(b), "inproc://two");
    dn_sock_t *c = sock(ZMQ_PUSH, ">inproc://one", NULL);
    cr_assert_eq(dn_sock_recv(c, 0, &(Dinamo__Envelope *){NULL}, NULL, &err), DN_EINVAL);
    cr_assert_eq(dn_sock_subscribe(c, "x", &err), DN_EINVAL);
    close_sock(&a);
    close_sock(&b);
    close_sock(&c);
}

Test(bus, topics_and_shards)
{
    char t[DN_BUS_TOPIC_MAX];
    label_msg_t lm;
    cr_assert_eq(dn_bus_topic(make_label(&lm, 1, 1, "calo/e"), t, sizeof t), 17);
    cr_assert_str_eq(t, "label/good/calo/e");
    cr_assert_gt(dn_bus_topic(make_label(&lm, 1, 0, NULL), t, sizeof t), 0);
    cr_assert_str_eq(t, "label/bad/");
    cr_assert_eq(dn_bus_topic(make_label(&lm, 1, 1, "calo/e"), t, 5), DN_ERANGE);
    Dinamo__Envelope none = DINAMO__ENVELOPE__INIT;
    cr_assert_eq(dn_bus_topic(&none, t, sizeof t), DN_EINVAL);
    Dinamo__Threshold th = DINAMO__THRESHOLD__INIT;
    th.histogram_key = (char *)"calo/e";
    th.has_method = 1;
    th.method = DINAMO__METHOD__METHOD_ML;
    Dinamo__Envelope te = DINAMO__ENVELOPE__INIT;
    te.body_case = DINAMO__ENVELOPE__BODY_THRESHOLD;
    te.threshold = &th;
    cr_assert_eq(dn_bus_topic(&te, t, sizeof t), 19);
    cr_assert_str_eq(t, "threshold/ML/calo/e");
    th.method = DINAMO__METHOD__METHOD_S;
    cr_assert_eq(dn_bus_topic(&te, t, sizeof t), 18);
    cr_assert_str_eq(t, "threshold/S/calo/e");
    /* FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c */
    cr_assert_eq(dn_shard_of("a", 4), 0);
    cr_assert_eq(dn_shard_of("a", 3), 1);
    cr_assert_eq(dn_shard_of("a", 7), 5);
    cr_assert_eq(dn_shard_of("a", 0), 0);
    int count[4] = {0};
    char key[32];
    for (int i = 0; i < 4000; i++) {
        snprintf(key, sizeof key, "subsys%d/hist%d", i % 13, i);
        int s = dn_shard_of(key, 4);
        cr_assert(s >= 0 && s < 4);
        count[s]++;
    }
    for (int s = 0; s < 4; s++)
        cr_assert(count[s] > 850 && count[s] < 1150, "shard %d has %d of 4000 keys", s,
                  count[s]);
}

/* ---- the service loop (lib/service.h) over these sockets ---------------- */

#include <signal.h>

#include "log.h"
#include "service.h"

typedef struct svc_state_t {
    int handled;
    int64_t last_run;
    int ticks;
    int shutdowns;
    int stop_after;    /* handler: dn_service_stop after this many */
    int fail_at;       /* handler: fail at this message */
    int signal_at_tick;
    int in_order;
} svc_state_t;

static int on_run(dn_service_t *svc, dn_sock_t *s, const Dinamo__Envelope *env,
                  const dn_recv_info_t *info, void *arg)
{
    svc_state_t *st = arg;
    if (env->run->run_number != st->last_run + 1)
        st->in_order = 0;
    st->last_run = env->run->run_number;
    st->handled++;
    if (st->fail_at && st->handled == st->fail_at)
        return dn_service_fail(svc, DN_EIO, "store full at run %lld",
                               (long long)env->run->run_number);
    if (st->stop_after && st->handled == st->stop_after)
        dn_service_stop(svc);
    return 0;
}

static int on_tick(dn_service_t *svc, void *arg)
{
    svc_state_t *st = arg;
    st->ticks++;
    if (st->signal_at_tick && st->ticks == st->signal_at_tick)
        raise(SIGTERM);
    return 0;
}

static int on_shutdown(dn_service_t *svc, void *arg)
{
    ((svc_state_t *)arg)->shutdowns++;
    return 0;
}

static void send_runs(dn_sock_t *push, int from, int n)
{
    run_msg_t m;
    dn_err_t err = {0};
    for (int i = from; i < from + n; i++)
        cr_assert_eq(dn_sock_send(push, make_run(&m, i), 1000, &err), 0, "%s", err.msg);
}

Test(bus, service_handles_messages_ticks_and_stops_on_sigterm)
{
    dn_err_t err = {0};
    dn_log_set_level(DN_LOG_ERROR);
    cr_assert_eq(dn_service_install_signals(&err), 0, "%s", err.msg);
    dn_sock_opts_t po = {.producer = "gen"};
    dn_sock_t *pull = sock(ZMQ_PULL, "bind:inproc://svc", NULL);
    dn_sock_t *push = sock(ZMQ_PUSH, "connect:inproc://svc", &po);
    send_runs(push, 1, 300); /* more than one batch per poll */
    /* garbage in between is counted, never handled */
    cr_assert_eq(dn_sock_send_raw(push, "run/x", "junk", 4, 1000, &err), 0);
    send_runs(push, 301, 10);
    svc_state_t st = {.in_order = 1, .signal_at_tick = 3};
    dn_service_t *svc = dn_service_new("test", &err);
    cr_assert_eq(dn_service_add_socket(svc, pull, on_run, &st), 0);
    cr_assert_eq(dn_service_add_socket(svc, push, on_run, &st), DN_EINVAL);
    cr_assert_eq(dn_service_set_tick(svc, 20, on_tick, &st), 0);
    dn_service_set_shutdown(svc, on_shutdown, &st);
    int rc = dn_service_run(svc, &err);
    cr_assert_eq(rc, 0, "run returned %d: %s", rc, err.msg);
    cr_assert(dn_service_signalled());
    cr_assert_eq(st.handled, 310, "handled %d", st.handled);
    cr_assert(st.in_order);
    cr_assert_eq(st.ticks, 3);
    cr_assert_eq(st.shutdowns, 1);
    dn_service_stats_t ss = dn_service_stats(svc);
    cr_assert_eq(ss.handled, 310);
    cr_assert_eq(ss.rejected, 1);
    cr_assert_eq(ss.ticks, 3);
    cr_assert_eq(ss.missing, 0);
    dn_service_destroy(&svc);
    cr_assert_null(svc);
    close_sock(&push);
    close_sock(&pull);
}

Test(bus, service_stop_finishes_message_in_hand_only)
{
    dn_err_t err = {0};
    dn_log_set_level(DN_LOG_ERROR);
    cr_assert_eq(dn_service_install_signals(&err), 0);
    dn_sock_opts_t po = {.producer = "gen"};
    dn_sock_t *pull = sock(ZMQ_PULL, "bind:inproc://stop", NULL);
    dn_sock_t *push = sock(ZMQ_PUSH, "connect:inproc://stop", &po);
    send_runs(push, 1, 50);
    svc_state_t st = {.in_order = 1, .stop_after = 7};
    dn_service_t *svc = dn_service_new("test", &err);
    cr_assert_eq(dn_service_add_socket(svc, pull, on_run, &st), 0);
    dn_service_set_shutdown(svc, on_shutdown, &st);
    cr_assert_eq(dn_service_run(svc, &err), 0, "%s", err.msg);
    cr_assert_eq(st.handled, 7, "handled %d after stop at 7", st.handled);
    cr_assert_eq(st.shutdowns, 1);
    /* the rest is still queued for whoever reads next */
    Dinamo__Envelope *e = NULL;
    cr_assert_eq(dn_sock_recv(pull, 1000, &e, NULL, &err), 0);
    cr_assert_eq(e->run->run_number, 8);
    dn_msg_free(&e);
    dn_service_destroy(&svc);

    /* a handler error stops the loop with that error; shutdown still runs */
    svc_state_t st2 = {.in_order = 1, .fail_at = 5, .last_run = 8};
    svc = dn_service_new("test", &err);
    cr_assert_eq(dn_service_add_socket(svc, pull, on_run, &st2), 0);
    dn_service_set_shutdown(svc, on_shutdown, &st2);
    int rc = dn_service_run(svc, &err);
    cr_assert_eq(rc, DN_EIO);
    cr_assert(strstr(err.msg, "service test: store full at run 13"), "%s", err.msg);
    cr_assert_eq(st2.shutdowns, 1);
    dn_service_destroy(&svc);
    close_sock(&push);
    close_sock(&pull);
}

Test(bus, service_drops_duplicates_and_reports_gaps)
{
    dn_err_t err = {0};
    dn_log_set_level(DN_LOG_OFF);
    cr_assert_eq(dn_service_install_signals(&err), 0);
    dn_sock_t *pull = sock(ZMQ_PULL, "bind:inproc://dups", NULL);
    dn_sock_t *push = sock(ZMQ_PUSH, "connect:inproc://dups", NULL);
    const uint64_t seqs[] = {0, 1, 1, 2, 6, 7, 3};
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        run_msg_t m;
        Dinamo__Envelope *env = make_run(&m, (int64_t)i + 1);
        env->producer = (char *)"relay";
        env->has_seq = 1;
        env->seq = seqs[i];
        uint8_t *buf;
        size_t len;
        cr_assert_eq(dn_msg_encode(env, &buf, &len, &err), 0);
        cr_assert_eq(dn_sock_send_raw(push, "run/s1", buf, len, 1000, &err), 0);
        free(buf);
    }
    svc_state_t st = {.in_order = 1, .stop_after = 5};
    dn_service_t *svc = dn_service_new("test", &err);
    cr_assert_eq(dn_service_add_socket(svc, pull, on_run, &st), 0);
    cr_assert_eq(dn_service_run(svc, &err), 0, "%s", err.msg);
    dn_service_stats_t ss = dn_service_stats(svc);
    cr_assert_eq(st.handled, 5);
    cr_assert_eq(ss.duplicates, 1, "the replayed seq 1");
    cr_assert_eq(ss.gaps, 1);
    cr_assert_eq(ss.missing, 3, "seq 3..5 missing before 6");
    dn_service_destroy(&svc);
    dn_log_set_level(DN_LOG_INFO);
    close_sock(&push);
    close_sock(&pull);
}
