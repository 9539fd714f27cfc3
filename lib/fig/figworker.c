/* figworker.c: a FIFO of figure jobs drawn by one helper process (figworker.h).
 *
 * The helper is started lazily and restarted after it dies or is killed for a
 * timeout; queue[0] is the job in flight when in_flight is set. Answers are
 * read with MSG_DONTWAIT and accumulated until a newline; requests are sent
 * with MSG_NOSIGNAL, so a dead helper is an error code, never SIGPIPE. */
#include "figworker.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "plot.h"

extern char **environ;

#define PATH_MAX_LEN 4000

struct dn_figworker_t {
    char **argv;
    int timeout_ms;
    dn_figworker_done_fn done;
    void *arg;
    char **queue;          /* submission order; queue[0] in flight when in_flight */
    int n, cap;
    int in_flight;
    int64_t sent_ms;
    pid_t pid;             /* helper, or 0 */
    int fd;                /* our end of the socketpair, or -1 */
    char rbuf[4096];
    size_t rlen;
    dn_figworker_stats_t stats;
};

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

dn_figworker_t *dn_figworker_new(char *const argv[], int timeout_ms, dn_figworker_done_fn done,
                                 void *arg, dn_err_t *err)
{
    if (!argv || !argv[0] || argv[0][0] != '/' || timeout_ms < 1) {
        dn_err_set(err, DN_EINVAL, "figure worker: need an absolute program path and a "
                   "timeout >= 1 ms");
        return NULL;
    }
    dn_figworker_t *self = calloc(1, sizeof *self);
    int argc = 0;
    while (argv[argc])
        argc++;
    if (self)
        self->argv = calloc((size_t)argc + 1, sizeof *self->argv);
    for (int i = 0; self && self->argv && i < argc; i++)
        if (!(self->argv[i] = strdup(argv[i]))) {
            for (int j = 0; j < i; j++)
                free(self->argv[j]);
            free(self->argv);
            self->argv = NULL;
        }
    if (!self || !self->argv) {
        free(self);
        dn_err_set(err, DN_ENOMEM, "figure worker: out of memory");
        return NULL;
    }
    self->timeout_ms = timeout_ms;
    self->done = done;
    self->arg = arg;
    self->fd = -1;
    return self;
}

