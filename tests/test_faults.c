/* test_faults.c: a real service (dn_node_main in a forked child) meeting
 * faults beyond kill -9: a full disk while it streams, and a damaged store at
 * start.
 *
 * The service is the test's own "relay": it follows the durable log "events"
 * of a source that the test process runs (its store on /tmp) and appends a
 * copy of each run to its own log "relayed", its checkpoint counting what it
 * relayed. Its data_dir is on a small tmpfs the test mounts (root only: the
 * tests that mount are skipped, saying so, for anyone else), so the test can
 * fill the disk under it and free it again:
 *   - full disk -> the service names the cause in its log and heartbeat,
 *     waits (its store stays at a consistent commit: checkpoint, log and
 *     follower position agree), back-pressures the source (its follower's
 *     position stands still, the source publishes at most a window beyond);
 *     space freed -> it resumes, and its log and checkpoint equal, byte for
 *     byte, those of a run on a disk that never filled;
 *   - full disk, then SIGTERM while waiting -> exit status 1 with the cause;
 *     space freed and a restart -> the same output as the undisturbed run;
 *   - a damaged data.mdb at start -> exit status 1, the log and the
 *     heartbeat naming the file and what is wrong, no crash. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "fileio.h"
#include "health.h"
#include "log.h"
#include "node.h"
#include "storedigest.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];
static char mnt[DN_TEST_TMPDIR_MAX + 16];
static int mounted;
static pid_t child = -1;

/* The relay's plain sockets are the test's own; security is test_auth's. */
static void setup(void)
{
    dn_test_tmpdir(dir, "faults");
    setenv("DINAMO_COMMON_SECURITY", "off", 1);
}

static void teardown(void)
{
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    if (mounted) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "umount -l '%s'", mnt);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot unmount %s\n", mnt);
    }
    dn_test_rmdir(dir);
}

TestSuite(faults, .init = setup, .fini = teardown, .timeout = 120);

#define N_RUNS 240 /* runs the source appends in all */
#define N_BINS 100 /* bins per run: about 1 KB a log entry */

/* ---- the relay service ------------------------------------------------------ */

typedef struct relay_t {
    dn_source_t *out;
    uint64_t relayed;
} relay_t;

static int relay_entry(dn_node_t *node, void *self, const Dinamo__Envelope *env, dn_err_t *err)
{
    (void)node;
    relay_t *r = self;
    if (env->body_case != DINAMO__ENVELOPE__BODY_RUN)
        return dn_err_set(err, DN_EFORMAT, "entry %llu is not a run",
                          (unsigned long long)env->offset);
    Dinamo__Run run = *env->run;
    Dinamo__Envelope copy = DINAMO__ENVELOPE__INIT;
    copy.body_case = DINAMO__ENVELOPE__BODY_RUN;
    copy.run = &run;
    int rc = dn_source_append(r->out, &copy, err);
    if (!rc)
        r->relayed++;
    return rc;
}

static int relay_create(dn_node_t *node, void **self, dn_err_t *err)
{
    relay_t *r = calloc(1, sizeof *r);
    if (!(*self = r))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    dn_source_opts_t so = {.log = "relayed", .service = "relay"};
    if (!(r->out = dn_node_source(node, "out", "out_requests", &so, NULL, err)))
        return err->code;
    dn_follower_opts_t fo = {.log = "events", .consumer = "relay", .ack_interval_ms = 50};
    return dn_node_follow(node, "events", "events_requests", &fo, relay_entry, err) ? 0
                                                                                    : err->code;
}

static void relay_destroy(void *self) { free(self); }

static void relay_save(void *self, dn_wbuf_t *w) { dn_wb_u64(w, ((relay_t *)self)->relayed); }

static int relay_load(dn_node_t *node, void *self, dn_rbuf_t *r, dn_err_t *err)
{
    (void)node;
    (void)err;
    ((relay_t *)self)->relayed = dn_rb_u64(r);
    return 0;
}

static void relay_stop(dn_node_t *node, void *self)
{
    (void)node;
    dn_log(DN_LOG_INFO, "stopped: %llu relayed", (unsigned long long)((relay_t *)self)->relayed);
}

