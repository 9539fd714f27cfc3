/* shell.h: running shell commands from the suites and benchmarks that drive
 * a cluster through scripts/cluster.sh (test_pipeline, test_feed,
 * test_dashboard, bench_pipeline, bench_dashboard). Header-only, like
 * csvread.h. */
#ifndef DN_TESTS_SHELL_H
#define DN_TESTS_SHELL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

/* Runs the printf-formatted command with /bin/sh; its exit status, or -1 when
 * it could not be run. */
static inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/* setenv with an integer value. */
static inline void setenv_int(const char *name, long v)
{
    char b[32];
    snprintf(b, sizeof b, "%ld", v);
    setenv(name, b, 1);
}

#endif
