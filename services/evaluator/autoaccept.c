/* autoaccept.c: runs labelled good by the system (auto_accept, on with a
 * real feed) so that shifters look only at the rest.
 *
 * A run that nobody labelled yet, whose every histogram is judged good (or a
 * warning, with auto_accept_warning) by every chosen method the evaluator
 * follows, is sent a Label (verdict GOOD, source AUTO, who "evaluator", the
 * reason naming the methods) to the events log's source, which appends it
 * like a person's verdict; anything else waits for a person. A run is
 * auto-accepted once: the book remembers it in ev.auto, committed with the
 * rest, so a restart does not send it again. A person's or recorded label
 * wins over an automatic one (the book keeps both in ev.labels).
 *
 * The Label goes out on the evaluator's own PUSH to the source's request
 * endpoint, stamped "evaluator|auto-accept" with this process's incarnation
 * and a sequence number; a send that times out (1 s) is logged and tried
 * again with the run's next change. */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "evaluator.h"
#include "log.h"

/* 1 when every chosen method judges run seq acceptable; the methods' names
 * ("s,ml") into methods. 0 when one does not, or has not judged it yet. */
static int acceptable(const ev_auto_t *au, const ev_book_t *b, const ev_judge_t *j,
                      const int followed[EV_METHODS], uint64_t seq, char *methods, size_t cap)
{
    const ev_run_t *ri = &b->runs[seq];
    methods[0] = '\0';
    for (int m = 0; m < EV_METHODS; m++) {
        if (!followed[m] || !au->methods[m])
            continue;
        ev_assess_t a;
        if (!ev_assess(j, b, seq, m, NULL, &a) || a.n_hist < ri->n_keys)
            return 0; /* not all judged yet */
        if (a.n_insufficient || a.n_bad || (a.n_warning && !au->warning_ok))
            return 0;
        size_t len = strlen(methods);
        snprintf(methods + len, cap - len, "%s%s", len ? "," : "", ev_method_name[m]);
    }
    return methods[0] != '\0';
}

/* Sends the automatic "good" of run seq. Returns 0 or the send's error. */
static int send_label(ev_auto_t *au, const ev_run_t *ri, uint64_t seq, const char *methods,
                      dn_err_t *err)
{
    char reason[96];
    snprintf(reason, sizeof reason, "auto-accept: every histogram %s (%s)",
             au->warning_ok ? "below the bad threshold" : "good", methods);
    Dinamo__Label l = DINAMO__LABEL__INIT;
    l.has_run_number = l.has_run_seq = l.has_verdict = l.has_source = l.has_time = 1;
    l.run_number = ri->run_number;
    l.run_seq = seq;
    l.verdict = DINAMO__VERDICT__GOOD;
    l.source = DINAMO__LABEL_SOURCE__AUTO;
    l.who = (char *)"evaluator";
    l.reason = reason;
    l.time = dn_clock_wall();
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.producer = (char *)"evaluator|auto-accept";
    env.has_incarnation = env.has_seq = 1;
    env.incarnation = au->incarnation;
    env.seq = au->seq;
    env.body_case = DINAMO__ENVELOPE__BODY_LABEL;
    env.label = &l;
    return dn_sock_send(au->push, &env, 1000, err);
}

void ev_auto_try(ev_auto_t *au, ev_book_t *b, const ev_judge_t *j,
                 const int followed[EV_METHODS], uint64_t seq)
{
    if (!au->on || b->rebuilding || (int)seq >= b->n_runs)
        return;
    const ev_run_t *ri = &b->runs[seq];
    if (!ri->n_keys || ri->auto_sent)
        return;
    for (int m = 0; m < EV_METHODS; m++)
        if (followed[m] && au->methods[m] && !ev_run_complete(b, seq, m))
            return; /* not all judged yet */
    for (int k = 0; k < b->n_keys; k++) {
        const ev_row_t *r = ev_book_row(b, k, seq);
        if (r && r->has_label)
            return;
    }
    char methods[16];
    if (!acceptable(au, b, j, followed, seq, methods, sizeof methods))
        return;
    dn_err_t err = {0};
    if (send_label(au, ri, seq, methods, &err)) {
        dn_log(DN_LOG_WARN, "run %lld: auto-accept not sent: %s (retried with the next "
               "change)", (long long)ri->run_number, err.msg[0] ? err.msg : "timeout");
        return;
    }
    au->seq++;
    au->sent++;
    if (ev_book_mark_auto(b, seq))
        dn_log(DN_LOG_WARN, "run %lld: auto-accept not recorded (memory)",
               (long long)ri->run_number);
    dn_log(DN_LOG_INFO, "run %lld: labelled good automatically (%s)",
           (long long)ri->run_number, methods);
}
