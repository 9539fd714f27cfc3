/* label.c: `dinamo label`, a person's verdict on a run sent to a running cluster.
 *
 * The label goes to the feed's requests endpoint (PUSH), which appends it to the
 * events log with the run's run_seq, so every service applies or records it in
 * order; the command then waits to see it published on the events endpoint
 * (SUB), and only then reports success. Relabelling sends another label: the log
 * keeps both, in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "cli.h"
#include "clock.h"
#include "msg.h"

static const char label_help[] =
    "usage: dinamo label RUN good|bad [--reason TEXT] [--histogram KEY] [--who NAME]\n"
    "                    [--keys DIR [--as NAME] [--server NAME]]\n"
    "                    [--requests ENDPOINT] [--events ENDPOINT] [--timeout S]\n"
    "\n"
    "Sends a person's verdict on run RUN (its run number) to the running cluster's\n"
    "feed, which records it in the events log with who gave it and when; scorers,\n"
    "trainers and the evaluator take it from there. --histogram limits it to one\n"
    "histogram. --who defaults to $USER. The command waits until the label is\n"
    "published (at most --timeout seconds, default 5) and exits 1 if it is not.\n"
    "A run labelled again keeps both labels in the log; scorers keep the first\n"
    "verdict for their references, the evaluator reports the latest and the\n"
    "history. Endpoints default to the feed's: tcp://127.0.0.1:5551 (requests)\n"
    "and tcp://127.0.0.1:5550 (events).\n"
    "\n"
    "A cluster with security on (the default) takes labels only from keys with the\n"
    "labels role: --keys DIR (default $DINAMO_KEYS_DIR) is the keys directory\n"
    "holding your key pair (`dinamo keygen NAME --role labels`), --as NAME your key\n"
    "(default $USER); the label then records NAME as who gave it (--who may only\n"
    "repeat it). --server names the feed's key (default: the one key with the runs\n"
    "role).\n";

typedef struct label_args_t {
    long long run;
    int bad;
    const char *reason, *hist, *who, *req_ep, *ev_ep;
    const char *keys_dir, *as, *server;
    double timeout;
} label_args_t;

/* Reads the command line into *l. Returns -1 to go on, else the exit status
 * (0 after --help, 2 after a usage error already reported). */
static int parse_args(args_t *a, label_args_t *l)
{
    const char *run_s = NULL, *verdict_s = NULL;
    char *name;
    const char *v;
    int r;
    while ((r = next_arg(a, "--help", &name, &v)) > 0) {
        if (!name) {
            if (!run_s)
                run_s = v;
            else if (!verdict_s)
                verdict_s = v;
            else
                return usage_error(a->cmd, "unexpected argument '%s'", v);
        } else if (!strcmp(name, "--help")) {
            fputs(label_help, stdout);
            return 0;
        } else if (!strcmp(name, "--reason")) {
            l->reason = v;
        } else if (!strcmp(name, "--histogram")) {
            l->hist = v;
        } else if (!strcmp(name, "--who")) {
            l->who = v;
        } else if (!strcmp(name, "--keys")) {
            l->keys_dir = v;
        } else if (!strcmp(name, "--as")) {
            l->as = v;
        } else if (!strcmp(name, "--server")) {
            l->server = v;
        } else if (!strcmp(name, "--requests")) {
            l->req_ep = v;
        } else if (!strcmp(name, "--events")) {
            l->ev_ep = v;
        } else if (!strcmp(name, "--timeout")) {
            if (parse_double(a->cmd, name, v, &l->timeout))
                return 2;
        } else {
            return usage_error(a->cmd, "unknown option %s", name);
        }
    }
    if (r < 0)
        return 2;
    if (!run_s || !verdict_s)
        return usage_error(a->cmd, "%s", "give RUN and good or bad");
    char *end;
    l->run = strtoll(run_s, &end, 10);
    if (*end || end == run_s)
        return usage_error(a->cmd, "RUN '%s' is not a run number", run_s);
    l->bad = !strcmp(verdict_s, "bad");
    if (!l->bad && strcmp(verdict_s, "good"))
        return usage_error(a->cmd, "verdict '%s': say good or bad", verdict_s);
    const char *user = getenv("USER") && getenv("USER")[0] ? getenv("USER") : "unknown";
    if (!l->keys_dir && getenv("DINAMO_KEYS_DIR") && getenv("DINAMO_KEYS_DIR")[0])
        l->keys_dir = getenv("DINAMO_KEYS_DIR");
    if (l->keys_dir) {
        if (!l->as)
            l->as = user;
        if (l->who && strcmp(l->who, l->as))
            return usage_error(a->cmd, "--who %s: a label sent with a key records the key's "
                               "name (--as)", l->who);
        l->who = l->as;
    }
    if (!l->who)
        l->who = user;
    return -1;
}

/* Waits until the label sent (run, who, time) is published on sub. Returns 0
 * after printing where it landed, or DN_EIO with *err when it was not seen
 * within the timeout. */
