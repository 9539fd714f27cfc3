/* config.h: service configuration from a file, the environment and the
 * command line, in that order of precedence (later wins).
 *
 * A service declares every key it reads (name, type, default, help); nothing
 * else is accepted, so a typo is an error with its location, never a silently
 * ignored setting:
 *     config dinamo.conf:12: unknown key 'endpint' in [scorer_s]
 *
 * The file is INI-like and shared by all services of a deployment:
 *     # comment (also ';'); " #" starts a trailing comment
 *     log_level = info            <- before any section: [common]
 *     [common]
 *     data_dir = /var/lib/dinamo
 *     [scorer_s]                  <- read by the service named scorer_s
 *     runs = connect:tcp://127.0.0.1:5555
 *     tick_ms = 500               <- a common key may be overridden per service
 *     [trainer]                   <- other services' sections are skipped
 * Values may be double-quoted to keep '#' or surrounding spaces. A key may
 * appear once per section.
 *
 * Precedence, lowest first: declared default, file [common], file [service],
 * environment DINAMO_COMMON_<KEY>, environment DINAMO_<SERVICE>_<KEY> (upper
 * case, other characters as '_'), command line `--key value` / `--key=value`
 * (dashes and underscores interchangeable; a bool may stand alone: `--flag`).
 *
 * Common keys every service has (dn_config_new adds them): log_level (string,
 * "info"), data_dir (string, "data"), tick_ms (int, 1000), policy (string, ""; lib/policy.h).
 *
 * Thread rules: a dn_config_t belongs to one thread while loading; afterwards
 * concurrent getters are fine. Strings returned are owned by the config. */
#ifndef DN_CONFIG_H
#define DN_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef enum dn_cfg_type_t {
    DN_CFG_STRING,
    DN_CFG_INT,    /* int64, decimal or 0x hex */
    DN_CFG_DOUBLE, /* finite */
    DN_CFG_BOOL,   /* true/false, yes/no, on/off, 1/0 */
} dn_cfg_type_t;

typedef struct dn_config_key_t {
    const char *name;   /* [a-z0-9_], e.g. "runs_endpoint" */
    dn_cfg_type_t type;
    const char *def;    /* default as text; NULL: required (load fails if unset) */
    const char *help;   /* one line for --help */
} dn_config_key_t;

typedef struct dn_config_t dn_config_t;

/* dn_config_load returns this (positive) when the command line asked for
 * --help: print dn_config_usage() and exit 0. */
#define DN_CONFIG_HELP 1

/* New configuration for `service` (its section name, [a-z0-9_]) with keys[0 ..
 * n_keys) plus the common keys, all at their defaults. Returns NULL with *err
 * set for a bad service or key name, a duplicate key, or a default that does
 * not parse as its type (DN_EINVAL), or DN_ENOMEM. Caller owns the result. */
dn_config_t *dn_config_new(const char *service, const dn_config_key_t *keys, int n_keys,
                           dn_err_t *err);

/* Frees *self_p; accepts NULL; sets *self_p NULL. */
void dn_config_destroy(dn_config_t **self_p);

/* The whole sequence for a service's main(): the file named by --config FILE
 * (or --config=FILE), else by DINAMO_CONFIG, else none; then the environment;
 * then the other command-line arguments (argv[0] skipped); then checks that
 * every required key is set. Returns 0, DN_CONFIG_HELP, or the first error
 * (see the functions below) with *err naming file and line, variable or flag. */
int dn_config_load(dn_config_t *self, int argc, char **argv, dn_err_t *err);

/* Reads an INI file as described above. Returns 0, DN_EIO (cannot read),
 * DN_EFORMAT (syntax, unknown key, repeated key, value not of the key's type:
 * "config dinamo.conf:12: key 'tick_ms': 'abc' is not an integer"). */
int dn_config_load_file(dn_config_t *self, const char *path, dn_err_t *err);

/* Applies DINAMO_COMMON_<KEY> and DINAMO_<SERVICE>_<KEY> variables of the
 * process environment. Returns 0 or DN_EFORMAT ("environment
 * DINAMO_SCORER_S_TICK_MS: 'x' is not an integer"). */
int dn_config_load_env(dn_config_t *self, dn_err_t *err);

/* Applies `--key value` arguments of argv[1 .. argc). `--config FILE` is
 * skipped (dn_config_load handles it). Returns 0, DN_CONFIG_HELP, DN_EFORMAT
 * ("command line: unknown option '--endpint'", missing value, bad value,
 * stray argument). */
int dn_config_load_args(dn_config_t *self, int argc, char **argv, dn_err_t *err);

/* Sets key from text at the highest precedence (tests, programs). Returns 0,
 * DN_ENOTFOUND (undeclared), DN_EFORMAT (not of the key's type). */
int dn_config_set(dn_config_t *self, const char *key, const char *value, dn_err_t *err);

/* Typed getters. The string getter returns the value (NULL when the key is
 * undeclared or required and unset). The others return 0, DN_ENOTFOUND
 * (undeclared or unset), DN_EMISMATCH (declared with another type). */
const char *dn_config_str(const dn_config_t *self, const char *key);
int dn_config_int(const dn_config_t *self, const char *key, int64_t *out);
int dn_config_double(const dn_config_t *self, const char *key, double *out);
int dn_config_bool(const dn_config_t *self, const char *key, int *out);

/* Where the value of key came from: "default", "dinamo.conf:12", "environment
 * DINAMO_X_Y", "command line --x", "set"; NULL when undeclared. */
const char *dn_config_source(const dn_config_t *self, const char *key);

/* The service name given to dn_config_new. */
const char *dn_config_service(const dn_config_t *self);

/* Writes one line per key "  --name VALUE  help (default: d)" to out. */
void dn_config_usage(const dn_config_t *self, FILE *out);

/* Writes the effective configuration, one "name = value  # source" per key. */
void dn_config_dump(const dn_config_t *self, FILE *out);

#endif
