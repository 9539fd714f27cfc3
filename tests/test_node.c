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
 *     a log that holds entries without any checkpoint (not this service's). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "fileio.h"
#include "node.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];

static void setup(void) { dn_test_tmpdir(dir, "node"); }
static void teardown(void) { dn_test_rmdir(dir); }

TestSuite(node, .init = setup, .fini = teardown, .timeout = 60);

/* ---- the counter service -------------------------------------------------- */

typedef struct counter_t {
    dn_source_t *log;
    int64_t count, appended;
} counter_t;

static int counter_create(dn_node_t *node, void **self, dn_err_t *err)
{
    counter_t *c = calloc(1, sizeof *c);
    if (!(*self = c))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    int rc = dn_node_int(node, "count", 0, 100, &c->count, err);
    if (rc)
        return rc;
    dn_source_opts_t so = {.log = "counts", .service = "counter"};
    c->log = dn_node_source(node, "out", "out_requests", &so, NULL, err);
    return c->log ? 0 : err->code;
}

static void counter_destroy(void *self) { free(self); }

static int counter_round(dn_node_t *node, void *self, int *wait_ms, dn_err_t *err)
{
    counter_t *c = self;
    if (c->appended == c->count) {
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
    {"out", DN_CFG_STRING, NULL, "the counts log (PUB)"},
    {"out_requests", DN_CFG_STRING, NULL, "its followers' requests (PULL)"},
};

static const dn_node_def_t counter_def = {
    .name = "counter", .usage = "A test service.\n", .keys = counter_keys, .n_keys = 3,
    .flags = DN_NODE_STORE, .create = counter_create, .destroy = counter_destroy,
    .round = counter_round, .ckpt_magic = "DNTC", .ckpt_version = 1, .save = counter_save,
    .load = counter_load,
};

/* ---- running it ----------------------------------------------------------- */

/* Runs the counter service with extra "--key value" arguments (NULL-ended),
 * its stdout and stderr into DIR/out.txt. Returns its exit status. */
static int run_counter(const char *first, ...)
{
    char data[128], out[160], req[160], txt[160];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(out, sizeof out, "bind:ipc://%s/out", dir);
    snprintf(req, sizeof req, "bind:ipc://%s/req", dir);
    snprintf(txt, sizeof txt, "%s/out.txt", dir);
    const char *argv[32] = {"counter", "--data_dir", data, "--out", out, "--out_requests", req,
                            "--tick_ms", "50"};
    int argc = 9;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
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
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the service did not exit (signal %d)", WTERMSIG(status));
    return WEXITSTATUS(status);
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

Test(node, a_foreign_checkpoint_is_refused_by_name)
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
    cr_assert(said("checkpoint counter: not a version 1 DNTC checkpoint"));
    cr_assert_eq(log_entries(), 1, "nothing appended after the refusal");
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
