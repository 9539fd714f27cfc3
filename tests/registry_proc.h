/* registry_proc.h: a registry service (build/services/registry) run as a real
 * process for a test, and a client of it.
 *
 *     dn_test_registry_t r;
 *     dn_test_registry_start(&r, dir);        // data in dir/registry, ipc endpoints in dir
 *     dn_test_registry_connect(&r, "me", 0);  // r.ctx, r.dealer, r.client
 *     ... dn_registry_lease_store(r.client) ...
 *     dn_test_registry_stop(&r, SIGTERM);     // also closes the client
 *
 * The binary is looked up under $DINAMO_BUILD (default build). Start waits
 * until the registry answers a PING (at most 20 s), so a test never races its
 * start. Connect after any fork: a ZeroMQ context does not survive one. */
#ifndef DN_TEST_REGISTRY_PROC_H
#define DN_TEST_REGISTRY_PROC_H

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "registry.h"

typedef struct dn_test_registry_t {
    pid_t pid;
    char requests[256];      /* "ipc://DIR/registry.req" */
    char weights[256];       /* "ipc://DIR/registry.pub": bind a SUB there to see publications */
    char data_dir[256];
    void *ctx;
    dn_sock_t *dealer;
    dn_registry_t *client;
} dn_test_registry_t;

/* Starts the registry process with its data in dir (its store: dir/registry). */
static inline void dn_test_registry_spawn(dn_test_registry_t *r, const char *dir)
{
    const char *build = getenv("DINAMO_BUILD") ? getenv("DINAMO_BUILD") : "build";
    char bin[512], req[300], pub[300];
    snprintf(bin, sizeof bin, "%s/services/registry", build);
    snprintf(r->requests, sizeof r->requests, "ipc://%s/registry.req", dir);
    snprintf(r->weights, sizeof r->weights, "ipc://%s/registry.pub", dir);
    snprintf(r->data_dir, sizeof r->data_dir, "%s", dir);
    snprintf(req, sizeof req, "bind:%s", r->requests);
    snprintf(pub, sizeof pub, "connect:%s", r->weights);
    r->pid = fork();
    cr_assert_neq(r->pid, -1, "fork: %s", strerror(errno));
    if (r->pid == 0) {
        char log[300];
        snprintf(log, sizeof log, "%s/registry.log", dir);
        if (!freopen(log, "a", stderr) || !freopen(log, "a", stdout))
            _exit(126);
        /* These suites test the registry's protocol; its security is
         * test_pipeline's (a cluster started with keys). */
        execl(bin, "registry", "--data-dir", dir, "--requests", req, "--weights", pub,
              "--tick-ms", "100", "--log-level", "debug", "--security", "off", (char *)NULL);
        _exit(127);
    }
}

/* A client named name on a new context; timeout_ms 0: the default. */
static inline void dn_test_registry_connect(dn_test_registry_t *r, const char *name,
                                            int timeout_ms)
{
    dn_err_t err = {0};
    char ep[300];
    snprintf(ep, sizeof ep, "connect:%s", r->requests);
    r->ctx = zmq_ctx_new();
    cr_assert_not_null(r->ctx);
    r->dealer = dn_sock_new(r->ctx, ZMQ_DEALER, ep, NULL, &err);
    cr_assert_not_null(r->dealer, "%s", err.msg);
    dn_registry_opts_t o = {.retry_ms = 200, .timeout_ms = timeout_ms};
    r->client = dn_registry_new(r->dealer, name, &o, &err);
    cr_assert_not_null(r->client, "%s", err.msg);
}

static inline void dn_test_registry_disconnect(dn_test_registry_t *r)
{
    dn_registry_destroy(&r->client);
    dn_sock_destroy(&r->dealer);
    if (r->ctx)
        zmq_ctx_term(r->ctx);
    r->ctx = NULL;
}

/* Spawns, then waits for the first answer to a PING of a passing client. */
static inline void dn_test_registry_start(dn_test_registry_t *r, const char *dir)
{
    memset(r, 0, sizeof *r);
    dn_test_registry_spawn(r, dir);
    dn_test_registry_t probe = *r;
    dn_test_registry_connect(&probe, "probe", 20000);
    dn_err_t err = {0};
    int rc = dn_registry_ping(probe.client, &err);
    dn_test_registry_disconnect(&probe);
    cr_assert_eq(rc, 0, "the registry did not answer: %s (see %s/registry.log)", err.msg, dir);
}

/* Closes the client (if any), signals the registry and waits for it; with
 * SIGTERM its exit status must be 0. */
static inline void dn_test_registry_stop(dn_test_registry_t *r, int sig)
{
    dn_test_registry_disconnect(r);
    if (r->pid <= 0)
        return;
    kill(r->pid, sig);
    int st = 0;
    waitpid(r->pid, &st, 0);
    r->pid = 0;
    if (sig == SIGTERM)
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "registry exit status %d (see %s/"
                  "registry.log)", st, r->data_dir);
}

#endif