static const dn_config_key_t relay_keys[] = {
    {"events", DN_CFG_STRING, NULL, "the followed log (SUB)"},
    {"events_requests", DN_CFG_STRING, NULL, "its source's requests (PUSH)"},
    {"out", DN_CFG_STRING, NULL, "the relayed log (PUB)"},
    {"out_requests", DN_CFG_STRING, NULL, "its followers' requests (PULL)"},
};

static const dn_node_def_t relay_def = {
    .name = "relay", .keys = relay_keys, .n_keys = 4, .flags = DN_NODE_STORE,
    .create = relay_create, .destroy = relay_destroy, .stop = relay_stop,
    .ckpt_magic = "DNRL", .ckpt_version = 1, .save = relay_save, .load = relay_load,
};

/* Starts the relay with its data_dir at data, its heartbeat at DIR/health,
 * its output into DIR/out.txt (appended: a restart keeps the first run's
 * lines). Sets `child`. */
static void start_relay(const char *data)
{
    char sub[160], req[160], out[160], outreq[160], txt[160], health[160];
    snprintf(sub, sizeof sub, "connect:ipc://%s/up.ipc", dir);
    snprintf(req, sizeof req, "connect:ipc://%s/up_req.ipc", dir);
    snprintf(out, sizeof out, "bind:ipc://%s/relayed.ipc", dir);
    snprintf(outreq, sizeof outreq, "bind:ipc://%s/relayed_req.ipc", dir);
    snprintf(txt, sizeof txt, "%s/out.txt", dir);
    snprintf(health, sizeof health, "%s/health", dir);
    const char *argv[] = {"relay", "--data_dir", data, "--events", sub,
                          "--events_requests", req, "--out", out, "--out_requests", outreq,
                          "--tick_ms", "100", "--health_file", health, NULL};
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open(txt, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        int status = dn_node_main(&relay_def, 15, (char **)argv);
        fflush(NULL);
        _exit(status);
    }
    child = pid;
}

static int wait_relay(void)
{
    int status = 0;
    cr_assert_eq(waitpid(child, &status, 0), child);
    child = -1;
    cr_assert(WIFEXITED(status), "the relay did not exit (signal %d)", WTERMSIG(status));
    return WEXITSTATUS(status);
}

/* 1 when the relay's output holds text (quietly). */
static int relay_said(const char *text)
{
    char path[160], *buf = NULL;
    snprintf(path, sizeof path, "%s/out.txt", dir);
    dn_err_t err = {0};
    if (dn_read_file(path, &buf, NULL, &err))
        return 0;
    int found = strstr(buf, text) != NULL;
    free(buf);
    return found;
}

static dn_health_t relay_health(void);

static void show_output(void)
{
    dn_health_t h = relay_health();
    fprintf(stderr, "relay heartbeat: %s, %llu rounds, %llu in, %llu out, detail '%s'\n",
            dn_health_state_name(h.state), (unsigned long long)h.rounds,
            (unsigned long long)h.in, (unsigned long long)h.out, h.detail);
    char path[160], *buf = NULL;
    snprintf(path, sizeof path, "%s/out.txt", dir);
    dn_err_t err = {0};
    if (!dn_read_file(path, &buf, NULL, &err))
        fprintf(stderr, "---- relay output ----\n%s---- end ----\n", buf);
    free(buf);
}

static dn_health_t relay_health(void)
{
    char path[160];
    snprintf(path, sizeof path, "%s/health", dir);
    dn_health_t h;
    memset(&h, 0, sizeof h);
    dn_err_t err = {0};
    (void)dn_health_read(path, &h, &err);
    return h;
}

/* ---- the source the relay follows (in this process) ---------------------------- */

/* Also the relay's follower downstream ("down"): without one, the relay's
 * log would fill its window and hold the relay back. It checks that every
 * run arrives once, in order. */
typedef struct up_t {
    void *zctx;
    dn_store_t *store;
    dn_sock_t *pub, *pull, *dsub, *dpush;
    dn_source_t *source;
    dn_follower_t *down;
    int appended;
    uint64_t delivered;
} up_t;

