/* cli.h: what the `dinamo` subcommands (every file of tools/) share: argument scanning and
 * the exit-status conventions (0 success, 1 failure, 2 bad usage). */
#ifndef DN_CLI_H
#define DN_CLI_H

#include <stdint.h>

#include "error.h"

typedef struct args_t {
    int argc;
    char **argv;
    int pos;               /* next unread index */
    const char *cmd;
} args_t;

/* Prints "dinamo CMD: <fmt with what> (see 'dinamo CMD --help')"; returns 2. */
int usage_error(const char *cmd, const char *fmt, const char *what);

/* Splits "--name=value" or "--name value". Returns 1 with *name and *value set, 0
 * at the end, -1 on a usage error already reported. Positional arguments come
 * back with *name == NULL. Flags listed in `bool_flags` (space-separated, with
 * --) take no value. */
int next_arg(args_t *a, const char *bool_flags, char **name, const char **value);

/* Option values; each returns 0, or 2 after reporting a usage error. */
int parse_double(const char *cmd, const char *name, const char *v, double *out);
int parse_int(const char *cmd, const char *name, const char *v, long lo, long hi, long *out);

/* Prints "dinamo CMD: <err or code>" and returns 1. */
int fail_with(const char *cmd, const dn_err_t *err, int rc);

/* The subcommands outside dinamo.c. */
int cmd_label(args_t *a);

#endif
