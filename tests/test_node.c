/* test_node.c: the service skeleton (node.h) with a small service of the
 * test's own, "counter", run by dn_node_main in a forked child as a real
 * service process would be: its round appends `count` entries to its log
 * "counts" and then stops; its checkpoint body is how many it appended.
 *
 *   - --help prints the usage and every key (the service's and the common
 *     ones) and exits 0;
 *   - a key out of range exits 1 with a log line naming the key, its value,
 *     where it came from and the range;
 *   - the log and the checkpoint commit together: a second start restores the
 *     count from the checkpoint and appends nothing twice; a larger count
 *     appends only the rest;
 *   - a checkpoint of another format is refused with a named error, and so is
 *     a log that holds entries without any checkpoint (not this service's);
 *   - the heartbeat (health.h): refreshed every tick while the loop runs
 *     (rounds and entries counted), "stopped" after SIGTERM, "failed" with
 *     the error after a failure, at health_file when that key is given;
 *   - with security on, a Label sent to the log's requests socket is taken
 *     (appended to the log, `labels` true) only from a key with the labels
 *     role, under that key's name, except from a delegate (the dashboard),
 *     whose label keeps the person it names once fit to show. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "fileio.h"
#include "auth.h"
#include "health.h"
#include "node.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];

/* The node's security is test_auth's and test_pipeline's. */
static void setup(void)
{
    dn_test_tmpdir(dir, "node");
    setenv("DINAMO_COMMON_SECURITY", "off", 1);
}
static void teardown(void) { dn_test_rmdir(dir); }

TestSuite(node, .init = setup, .fini = teardown, .timeout = 60);

/* ---- the counter service -------------------------------------------------- */

typedef struct counter_t {
    dn_source_t *log;
    int64_t count, appended;
    int stay; /* keep running after the last entry (until SIGTERM) */
} counter_t;

/* `labels`: a Label the node admitted on the requests socket is appended. */
static int counter_on_label(dn_node_t *node, void *self, const Dinamo__Envelope *env,
                            dn_err_t *err)
{
    (void)node;
    Dinamo__Envelope copy = *env;
    copy.producer = NULL;
    copy.has_seq = copy.has_incarnation = copy.has_time_sent = copy.has_offset = 0;
    return dn_source_append(((counter_t *)self)->log, &copy, err);
}

static int counter_create(dn_node_t *node, void **self, dn_err_t *err)
{
    counter_t *c = calloc(1, sizeof *c);
    if (!(*self = c))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    int rc = dn_node_int(node, "count", 0, 100, &c->count, err);
    if (rc)
        return rc;
    c->stay = dn_node_bool(node, "stay");
    dn_source_opts_t so = {.log = "counts", .service = "counter"};
    c->log = dn_node_source(node, "out", "out_requests", &so,
                            dn_node_bool(node, "labels") ? counter_on_label : NULL, err);
    return c->log ? 0 : err->code;
}

static void counter_destroy(void *self) { free(self); }

static int counter_round(dn_node_t *node, void *self, int *wait_ms, dn_err_t *err)
{
    counter_t *c = self;
    if (c->appended == c->count) {
        if (!c->stay)
            dn_node_stop(node);
        return 0;
    }
    Dinamo__Control ctl = DINAMO__CONTROL__INIT;
    ctl.has_kind = 1;
    ctl.kind = DINAMO__CONTROL_KIND__END_OF_STREAM;
    ctl.has_n_runs = ctl.has_final_run_number = ctl.has_final_run_seq = 1;
    ctl.n_runs = (uint64_t)c->appended;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
    env.control = &ctl;
    int rc = dn_source_append(c->log, &env, err);
    if (rc)
        return rc;
    c->appended++;
    dn_node_progress(node, (uint64_t)c->appended, (uint64_t)c->count);
    *wait_ms = 0;
    return 0;
}

static void counter_save(void *self, dn_wbuf_t *w)
{
    dn_wb_u64(w, (uint64_t)((counter_t *)self)->appended);
}

static int counter_load(dn_node_t *node, void *self, dn_rbuf_t *r, dn_err_t *err)
{
    (void)node;
    (void)err;
    ((counter_t *)self)->appended = (int64_t)dn_rb_u64(r);
    return 0;
}