static void up_open(up_t *u)
{
    char path[160], ep[160];
    dn_err_t err = {0};
    snprintf(path, sizeof path, "%s/up", dir);
    u->store = dn_store_open(path, 0, 0, &err);
    cr_assert_not_null(u->store, "%s", err.msg);
    u->zctx = zmq_ctx_new();
    snprintf(ep, sizeof ep, "bind:ipc://%s/up.ipc", dir);
    u->pub = dn_sock_new(u->zctx, ZMQ_PUB, ep, NULL, &err);
    cr_assert_not_null(u->pub, "%s", err.msg);
    snprintf(ep, sizeof ep, "bind:ipc://%s/up_req.ipc", dir);
    u->pull = dn_sock_new(u->zctx, ZMQ_PULL, ep, NULL, &err);
    cr_assert_not_null(u->pull, "%s", err.msg);
    dn_source_opts_t so = {.log = "events", .service = "up", .heartbeat_ms = 50};
    u->source = dn_source_new(u->store, u->pub, &so, &err);
    cr_assert_not_null(u->source, "%s", err.msg);
    u->appended = (int)dn_source_head(u->source);
    snprintf(ep, sizeof ep, "connect:ipc://%s/relayed.ipc", dir);
    u->dsub = dn_sock_new(u->zctx, ZMQ_SUB, ep, NULL, &err);
    cr_assert_not_null(u->dsub, "%s", err.msg);
    snprintf(ep, sizeof ep, "connect:ipc://%s/relayed_req.ipc", dir);
    u->dpush = dn_sock_new(u->zctx, ZMQ_PUSH, ep, NULL, &err);
    cr_assert_not_null(u->dpush, "%s", err.msg);
    dn_follower_opts_t fo = {.log = "relayed", .consumer = "down", .ack_interval_ms = 50};
    u->down = dn_follower_new(u->dsub, u->dpush, &fo, &err);
    cr_assert_not_null(u->down, "%s", err.msg);
    u->delivered = 0;
}

static void up_close(up_t *u)
{
    dn_follower_destroy(&u->down);
    dn_source_destroy(&u->source);
    dn_sock_destroy(&u->dsub);
    dn_sock_destroy(&u->dpush);
    dn_sock_destroy(&u->pub);
    dn_sock_destroy(&u->pull);
    zmq_ctx_term(u->zctx);
    dn_store_destroy(&u->store);
}

/* Appends runs up to `upto` (run i: number 5000 + i, counts a function of i). */
static void up_append(up_t *u, int upto)
{
    dn_err_t err = {0};
    for (int i = u->appended; i < upto; i++) {
        double counts[N_BINS];
        for (int b = 0; b < N_BINS; b++)
            counts[b] = (double)((i * 7919 + b * 104729) % 1000);
        Dinamo__Histogram h = DINAMO__HISTOGRAM__INIT, *hp = &h;
        h.key = (char *)"h0";
        h.n_counts = N_BINS;
        h.counts = counts;
        Dinamo__Run r = DINAMO__RUN__INIT;
        r.has_run_number = r.has_run_seq = 1;
        r.run_number = 5000 + i;
        r.run_seq = (uint64_t)i;
        r.n_histograms = 1;
        r.histograms = &hp;
        Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
        env.body_case = DINAMO__ENVELOPE__BODY_RUN;
        env.run = &r;
        cr_assert_eq(dn_source_append(u->source, &env, &err), 0, "append %d: %s", i, err.msg);
    }
    u->appended = upto;
    cr_assert_eq(dn_source_commit(u->source, &err), 0, "%s", err.msg);
}

/* Serves the relay's requests and publishes for ms milliseconds, or until
 * done(arg) says 1 (checked every 10 ms). Returns done's last answer. */
static int up_serve(up_t *u, int ms, int (*done)(void *), void *arg)
{
    double end = dn_clock_mono() + ms / 1000.0;
    for (;;) {
        dn_err_t err = {0};
        Dinamo__Envelope *env = NULL;
        while (dn_sock_recv(u->pull, 0, &env, NULL, &err) == 0) {
            cr_assert_eq(dn_source_on_request(u->source, env, &err), 0, "%s", err.msg);
            dn_msg_free(&env);
        }
        cr_assert_eq(dn_source_pump(u->source, &err), 0, "%s", err.msg);
        while (dn_sock_recv(u->dsub, 0, &env, NULL, &err) == 0) {
            int rc = dn_follower_accept(u->down, env, &err);
            cr_assert_geq(rc, 0, "%s", err.msg);
            if (rc == DN_FOLLOW_DELIVER) {
                cr_assert(env->run && env->run->run_number == 5000 + (int64_t)u->delivered,
                          "downstream: entry %llu is not run %llu",
                          (unsigned long long)env->offset,
                          (unsigned long long)(5000 + u->delivered));
                u->delivered++;
            }
            dn_msg_free(&env);
        }
        cr_assert_eq(dn_follower_flush(u->down, &err), 0, "%s", err.msg);
        int ok = done ? done(arg) : 0;
        if (ok || dn_clock_mono() > end)
            return ok;
        usleep(10000);
    }
}