static int wait_published(dn_sock_t *sub, const label_args_t *l, double sent_at, dn_err_t *err)
{
    double deadline = dn_clock_wall() + l->timeout;
    while (dn_clock_wall() < deadline) {
        Dinamo__Envelope *got = NULL;
        dn_recv_info_t info;
        dn_err_t rerr = {0};
        if (dn_sock_recv(sub, 100, &got, &info, &rerr) != 0 || !got)
            continue;
        const Dinamo__Label *g = got->body_case == DINAMO__ENVELOPE__BODY_LABEL ? got->label : NULL;
        int ours = g && g->run_number == l->run && g->who && !strcmp(g->who, l->who) &&
                   g->time == sent_at;
        if (ours)
            printf("run %lld labelled %s by %s%s%s (events log offset %llu, run_seq %llu)\n",
                   l->run, l->bad ? "bad" : "good", l->who, l->hist ? ", histogram " : "",
                   l->hist ? l->hist : "", (unsigned long long)got->offset,
                   (unsigned long long)g->run_seq);
        dn_msg_free(&got);
        if (ours)
            return 0;
    }
    return dn_err_set(err, DN_EIO, "the label was sent to %s but not seen on %s within %.0f s: "
                      "is a feed running there, and did it publish run %lld? (see its log)",
                      l->req_ep, l->ev_ep, l->timeout, l->run);
}

int cmd_label(args_t *a)
{
    label_args_t l = {.req_ep = "tcp://127.0.0.1:5551", .ev_ep = "tcp://127.0.0.1:5550",
                      .timeout = 5.0};
    int status = parse_args(a, &l);
    if (status >= 0)
        return status;
    dn_err_t err = {0};
    int rc = DN_EIO;
    char req[600], ev[600];
    dn_keyring_t *keys = NULL;
    void *zctx = zmq_ctx_new();
    dn_sock_opts_t po = {.producer = "dinamo-label", .linger_ms = 2000}, so = {0};
    dn_sock_t *push = NULL, *sub = NULL;
    if (l.keys_dir) {
        if (!(keys = dn_keyring_load(l.keys_dir, l.as, &err)))
            goto fail;
        if (!l.server && !(l.server = dn_keyring_with_role(keys, DN_ROLE_RUNS, 0))) {
            rc = dn_err_set(&err, DN_ENOTFOUND, "%s: no key has the runs role: say --server",
                            l.keys_dir);
            goto fail;
        }
        po.keys = so.keys = keys;
    }
    /* An endpoint naming its server (NAME@tcp://...) keeps it. */
    const char *at_req = strstr(l.req_ep, "://"), *at_ev = strstr(l.ev_ep, "://");
    int named_req = at_req && memchr(l.req_ep, '@', (size_t)(at_req - l.req_ep));
    int named_ev = at_ev && memchr(l.ev_ep, '@', (size_t)(at_ev - l.ev_ep));
    snprintf(req, sizeof req, "connect:%s%s%s", l.server && !named_req ? l.server : "",
             l.server && !named_req ? "@" : "", l.req_ep);
    snprintf(ev, sizeof ev, "connect:%s%s%s", l.server && !named_ev ? l.server : "",
             l.server && !named_ev ? "@" : "", l.ev_ep);
    if (!zctx || !(sub = dn_sock_new(zctx, ZMQ_SUB, ev, &so, &err)) ||
        !(push = dn_sock_new(zctx, ZMQ_PUSH, req, &po, &err)))
        goto fail;
    usleep(200 * 1000); /* let the subscription reach the publisher first */
    Dinamo__Label m = DINAMO__LABEL__INIT;
    m.has_run_number = m.has_run_seq = m.has_verdict = m.has_source = m.has_time = 1;
    m.run_number = l.run;
    m.run_seq = 0; /* the feed fills in the run's run_seq */
    m.verdict = l.bad ? DINAMO__VERDICT__BAD : DINAMO__VERDICT__GOOD;
    m.source = DINAMO__LABEL_SOURCE__SHIFTER;
    m.who = (char *)l.who;
    m.reason = (char *)l.reason;
    m.histogram_key = (char *)l.hist;
    m.time = dn_clock_wall();
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_LABEL;
    env.label = &m;
    if ((rc = dn_sock_send(push, &env, (int)(l.timeout * 1000), &err)) == DN_BUS_TIMEOUT)
        rc = dn_err_set(&err, DN_EIO, "could not send to %s within %.0f s: is the feed "
                        "running%s?", l.req_ep, l.timeout,
                        keys ? ", and is your key listed in its keys directory"
                             : ", and is its security off (else give --keys DIR)");
    if (!rc)
        rc = wait_published(sub, &l, m.time, &err);
fail:
    if (rc)
        fail_with(a->cmd, &err, DN_EIO);
    dn_sock_destroy(&push);
    dn_sock_destroy(&sub);
    if (zctx)
        zmq_ctx_term(zctx);
    dn_keyring_destroy(&keys);
    return rc ? 1 : 0;
}