/* Reaps the helper (after it exited or was killed); blocks only briefly. */
static void helper_reap(dn_figworker_t *self, int kill_first)
{
    if (self->fd >= 0)
        close(self->fd);
    self->fd = -1;
    self->rlen = 0;
    if (self->pid <= 0)
        return;
    if (kill_first)
        kill(self->pid, SIGKILL);
    while (waitpid(self->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    self->pid = 0;
}

static int helper_start(dn_figworker_t *self, dn_err_t *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        return dn_err_set(err, DN_EIO, "figure worker: socketpair: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    int e = posix_spawn_file_actions_init(&fa);
    if (!e)
        e = posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    if (!e)
        e = posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
    pid_t pid = 0;
    if (!e)
        e = posix_spawn(&pid, self->argv[0], &fa, NULL, self->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    if (e) {
        close(sv[0]);
        return dn_err_set(err, DN_EIO, "figure worker: cannot start %s: %s", self->argv[0],
                          strerror(e));
    }
    self->pid = pid;
    self->fd = sv[0];
    self->rlen = 0;
    self->stats.helpers_started++;
    return 0;
}

/* Reports queue[0] and removes it. */
static void finish_head(dn_figworker_t *self, int ok, const char *msg)
{
    char *path = self->queue[0];
    if (ok)
        self->stats.drawn++;
    else
        self->stats.failed++;
    if (self->done)
        self->done(path, ok, ok ? "" : msg, self->arg);
    unlink(path);
    free(path);
    memmove(self->queue, self->queue + 1, (size_t)(self->n - 1) * sizeof *self->queue);
    self->n--;
    self->in_flight = 0;
}

int dn_figworker_submit(dn_figworker_t *self, const char *jobfile, dn_err_t *err)
{
    size_t len = jobfile ? strlen(jobfile) : 0;
    if (!len || len > PATH_MAX_LEN || strchr(jobfile, '\n'))
        return dn_err_set(err, DN_EINVAL, "figure worker: bad job file name");
    if (self->n == self->cap) {
        int cap = self->cap ? 2 * self->cap : 64;
        char **q = realloc(self->queue, (size_t)cap * sizeof *q);
        if (!q)
            return dn_err_set(err, DN_ENOMEM, "figure worker: out of memory");
        self->queue = q;
        self->cap = cap;
    }
    if (!(self->queue[self->n] = strdup(jobfile)))
        return dn_err_set(err, DN_ENOMEM, "figure worker: out of memory");
    self->n++;
    return 0;
}

/* Collects the answer to the job in flight, if any. 1 when it is settled
 * (answered, timed out, or the helper died), else 0. */
static int collect(dn_figworker_t *self)
{
    for (;;) {
        char *nl = memchr(self->rbuf, '\n', self->rlen);
        if (nl) {
            *nl = '\0';
            int ok = self->rbuf[0] == '0';
            const char *msg = self->rbuf[0] && self->rbuf[1] ? self->rbuf + 2 : "drawing failed";
            finish_head(self, ok, msg);
            size_t used = (size_t)(nl - self->rbuf) + 1;
            memmove(self->rbuf, nl + 1, self->rlen - used);
            self->rlen -= used;
            return 1;
        }
        if (self->rlen == sizeof self->rbuf) /* an answer too long: keep its start */
            self->rlen = sizeof self->rbuf / 2;
        ssize_t got = recv(self->fd, self->rbuf + self->rlen, sizeof self->rbuf - self->rlen,
                           MSG_DONTWAIT);
        if (got > 0) {
            self->rlen += (size_t)got;
            continue;
        }
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (mono_ms() - self->sent_ms <= self->timeout_ms)
                return 0;
            helper_reap(self, 1);
            self->stats.timed_out++;
            char msg[96];
            snprintf(msg, sizeof msg, "not drawn within %d ms: helper killed", self->timeout_ms);
            finish_head(self, 0, msg);
            return 1;
        }
        helper_reap(self, 1); /* end of file or an error: the helper died */
        finish_head(self, 0, "the drawing helper died");
        return 1;
    }
}

int dn_figworker_poll(dn_figworker_t *self, dn_err_t *err)
{
    for (;;) {
        if (self->in_flight && !collect(self))
            return 0;
        if (self->n == 0)
            return 0;
        if (self->pid <= 0) {
            int rc = helper_start(self, err);
            if (rc) {
                finish_head(self, 0, err->msg);
                return rc;
            }
        }
        char line[PATH_MAX_LEN + 2];
        int len = snprintf(line, sizeof line, "%s\n", self->queue[0]);
        ssize_t sent;
        do
            sent = send(self->fd, line, (size_t)len, MSG_NOSIGNAL);
        while (sent < 0 && errno == EINTR);
        if (sent != len) {
            /* A helper that died while idle: start a fresh one for this job. */
            helper_reap(self, 1);
            continue;
        }
        self->in_flight = 1;
        self->sent_ms = mono_ms();
    }
}

int dn_figworker_pending(const dn_figworker_t *self)
{
    return self->n;
}

dn_figworker_stats_t dn_figworker_stats(const dn_figworker_t *self)
{
    return self->stats;
}

void dn_figworker_destroy(dn_figworker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_figworker_t *self = *self_p;
    if (self->pid > 0) {
        close(self->fd); /* end of input: the helper exits after its job */
        self->fd = -1;
        int gone = 0;
        for (int i = 0; i < 100 && !gone; i++) {
            gone = waitpid(self->pid, NULL, WNOHANG) == self->pid;
            if (!gone) {
                struct timespec ts = {0, 10 * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
        if (gone)
            self->pid = 0;
        helper_reap(self, 1);
    }
    while (self->n)
        finish_head(self, 0, "not drawn: the worker stopped");
    for (int i = 0; self->argv[i]; i++)
        free(self->argv[i]);
    free(self->argv);
    free(self->queue);
    free(self);
    *self_p = NULL;
}

int dn_figworker_main(FILE *in, FILE *out)
{
    char line[PATH_MAX_LEN + 2];
    while (fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = '\0';
        dn_err_t err = {0};
        if (dn_plot_job_run_file(line, &err) == 0) {
            fputs("0\n", out);
        } else {
            for (char *p = err.msg; *p; p++)
                if (*p == '\n')
                    *p = ' ';
            fprintf(out, "1 %s\n", err.msg);
        }
        fflush(out);
    }
    return 0;
}