/* ---- what the relay's store holds --------------------------------------------- */

/* The relay's store at data/relay: its log and checkpoint (digest), its
 * checkpoint's follower position and count. Checks that they agree: one
 * relayed entry per followed entry, every entry a run in order. */
typedef struct relay_state_t {
    dn_test_digest_t log, ckpt;
    uint64_t next, relayed;
} relay_state_t;

static relay_state_t relay_state(const char *data)
{
    char path[192];
    snprintf(path, sizeof path, "%s/relay", data);
    dn_err_t err = {0};
    dn_store_t *s = dn_store_open(path, DN_STORE_READONLY, 0, &err);
    cr_assert_not_null(s, "%s", err.msg);
    relay_state_t st = {dn_test_digest(s, (const char *const[]){"relayed"}, 1),
                        dn_test_digest(s, (const char *const[]){"dn.checkpoint"}, 1), 0, 0};
    void *blob = NULL;
    size_t len = 0;
    int rc = dn_store_checkpoint_read(s, "relay", &blob, &len, NULL, &err);
    if (rc == 0) {
        cr_assert_eq(len, 28, "checkpoint of %zu bytes", len);
        dn_rbuf_t r = {blob, len, 12, 0};
        st.next = dn_rb_u64(&r);
        st.relayed = dn_rb_u64(&r);
        free(blob);
    } else {
        cr_assert_eq(rc, DN_ENOTFOUND, "%s", err.msg);
    }
    cr_assert(st.next == st.relayed && st.relayed == st.log.entries,
              "the store disagrees with itself: follower at %llu, %llu relayed, %llu log entries",
              (unsigned long long)st.next, (unsigned long long)st.relayed,
              (unsigned long long)st.log.entries);
    for (uint64_t i = 0; i < st.log.entries; i++) {
        Dinamo__Envelope *e = NULL;
        cr_assert_eq(dn_stream_log_read(s, "relayed", i, &e, &err), 0, "%s", err.msg);
        cr_assert(e->run && e->run->run_number == 5000 + (int64_t)i,
                  "entry %llu is not run %llu", (unsigned long long)i,
                  (unsigned long long)(5000 + i));
        dn_msg_free(&e);
    }
    dn_store_destroy(&s);
    return st;
}

static void assert_same_output(relay_state_t got, relay_state_t want)
{
    cr_assert(got.log.entries == want.log.entries && got.log.hash == want.log.hash &&
                  got.ckpt.entries == want.ckpt.entries && got.ckpt.hash == want.ckpt.hash,
              "log %llu entries %016llx, checkpoint %016llx; the undisturbed run: log %llu "
              "entries %016llx, checkpoint %016llx",
              (unsigned long long)got.log.entries, (unsigned long long)got.log.hash,
              (unsigned long long)got.ckpt.hash, (unsigned long long)want.log.entries,
              (unsigned long long)want.log.hash, (unsigned long long)want.ckpt.hash);
}

static int relayed_all(void *arg)
{
    dn_health_t h = relay_health();
    return h.state == DN_HEALTH_RUNNING && h.out == *(uint64_t *)arg && !h.detail[0];
}

static int relay_waits(void *arg)
{
    (void)arg;
    return relay_said("waiting for space");
}

static int relay_resumed(void *arg)
{
    (void)arg;
    return relay_said("the commit went through after waiting ") &&
           relay_said("it was: store ") && relay_said("resuming");
}

/* Runs the relay over the whole source with data_dir at data, no fault, and
 * stops it; what its store holds. */