static const dn_config_key_t counter_keys[] = {
    {"count", DN_CFG_INT, "3", "entries to append"},
    {"stay", DN_CFG_BOOL, "false", "keep running after the last entry"},
    {"out", DN_CFG_STRING, NULL, "the counts log (PUB)"},
    {"out_requests", DN_CFG_STRING, NULL, "its followers' requests (PULL)"},
    {"labels", DN_CFG_BOOL, "false", "append the labels sent to out_requests to the log"},
};

static const dn_node_def_t counter_def = {
    .name = "counter", .usage = "A test service.\n", .keys = counter_keys, .n_keys = 5,
    .flags = DN_NODE_STORE, .create = counter_create, .destroy = counter_destroy,
    .round = counter_round, .ckpt_magic = "DNTC", .ckpt_version = 1, .save = counter_save,
    .load = counter_load,
};

/* ---- running it ----------------------------------------------------------- */

/* Starts the counter service with extra "--key value" arguments (NULL-ended),
 * its stdout and stderr into DIR/out.txt. Returns its pid. */
static pid_t start_counter(const char *first, va_list ap)
{
    char data[128], out[160], req[160], txt[160];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(out, sizeof out, "bind:ipc://%s/out", dir);
    snprintf(req, sizeof req, "bind:ipc://%s/req", dir);
    snprintf(txt, sizeof txt, "%s/out.txt", dir);
    const char *argv[32] = {"counter", "--data_dir", data, "--out", out, "--out_requests", req,
                            "--tick_ms", "50"};
    int argc = 9;
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = a;
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open(txt, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        int status = dn_node_main(&counter_def, argc, (char **)argv);
        fflush(NULL);
        _exit(status);
    }
    return pid;
}

static pid_t spawn_counter(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    pid_t pid = start_counter(first, ap);
    va_end(ap);
    return pid;
}

static int wait_counter(pid_t pid)
{
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the service did not exit (signal %d)", WTERMSIG(status));
    return WEXITSTATUS(status);
}

/* Runs the counter service to its end; returns its exit status. */
static int run_counter(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    pid_t pid = start_counter(first, ap);
    va_end(ap);
    return wait_counter(pid);
}

/* 1 when the service's output contains text. */
static int said(const char *text)
{
    char path[160], *buf = NULL;
    snprintf(path, sizeof path, "%s/out.txt", dir);
    dn_err_t err = {0};
    cr_assert_eq(dn_read_file(path, &buf, NULL, &err), 0, "%s", err.msg);
    int found = strstr(buf, text) != NULL;
    if (!found)
        fprintf(stderr, "service output (looking for \"%s\"):\n%s", text, buf);
    free(buf);
    return found;
}

static uint64_t log_entries(void)
{
    char path[160];
    snprintf(path, sizeof path, "%s/data/counter", dir);
    dn_err_t err = {0};
    dn_store_t *s = dn_store_open(path, DN_STORE_READONLY, 0, &err);
    cr_assert_not_null(s, "%s", err.msg);
    uint64_t n = 0;
    cr_assert_eq(dn_store_count(s, "counts", &n, &err), 0, "%s", err.msg);
    for (uint64_t i = 0; i < n; i++) {
        Dinamo__Envelope *e = NULL;
        cr_assert_eq(dn_stream_log_read(s, "counts", i, &e, &err), 0, "%s", err.msg);
        cr_assert_eq(e->control->n_runs, i, "entry %llu holds %llu", (unsigned long long)i,
                     (unsigned long long)e->control->n_runs);
        dn_msg_free(&e);
    }
    dn_store_destroy(&s);
    return n;
}

Test(node, help_lists_every_key_and_exits_0)
{
    cr_assert_eq(run_counter("--help", NULL), 0);
    cr_assert(said("usage: counter [--config FILE]"));
    cr_assert(said("A test service."));
    cr_assert(said("--count"));
    cr_assert(said("--data-dir"), "the common keys are listed too");
    cr_assert(said("DINAMO_COUNTER_<KEY>"), "the environment variables as they work");
}

Test(node, a_key_out_of_range_is_named_with_its_source)
{
    cr_assert_eq(run_counter("--count", "101", NULL), 1);
    cr_assert(said("count = 101 (from command line --count): want 0 .. 100"));
    cr_assert_eq(run_counter("--tick_ms", "0", NULL), 1);
    cr_assert(said("tick_ms = 0"));
}

