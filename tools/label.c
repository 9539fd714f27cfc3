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
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "cli.h"
#include "msg.h"

static const char label_help[] =
    "usage: dinamo label RUN good|bad [--reason TEXT] [--histogram KEY] [--who NAME]\n"
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
    "and tcp://127.0.0.1:5550 (events).\n";

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int cmd_label(args_t *a)
{
    const char *run_s = NULL, *verdict_s = NULL, *reason = NULL, *hist = NULL, *who = NULL;
    const char *req_ep = "tcp://127.0.0.1:5551", *ev_ep = "tcp://127.0.0.1:5550";
    double timeout = 5.0;
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
            reason = v;
        } else if (!strcmp(name, "--histogram")) {
            hist = v;
        } else if (!strcmp(name, "--who")) {
            who = v;
        } else if (!strcmp(name, "--requests")) {
            req_ep = v;
        } else if (!strcmp(name, "--events")) {
            ev_ep = v;
        } else if (!strcmp(name, "--timeout")) {
            if (parse_double(a->cmd, name, v, &timeout))
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
    long long run = strtoll(run_s, &end, 10);
    if (*end || end == run_s)
        return usage_error(a->cmd, "RUN '%s' is not a run number", run_s);
    int bad = !strcmp(verdict_s, "bad");
    if (!bad && strcmp(verdict_s, "good"))
        return usage_error(a->cmd, "verdict '%s': say good or bad", verdict_s);
    if (!who)
        who = getenv("USER") && getenv("USER")[0] ? getenv("USER") : "unknown";

    dn_err_t err = {0};
    int rc = 1;
    char req[600], ev[600];
    snprintf(req, sizeof req, "connect:%s", req_ep);
    snprintf(ev, sizeof ev, "connect:%s", ev_ep);
    void *zctx = zmq_ctx_new();
    dn_sock_opts_t po = {.producer = "dinamo-label", .linger_ms = 2000};
    dn_sock_t *push = NULL, *sub = NULL;
    if (!zctx || !(sub = dn_sock_new(zctx, ZMQ_SUB, ev, NULL, &err)) ||
        !(push = dn_sock_new(zctx, ZMQ_PUSH, req, &po, &err)))
        goto done;
    usleep(200 * 1000); /* let the subscription reach the publisher first */
    Dinamo__Label l = DINAMO__LABEL__INIT;
    l.has_run_number = l.has_run_seq = l.has_verdict = l.has_source = l.has_time = 1;
    l.run_number = run;
    l.run_seq = 0; /* the feed fills in the run's run_seq */
    l.verdict = bad ? DINAMO__VERDICT__BAD : DINAMO__VERDICT__GOOD;
    l.source = DINAMO__LABEL_SOURCE__SHIFTER;
    l.who = (char *)who;
    l.reason = (char *)reason;
    l.histogram_key = (char *)hist;
    l.time = now_s();
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_LABEL;
    env.label = &l;
    int src = dn_sock_send(push, &env, (int)(timeout * 1000), &err);
    if (src) {
        if (src == DN_BUS_TIMEOUT)
            dn_err_set(&err, DN_EIO, "could not send to %s within %.0f s: is the feed running?",
                       req_ep, timeout);
        goto done;
    }
    double deadline = now_s() + timeout;
    while (now_s() < deadline) {
        Dinamo__Envelope *got = NULL;
        dn_recv_info_t info;
        dn_err_t rerr = {0};
        int rr = dn_sock_recv(sub, 100, &got, &info, &rerr);
        if (rr != 0 || !got)
            continue;
        const Dinamo__Label *g = got->body_case == DINAMO__ENVELOPE__BODY_LABEL ? got->label : NULL;
        if (g && g->run_number == run && g->who && !strcmp(g->who, who) && g->time == l.time) {
            printf("run %lld labelled %s by %s%s%s (events log offset %llu, run_seq %llu)\n", run,
                   bad ? "bad" : "good", who, hist ? ", histogram " : "", hist ? hist : "",
                   (unsigned long long)got->offset, (unsigned long long)g->run_seq);
            dn_msg_free(&got);
            rc = 0;
            goto done;
        }
        dn_msg_free(&got);
    }
    dn_err_set(&err, DN_EIO, "the label was sent to %s but not seen on %s within %.0f s: is a "
               "feed running there, and did it publish run %lld? (see its log)", req_ep, ev_ep,
               timeout, run);
done:
    if (rc)
        fail_with(a->cmd, &err, DN_EIO);
    dn_sock_destroy(&push);
    dn_sock_destroy(&sub);
    if (zctx)
        zmq_ctx_term(zctx);
    return rc;
}