static relay_state_t undisturbed(up_t *u, const char *data)
{
    up_append(u, N_RUNS);
    start_relay(data);
    uint64_t n = N_RUNS;
    if (!up_serve(u, 30000, relayed_all, &n)) {
        show_output();
        cr_assert_fail("the undisturbed relay did not relay %d runs", N_RUNS);
    }
    up_serve(u, 300, NULL, NULL); /* a tick: the heartbeat counts appended, not committed */
    cr_assert_eq(kill(child, SIGTERM), 0);
    cr_assert_eq(wait_relay(), 0);
    return relay_state(data);
}

/* A tmpfs of 8 MiB at DIR/mnt, or the test skipped when not root. */
static void mount_small_disk(void)
{
    snprintf(mnt, sizeof mnt, "%s/mnt", dir);
    if (geteuid() != 0)
        cr_skip_test("needs root to mount a tmpfs (running as uid %d)", (int)geteuid());
    cr_assert_eq(mkdir(mnt, 0755), 0);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=8m tmpfs '%s'", mnt);
    cr_assert_eq(system(cmd), 0, "%s failed although running as root", cmd);
    mounted = 1;
}

/* Fills the small disk with MNT/filler until a write fails. */
static void fill_disk(void)
{
    char path[192];
    snprintf(path, sizeof path, "%s/filler", mnt);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    static char block[4096];
    while (fwrite(block, 1, sizeof block, f) == sizeof block)
        ;
    fclose(f);
}

static void free_disk(void)
{
    char path[192];
    snprintf(path, sizeof path, "%s/filler", mnt);
    cr_assert_eq(unlink(path), 0);
}

/* The relay's store on the small disk, its first third of the source relayed,
 * then the disk filled and another third appended: it must say so and wait,
 * its store consistent and the source held back. */
static void relay_into_a_full_disk(up_t *u, char *data, size_t cap)
{
    mount_small_disk();
    snprintf(data, cap, "%s/data", mnt);
    up_open(u);
    up_append(u, N_RUNS / 3);
    start_relay(data);
    uint64_t n = N_RUNS / 3;
    if (!up_serve(u, 30000, relayed_all, &n)) {
        show_output();
        cr_assert_fail("the relay did not relay the first %d runs", N_RUNS / 3);
    }
    up_serve(u, 300, NULL, NULL);
    fill_disk();
    up_append(u, 2 * N_RUNS / 3);
    if (!up_serve(u, 30000, relay_waits, NULL)) {
        show_output();
        cr_assert_fail("the relay never said it waits for space");
    }
    /* ENOSPC, or a short write when the commit outgrew the space left (LMDB
     * says EIO): the same words for a person on shift. */
    char want[400];
    snprintf(want, sizeof want, "store %s/relay: disk full (", data);
    if (!relay_said(want) || !relay_said(" while committing; waiting for space"))
        show_output();
    cr_assert(relay_said(want) && relay_said(" while committing; waiting for space"),
              "no line \"%s... while committing; waiting for space\"", want);
    /* Waiting: alive, its heartbeat fresh and saying why; the source held
     * back (the relay's position stands still, at most a window published
     * beyond it). */
    up_serve(u, 500, NULL, NULL);
    dn_source_stats_t before = dn_source_stats(u->source);
    dn_health_t h1 = relay_health();
    up_serve(u, 1500, NULL, NULL);
    dn_source_stats_t after = dn_source_stats(u->source);
    dn_health_t h2 = relay_health();
    cr_assert_eq(waitpid(child, NULL, WNOHANG), 0, "the relay exited while waiting");
    cr_assert(h2.state == DN_HEALTH_RUNNING && h2.time > h1.time, "heartbeat %s at %f then %f",
              dn_health_state_name(h2.state), h1.time, h2.time);
    cr_assert(strstr(h2.detail, "waiting for space: store ") && strstr(h2.detail, "disk full"),
              "heartbeat detail: %s", h2.detail);
    cr_assert_eq(after.slowest, before.slowest, "the relay's position moved while waiting: "
                 "%llu -> %llu", (unsigned long long)before.slowest,
                 (unsigned long long)after.slowest);
    cr_assert(after.slowest < 2 * N_RUNS / 3 && after.cursor <= after.slowest + 32,
              "the source was not held back: relay at %llu, cursor %llu of %d",
              (unsigned long long)after.slowest, (unsigned long long)after.cursor,
              2 * N_RUNS / 3);
    fprintf(stderr, "waiting: relay acked %llu of %d runs, source cursor %llu; heartbeat: %s\n",
            (unsigned long long)after.slowest, 2 * N_RUNS / 3,
            (unsigned long long)after.cursor, h2.detail);
    /* Its store (read while it waits) is at a consistent commit. */
    relay_state_t mid = relay_state(data);
    cr_assert_lt(mid.relayed, 2 * N_RUNS / 3);
}