Test(node, log_and_checkpoint_commit_together_and_restore)
{
    cr_assert_eq(run_counter("--count", "3", NULL), 0);
    cr_assert_eq(log_entries(), 3);
    cr_assert_eq(run_counter("--count", "3", NULL), 0, "a restart with nothing to do");
    cr_assert_eq(log_entries(), 3, "nothing appended twice after a restart");
    cr_assert_eq(run_counter("--count", "5", NULL), 0);
    cr_assert_eq(log_entries(), 5, "only the rest appended");
}

/* Runs the counter once, overwrites its checkpoint with another service's
 * (magic DNXX), and runs it again: it must refuse to start (exit 1). */
static void run_over_a_foreign_checkpoint(void)
{
    cr_assert_eq(run_counter("--count", "1", NULL), 0);
    char path[160];
    snprintf(path, sizeof path, "%s/data/counter", dir);
    dn_err_t err = {0};
    dn_store_t *s = dn_store_open(path, 0, 0, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(dn_store_checkpoint_write(s, "counter", "DNXX\1\0\0\0", 8, NULL, &err), 0);
    dn_store_destroy(&s);
    cr_assert_eq(run_counter("--count", "2", NULL), 1);
}

Test(node, a_foreign_checkpoint_is_refused_by_name)
{
    run_over_a_foreign_checkpoint();
    cr_assert(said("checkpoint counter: not a version 1 DNTC checkpoint"));
    cr_assert_eq(log_entries(), 1, "nothing appended after the refusal");
}

/* A service that reads its older checkpoints too (ckpt_version_min) opens
 * versions min .. current and refuses the others and other magics by name. */
Test(node, checkpoint_versions_from_min_to_current_open)
{
    dn_node_def_t def = {.name = "svc", .ckpt_magic = "DNXV", .ckpt_version = 3,
                         .ckpt_version_min = 2};
    for (uint32_t v = 0; v <= 5; v++) {
        dn_wbuf_t w = {0};
        dn_wb_bytes(&w, v == 5 ? "DNXX" : "DNXV", 4);
        dn_wb_u32(&w, v == 5 ? 3 : v);
        dn_wb_u32(&w, 1);
        dn_wb_u64(&w, 42);
        dn_wb_u32(&w, 7);
        cr_assert(!w.oom);
        uint64_t next = 0;
        dn_rbuf_t body = {0};
        dn_err_t err = {0};
        int rc = dn_node_checkpoint_open(&def, w.p, w.len, 1, &next, &body, &err);
        if (v == 2 || v == 3) {
            cr_assert_eq(rc, 0, "version %u: %s", v, err.msg);
            cr_assert_eq(next, 42u);
            cr_assert_eq(dn_rb_u32(&body), 7u, "version %u: the body", v);
        } else {
            cr_assert_eq(rc, DN_EFORMAT, "version %u (magic %s) opened", v,
                         v == 5 ? "DNXX" : "DNXV");
            cr_assert(strstr(err.msg, "not a version 3 DNXV checkpoint"), "'%s'", err.msg);
        }
        free(w.p);
    }
    def.ckpt_version_min = 0; /* only the current one */
    dn_wbuf_t w = {0};
    dn_wb_bytes(&w, "DNXV", 4);
    dn_wb_u32(&w, 2);
    dn_wb_u32(&w, 1);
    dn_wb_u64(&w, 42);
    uint64_t next = 0;
    dn_rbuf_t body = {0};
    cr_assert_eq(dn_node_checkpoint_open(&def, w.p, w.len, 1, &next, &body, NULL), DN_EFORMAT);
    free(w.p);
}

Test(node, a_log_without_a_checkpoint_is_not_appended_to)
{
    char path[160], ep[160];
    snprintf(path, sizeof path, "%s/data/counter", dir);
    snprintf(ep, sizeof ep, "bind:ipc://%s/other", dir);
    dn_err_t err = {0};
    dn_store_t *s = dn_store_open(path, 0, 0, &err);
    cr_assert_not_null(s, "%s", err.msg);
    void *zctx = zmq_ctx_new();
    dn_sock_t *pub = dn_sock_new(zctx, ZMQ_PUB, ep, NULL, &err);
    cr_assert_not_null(pub, "%s", err.msg);
    dn_source_opts_t so = {.log = "counts", .service = "other"};
    dn_source_t *src = dn_source_new(s, pub, &so, &err);
    cr_assert_not_null(src, "%s", err.msg);
    Dinamo__Control ctl = DINAMO__CONTROL__INIT;
    ctl.has_kind = ctl.has_n_runs = ctl.has_final_run_number = ctl.has_final_run_seq = 1;
    ctl.kind = DINAMO__CONTROL_KIND__END_OF_STREAM;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
    env.control = &ctl;
    cr_assert_eq(dn_source_append(src, &env, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_source_commit(src, &err), 0, "%s", err.msg);
    dn_source_destroy(&src);
    dn_sock_destroy(&pub);
    zmq_ctx_term(zctx);
    dn_store_destroy(&s);
    cr_assert_eq(run_counter("--count", "2", NULL), 1);
    cr_assert(said("its log holds 1 entries but there is no counter checkpoint"));
    cr_assert_eq(log_entries(), 1);
}

/* ---- the heartbeat ------------------------------------------------------------ */

static dn_health_t read_health(const char *path)
{
    dn_health_t h;
    dn_err_t err = {0};
    cr_assert_eq(dn_health_read(path, &h, &err), 0, "%s", err.msg);
    return h;
}

/* Waits (at most 10 s) until the heartbeat at path is running with at least
 * `rounds` rounds; returns it. */
static dn_health_t wait_running(const char *path, uint64_t rounds)
{
    dn_health_t h = {0};
    for (int i = 0; i < 1000; i++) {
        dn_err_t err = {0};
        if (!dn_health_read(path, &h, &err) && h.state == DN_HEALTH_RUNNING &&
            h.rounds >= rounds)
            return h;
        usleep(10000);
    }
    cr_assert_fail("no running heartbeat with %llu rounds at %s (state %s, %llu rounds)",
                   (unsigned long long)rounds, path, dn_health_state_name(h.state),
                   (unsigned long long)h.rounds);
    return h;
}

Test(node, the_heartbeat_is_fresh_while_the_loop_runs_and_says_how_it_ended)
{
    char path[160];
    snprintf(path, sizeof path, "%s/data/counter/health", dir);
    double t0 = dn_clock_wall();
    pid_t pid = spawn_counter("--count", "4", "--stay", "true", NULL);
    dn_health_t first = wait_running(path, 1);
    cr_assert_eq(first.pid, pid);
    cr_assert_str_eq(first.service, "counter");
    cr_assert_eq(first.tick_ms, 50);
    cr_assert(first.started >= t0 - 1 && first.time >= first.started, "times %f %f (from %f)",
              first.started, first.time, t0);
    /* Ticks every 50 ms refresh it: newer time, more rounds, every entry counted. */
    dn_health_t later = wait_running(path, first.rounds + 3);
    for (int i = 0; i < 200 && later.out < 4; i++) {
        usleep(10000);
        later = read_health(path);
    }
    cr_assert_gt(later.time, first.time);
    cr_assert_eq(later.out, 4, "entries in the counts log: %llu", (unsigned long long)later.out);
    cr_assert(later.runs == 4 && later.total == 4, "progress %llu of %llu: want 4 of 4 "
              "(dn_node_progress)", (unsigned long long)later.runs,
              (unsigned long long)later.total);
    char line[1024];
    cr_assert_eq(dn_health_judge(&later, dn_clock_wall(), 0, line, sizeof line), 0, "%s", line);
    cr_assert_eq(kill(pid, SIGTERM), 0);
    cr_assert_eq(wait_counter(pid), 0);
    dn_health_t end = read_health(path);
    cr_assert_eq(end.state, DN_HEALTH_STOPPED, "state %s", dn_health_state_name(end.state));
    cr_assert_geq(end.rounds, later.rounds);
    cr_assert_eq(dn_health_judge(&end, dn_clock_wall(), 0, line, sizeof line), 1);
    cr_assert(strstr(line, "counter: stopped at "), "%s", line);
}

Test(node, a_failed_service_leaves_its_error_in_the_heartbeat)
{
    run_over_a_foreign_checkpoint();
    char path[160];
    snprintf(path, sizeof path, "%s/data/counter/health", dir);
    dn_health_t h = read_health(path);
    cr_assert_eq(h.state, DN_HEALTH_FAILED, "state %s", dn_health_state_name(h.state));
    cr_assert(strstr(h.detail, "checkpoint counter: not a version 1 DNTC checkpoint"), "%s",
              h.detail);
    cr_assert_geq(h.errors, 1, "the error line is counted");
}

Test(node, health_file_puts_the_heartbeat_elsewhere)
{
    char path[160];
    snprintf(path, sizeof path, "%s/run/beats/counter.health", dir);
    cr_assert_eq(run_counter("--count", "2", "--health_file", path, NULL), 0);
    dn_health_t h = read_health(path);
    cr_assert_eq(h.state, DN_HEALTH_STOPPED);
    cr_assert_eq(h.out, 2);
    snprintf(path, sizeof path, "%s/data/counter/health", dir);
    cr_assert_neq(access(path, F_OK), 0, "no heartbeat at the default place");
}

/* ---- a follower over a poison entry ----------------------------------------- */

/* "reader": follows the counter's log and stops once it was handed `want`
 * entries; its checkpoint body is what it was handed. */
typedef struct reader_t {
    int64_t want, got;
    uint64_t n_runs[16]; /* the counter's n_runs of each entry handed over */
} reader_t;

static int reader_entry(dn_node_t *node, void *self, const Dinamo__Envelope *env, dn_err_t *err)
{
    (void)node;
    (void)err;
    reader_t *r = self;
    if (r->got < 16)
        r->n_runs[r->got] = env->control->n_runs;
    r->got++;
    return 0;
}

static int reader_create(dn_node_t *node, void **self, dn_err_t *err)
{
    reader_t *r = calloc(1, sizeof *r);
    if (!(*self = r))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    int rc = dn_node_int(node, "want", 1, 16, &r->want, err);
    if (rc)
        return rc;
    dn_follower_opts_t fo = {.log = "counts", .consumer = "reader", .ack_interval_ms = 50};
    return dn_node_follow(node, "in", "in_requests", &fo, reader_entry, err) ? 0 : err->code;
}

static int reader_round(dn_node_t *node, void *self, int *wait_ms, dn_err_t *err)
{
    (void)wait_ms;
    (void)err;
    reader_t *r = self;
    if (r->got >= r->want)
        dn_node_stop(node);
    return 0;
}

static void reader_save(void *self, dn_wbuf_t *w)
{
    dn_wb_u64(w, (uint64_t)((reader_t *)self)->got);
}

static int reader_load(dn_node_t *node, void *self, dn_rbuf_t *r, dn_err_t *err)
{
    (void)node;
    (void)err;
    ((reader_t *)self)->got = (int64_t)dn_rb_u64(r);
    return 0;
}

static const dn_config_key_t reader_keys[] = {
    {"want", DN_CFG_INT, "1", "entries to be handed before stopping"},
    {"in", DN_CFG_STRING, NULL, "the counts log (SUB)"},
    {"in_requests", DN_CFG_STRING, NULL, "its source's requests (PUSH)"},
};

static const dn_node_def_t reader_def = {
    .name = "reader", .usage = "A test follower.\n", .keys = reader_keys, .n_keys = 3,
    .flags = DN_NODE_STORE, .create = reader_create, .destroy = counter_destroy,
    .round = reader_round, .ckpt_magic = "DNTR", .ckpt_version = 1, .save = reader_save,
    .load = reader_load,
};

/* Starts the reader (to stop after want entries), its output appended to
 * DIR/reader.txt. Returns its pid. */
static pid_t spawn_reader(const char *want)
{
    char data[128], in[160], req[160], txt[160];
    snprintf(data, sizeof data, "%s/rdata", dir);
    snprintf(in, sizeof in, "connect:ipc://%s/out", dir);
    snprintf(req, sizeof req, "connect:ipc://%s/req", dir);
    snprintf(txt, sizeof txt, "%s/reader.txt", dir);
    const char *argv[] = {"reader", "--data_dir", data, "--in", in, "--in_requests", req,
                          "--tick_ms", "50", "--want", want};
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open(txt, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        alarm(30);
        int status = dn_node_main(&reader_def, (int)(sizeof argv / sizeof argv[0]),
                                  (char **)argv);
        fflush(NULL);
        _exit(status);
    }
    return pid;
}

/* Lines of DIR/reader.txt containing text. */
static int reader_lines(const char *text)
{
    char path[160], *buf = NULL;
    snprintf(path, sizeof path, "%s/reader.txt", dir);
    dn_err_t err = {0};
    cr_assert_eq(dn_read_file(path, &buf, NULL, &err), 0, "%s", err.msg);
    int n = 0;
    for (const char *p = buf; (p = strstr(p, text)); p++)
        n++;
    free(buf);
    return n;
}

/* Issue 17's wedge through the whole service skeleton: the 27-byte label
 * stored in a log (as a feed did before decoding refused it) between good
 * entries. A following service skips it once, by offset, says so once
 * (naming the log, the offset and the refusal), is handed every good entry,
 * and after a restart neither asks for it again nor says so again. */
Test(node, a_follower_skips_a_poison_entry_once_and_for_good)
{
    cr_assert_eq(run_counter("--count", "3", NULL), 0);
    static const char hex[] = "0a017818005a14102518252001280232076d616c6c6f7279800000";
    uint8_t entry[64];
    const char *topic = "label/good/h0";
    size_t tl = strlen(topic);
    entry[0] = (uint8_t)tl;
    memcpy(entry + 1, topic, tl);
    for (int i = 0; i < 27; i++)
        sscanf(hex + 2 * i, "%2hhx", &entry[1 + tl + (size_t)i]);
    char path[160];
    snprintf(path, sizeof path, "%s/data/counter", dir);
    dn_err_t err = {0};
    dn_store_t *s = dn_store_open(path, 0, 0, &err);
    cr_assert_not_null(s, "%s", err.msg);
    dn_store_batch_t *b = dn_store_batch_new();
    const uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 3};
    cr_assert_eq(dn_store_batch_put(b, "counts", key, 8, entry, 1 + tl + 27), 0);
    cr_assert_eq(dn_store_apply(s, b, &err), 0, "%s", err.msg);
    dn_store_batch_destroy(&b);
    dn_store_destroy(&s);
    /* The counter appends two more (offsets 4 and 5) and stays to serve. */
    pid_t counter = spawn_counter("--count", "5", "--stay", "true", NULL);
    cr_assert_eq(wait_counter(spawn_reader("5")), 0, "the reader was not handed 5 entries");
    cr_assert_eq(reader_lines("log counts: entry 3 skipped for good"), 1);
    cr_assert_eq(reader_lines("unknown field"), 1, "the refusal is named");
    cr_assert_eq(reader_lines("log counts: entry"), 1, "no other entry skipped");
    /* A restart resumes past it: one more entry wanted, none is there, so
     * the reader is stopped after a while with nothing new said. */
    pid_t again = spawn_reader("6");
    usleep(1500 * 1000);
    kill(again, SIGTERM);
    cr_assert_eq(wait_counter(again), 0);
    cr_assert_eq(reader_lines("service reader started"), 2);
    cr_assert_eq(reader_lines("skipped for good"), 1, "the poison entry was reported again");
    cr_assert_eq(reader_lines("rejected message"), 0, "a refusal logged without its offset");
    kill(counter, SIGTERM);
    cr_assert_eq(wait_counter(counter), 0);
}

/* ---- who a label records ------------------------------------------------------ */

/* Sends one Label (run, who) to the counter's requests socket as key `as`. */
static void send_label_as(void *ctx, const char *keys_dir, const char *as, int64_t run,
                          const char *who)
{
    dn_err_t err = {0};
    dn_keyring_t *kr = dn_keyring_load(keys_dir, as, &err);
    cr_assert_not_null(kr, "%s", err.msg);
    char ep[200];
    snprintf(ep, sizeof ep, "connect:counter@ipc://%s/req", dir);
    /* No stamping: sockets made within one clock tick would share an
     * incarnation, and the second label would be dropped as a duplicate. */
    dn_sock_opts_t o = {.keys = kr, .linger_ms = 2000};
    dn_sock_t *push = dn_sock_new(ctx, ZMQ_PUSH, ep, &o, &err);
    dn_keyring_destroy(&kr);
    cr_assert_not_null(push, "%s", err.msg);
    Dinamo__Label l = DINAMO__LABEL__INIT;
    l.has_run_number = l.has_run_seq = l.has_verdict = l.has_source = 1;
    l.run_number = run;
    l.run_seq = (uint64_t)run;
    l.verdict = DINAMO__VERDICT__BAD;
    l.source = DINAMO__LABEL_SOURCE__SHIFTER;
    l.who = (char *)who;
    char producer[64];
    snprintf(producer, sizeof producer, "%s/run%lld", as, (long long)run);
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.producer = producer;
    env.has_seq = 1;
    env.body_case = DINAMO__ENVELOPE__BODY_LABEL;
    env.label = &l;
    cr_assert_eq(dn_sock_send(push, &env, 5000, &err), 0, "%s", err.msg);
    dn_sock_destroy(&push); /* lingers until it left */
}

/* Issue 18: the dashboard's key (labels and delegate) labels on behalf of
 * its logged-in user: that name is kept, once fit to show; any other
 * labeller's label records its key's name, whatever it claims. */
Test(node, a_delegates_label_keeps_the_person_it_names)
{
    char keys[200];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    struct { const char *name; int roles; } ks[] = {
        {"counter", DN_ROLE_RUNS}, {"shifter", DN_ROLE_LABELS},
        {"dashboard", DN_ROLE_LABELS | DN_ROLE_DELEGATE}, {"reader", 0},
    };
    dn_err_t err = {0};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        cr_assert_eq(dn_auth_keygen(keys, ks[i].name, ks[i].roles, NULL, &err), 0, "%s",
                     err.msg);
    setenv("DINAMO_COMMON_SECURITY", "on", 1);
    pid_t pid = spawn_counter("--count", "0", "--stay", "true", "--labels", "true",
                              "--keys_dir", keys, NULL);
    setenv("DINAMO_COMMON_SECURITY", "off", 1);
    char path[160];
    snprintf(path, sizeof path, "%s/data/counter/health", dir);
    wait_running(path, 1);
    void *ctx = zmq_ctx_new();
    cr_assert_not_null(ctx);
    send_label_as(ctx, keys, "shifter", 1, "someone else");   /* -> shifter */
    send_label_as(ctx, keys, "dashboard", 2, "Zo\xc3\xab");    /* kept */
    send_label_as(ctx, keys, "dashboard", 3, "");               /* -> dashboard */
    send_label_as(ctx, keys, "dashboard", 4, "eve\nroot");     /* refused */
    send_label_as(ctx, keys, "reader", 5, "reader");            /* refused: no labels role */
    send_label_as(ctx, keys, "dashboard", 6, "last");           /* kept: all before it is in */
    zmq_ctx_term(ctx);
    dn_health_t h = read_health(path);
    for (int i = 0; i < 500 && h.out < 4; i++) {
        usleep(10000);
        h = read_health(path);
    }
    cr_assert_eq(kill(pid, SIGTERM), 0);
    cr_assert_eq(wait_counter(pid), 0);
    snprintf(path, sizeof path, "%s/data/counter", dir);
    dn_store_t *st = dn_store_open(path, DN_STORE_READONLY, 0, &err);
    cr_assert_not_null(st, "%s", err.msg);
    uint64_t n = 0;
    cr_assert_eq(dn_store_count(st, "counts", &n, &err), 0, "%s", err.msg);
    const struct { int64_t run; const char *who; } want[] = {
        {1, "shifter"}, {2, "Zo\xc3\xab"}, {3, "dashboard"}, {6, "last"},
    };
    cr_assert_eq(n, 4, "%llu labels taken, want 4 (runs 1, 2, 3, 6)", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        Dinamo__Envelope *e = NULL;
        cr_assert_eq(dn_stream_log_read(st, "counts", i, &e, &err), 0, "%s", err.msg);
        cr_assert_eq(dn_msg_type(e), DN_MSG_LABEL);
        size_t w = 0; /* the connections are several: any arrival order will do */
        while (w < 4 && want[w].run != e->label->run_number)
            w++;
        cr_assert_lt(w, 4, "entry %llu is run %lld, which was refused",
                     (unsigned long long)i, (long long)e->label->run_number);
        cr_assert_str_eq(e->label->who, want[w].who, "run %lld recorded who '%s'",
                         (long long)want[w].run, e->label->who);
        dn_msg_free(&e);
    }
    dn_store_destroy(&st);
    cr_assert(said("label of run 4 from key 'dashboard' refused: who has a control character "
                   "at byte 3"));
    cr_assert(said("label of run 5 from key 'reader' refused: not admitted to label"));
}