Test(faults, a_full_disk_makes_the_service_wait_and_resume_with_nothing_lost)
{
    up_t u = {0};
    char data[192];
    relay_into_a_full_disk(&u, data, sizeof data);
    free_disk();
    if (!up_serve(&u, 30000, relay_resumed, NULL)) {
        show_output();
        cr_assert_fail("the relay did not resume after the space was freed");
    }
    up_append(&u, N_RUNS);
    uint64_t n = N_RUNS;
    if (!up_serve(&u, 30000, relayed_all, &n)) {
        show_output();
        cr_assert_fail("the relay did not relay all %d runs after resuming", N_RUNS);
    }
    up_serve(&u, 300, NULL, NULL);
    cr_assert_eq(kill(child, SIGTERM), 0);
    cr_assert_eq(wait_relay(), 0);
    cr_assert(relay_said("stopped: 240 relayed"));
    relay_state_t got = relay_state(data);
    up_close(&u);

    /* The same source, a fresh relay on a disk that never filled. */
    char path[192];
    snprintf(path, sizeof path, "%s/ref", dir);
    up_open(&u);
    relay_state_t want = undisturbed(&u, path);
    up_close(&u);
    assert_same_output(got, want);
}

Test(faults, a_service_stopped_while_waiting_for_space_exits_1_naming_it_and_restarts)
{
    up_t u = {0};
    char data[192];
    relay_into_a_full_disk(&u, data, sizeof data);
    cr_assert_eq(kill(child, SIGTERM), 0);
    cr_assert_eq(wait_relay(), 1, "the relay stopped while its commit failed: exit status");
    char want[400];
    snprintf(want, sizeof want, "relay: store %s/relay: disk full (", data);
    cr_assert(relay_said(want) && relay_said(") while committing\n"),
              "no line \"%s...) while committing\"", want);
    dn_health_t h = relay_health();
    cr_assert(h.state == DN_HEALTH_FAILED && strstr(h.detail, "disk full"), "heartbeat %s: %s",
              dn_health_state_name(h.state), h.detail);
    relay_state(data); /* consistent */
    free_disk();
    start_relay(data);
    up_append(&u, N_RUNS);
    uint64_t n = N_RUNS;
    if (!up_serve(&u, 30000, relayed_all, &n)) {
        show_output();
        cr_assert_fail("the restarted relay did not relay all %d runs", N_RUNS);
    }
    up_serve(&u, 300, NULL, NULL);
    cr_assert_eq(kill(child, SIGTERM), 0);
    cr_assert_eq(wait_relay(), 0);
    relay_state_t got = relay_state(data);
    up_close(&u);
    char path[192];
    snprintf(path, sizeof path, "%s/ref", dir);
    up_open(&u);
    relay_state_t want_state = undisturbed(&u, path);
    up_close(&u);
    assert_same_output(got, want_state);
}

Test(faults, a_damaged_store_at_start_is_refused_by_name_with_exit_status_1)
{
    up_t u = {0};
    char data[160], path[192];
    snprintf(data, sizeof data, "%s/data", dir);
    up_open(&u);
    relay_state_t good = undisturbed(&u, data);
    up_close(&u);
    cr_assert_eq(good.relayed, N_RUNS);
    snprintf(path, sizeof path, "%s/relay/data.mdb", data);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(truncate(path, st.st_size / 2), 0);
    start_relay(data);
    cr_assert_eq(wait_relay(), 1);
    char want[400];
    snprintf(want, sizeof want, "relay: store %s/relay: data.mdb: truncated: %lld bytes, its "
             "last commit", data, (long long)(st.st_size / 2));
    if (!relay_said(want))
        show_output();
    cr_assert(relay_said(want), "no line \"%s\"", want);
    dn_health_t h = relay_health();
    cr_assert(h.state == DN_HEALTH_FAILED && strstr(h.detail, "data.mdb: truncated"),
              "heartbeat %s: %s", dn_health_state_name(h.state), h.detail);
}
