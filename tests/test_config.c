/* test_config.c: configuration from file, environment and command line
 * (lib/config.h), and the log records whose level it sets (lib/log.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static const dn_config_key_t keys[] = {
    {"runs", DN_CFG_STRING, NULL, "endpoint of the runs (required)"},
    {"endpoint", DN_CFG_STRING, "bind:tcp://127.0.0.1:5556", "score output"},
    {"alpha", DN_CFG_DOUBLE, "0.7", "EWMA factor"},
    {"shard", DN_CFG_INT, "0", "shard index"},
    {"lockstep", DN_CFG_BOOL, "false", "ordering mode"},
};
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

static char path[64];

static void write_conf(const char *text)
{
    strcpy(path, "/tmp/dn_conf_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void cleanup(void)
{
    if (path[0])
        unlink(path);
    unsetenv("DINAMO_SCORER_S_SHARD");
    unsetenv("DINAMO_COMMON_SHARD");
    unsetenv("DINAMO_COMMON_TICK_MS");
    unsetenv("DINAMO_CONFIG");
    unsetenv("DINAMO_LOG_LEVEL");
}

TestSuite(config, .fini = cleanup);

static dn_config_t *make(void)
{
    dn_err_t err = {0};
    dn_config_t *c = dn_config_new("scorer_s", keys, N_KEYS, &err);
    cr_assert_not_null(c, "%s", err.msg);
    return c;
}

static void expect_file_error(const char *text, const char *want)
{
    write_conf(text);
    dn_config_t *c = make();
    dn_err_t err = {0};
    cr_assert_eq(dn_config_load_file(c, path, &err), DN_EFORMAT, "accepted: %s", text);
    char full[256];
    snprintf(full, sizeof full, "config %s:%s", path, want);
    cr_assert(strstr(err.msg, full), "message '%s' lacks '%s'", err.msg, full);
    dn_config_destroy(&c);
    unlink(path);
}

Test(config, defaults_and_types)
{
    dn_config_t *c = make();
    cr_assert_str_eq(dn_config_str(c, "endpoint"), "bind:tcp://127.0.0.1:5556");
    cr_assert_null(dn_config_str(c, "runs"));
    cr_assert_null(dn_config_str(c, "nope"));
    double a;
    int64_t i;
    int b;
    cr_assert_eq(dn_config_double(c, "alpha", &a), 0);
    cr_assert_eq(a, 0.7);
    cr_assert_eq(dn_config_int(c, "shard", &i), 0);
    cr_assert_eq(i, 0);
    cr_assert_eq(dn_config_bool(c, "lockstep", &b), 0);
    cr_assert_eq(b, 0);
    cr_assert_eq(dn_config_int(c, "tick_ms", &i), 0); /* common key */
    cr_assert_eq(i, 1000);
    cr_assert_str_eq(dn_config_str(c, "log_level"), "info");
    cr_assert_eq(dn_config_int(c, "alpha", &i), DN_EMISMATCH);
    cr_assert_eq(dn_config_int(c, "runs", &i), DN_ENOTFOUND);
    cr_assert_eq(dn_config_int(c, "nope", &i), DN_ENOTFOUND);
    cr_assert_str_eq(dn_config_source(c, "alpha"), "default");
    cr_assert_str_eq(dn_config_service(c), "scorer_s");
    dn_config_destroy(&c);
    cr_assert_null(c);
}

Test(config, bad_declarations)
{
    dn_err_t err = {0};
    dn_config_key_t bad_default[] = {{"n", DN_CFG_INT, "ten", ""}};
    cr_assert_null(dn_config_new("svc", bad_default, 1, &err));
    cr_assert(strstr(err.msg, "'ten' is not an integer"), "%s", err.msg);
    dn_config_key_t dup[] = {{"tick_ms", DN_CFG_INT, "1", ""}};
    cr_assert_null(dn_config_new("svc", dup, 1, &err));
    cr_assert(strstr(err.msg, "declared twice"), "%s", err.msg);
    dn_config_key_t upper[] = {{"Bad", DN_CFG_INT, "1", ""}};
    cr_assert_null(dn_config_new("svc", upper, 1, &err));
    cr_assert_null(dn_config_new("Scorer", NULL, 0, &err));
    cr_assert_null(dn_config_new("common", NULL, 0, &err));
}

Test(config, file_sections_and_precedence)
{
    write_conf("# shared deployment file\r\n"
               "tick_ms = 250   # top of file is [common]\n"
               "\n"
               "[scorer_s]\n"
               "runs = connect:tcp://127.0.0.1:5555\n"
               "shard=3\n"
               "alpha = 8.5e-1 ; not a comment start\n"
               "[trainer]\n"
               "anything = goes here   \n"
               "[common]\n"
               "shard = 1\n"
               "log_level = debug\n"
               "  ; indented comment\n"
               "endpoint = \"bind:tcp://127.0.0.1:7777 # kept\"\n"
               "[ scorer_s ]\n"
               "lockstep = yes\n");
    dn_config_t *c = make();
    dn_err_t err = {0};
    cr_assert_eq(dn_config_load_file(c, path, &err), DN_EFORMAT,
                 "'8.5e-1 ; not a comment start' must not parse as a double");
    dn_config_destroy(&c);
    unlink(path);

    write_conf("# shared deployment file\r\n"
               "tick_ms = 250   # top of file is [common]\n"
               "\n"
               "[scorer_s]\n"
               "runs = connect:tcp://127.0.0.1:5555\n"
               "shard=3\n"
               "alpha = 8.5e-1\n"
               "[trainer]\n"
               "anything = goes here   \n"
               "[common]\n"
               "shard = 1\n"
               "log_level = debug\n"
               "  ; indented comment\n"
               "endpoint = \"bind:tcp://127.0.0.1:7777 # kept\"\n"
               "[ scorer_s ]\n"
               "lockstep = yes\n");
    c = make();
    cr_assert_eq(dn_config_load_file(c, path, &err), 0, "%s", err.msg);
    int64_t i;
    double a;
    int b;
    cr_assert_eq(dn_config_int(c, "tick_ms", &i), 0);
    cr_assert_eq(i, 250);
    cr_assert_str_eq(dn_config_str(c, "runs"), "connect:tcp://127.0.0.1:5555");
    /* the service section beats [common] even when [common] comes later */
    cr_assert_eq(dn_config_int(c, "shard", &i), 0);
    cr_assert_eq(i, 3);
    char want[96];
    snprintf(want, sizeof want, "%s:6", path);
    cr_assert_str_eq(dn_config_source(c, "shard"), want);
    cr_assert_eq(dn_config_double(c, "alpha", &a), 0);
    cr_assert_eq(a, 0.85);
    cr_assert_str_eq(dn_config_str(c, "endpoint"), "bind:tcp://127.0.0.1:7777 # kept");
    cr_assert_str_eq(dn_config_str(c, "log_level"), "debug");
    cr_assert_eq(dn_config_bool(c, "lockstep", &b), 0);
    cr_assert_eq(b, 1);

    /* environment beats the file; the service variable beats the common one */
    setenv("DINAMO_COMMON_SHARD", "5", 1);
    cr_assert_eq(dn_config_load_env(c, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_config_int(c, "shard", &i), 0);
    cr_assert_eq(i, 5);
    setenv("DINAMO_SCORER_S_SHARD", "0x10", 1);
    cr_assert_eq(dn_config_load_env(c, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_config_int(c, "shard", &i), 0);
    cr_assert_eq(i, 16);
    cr_assert_str_eq(dn_config_source(c, "shard"), "environment DINAMO_SCORER_S_SHARD");

    /* command line beats everything; dashes work; bools stand alone */
    char *argv[] = {"scorer_s", "--shard", "7", "--tick-ms=40", "--lockstep", "--alpha", "-0.5",
                    NULL};
    cr_assert_eq(dn_config_load_args(c, 7, argv, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_config_int(c, "shard", &i), 0);
    cr_assert_eq(i, 7);
    cr_assert_eq(dn_config_int(c, "tick_ms", &i), 0);
    cr_assert_eq(i, 40);
    cr_assert_eq(dn_config_double(c, "alpha", &a), 0);
    cr_assert_eq(a, -0.5);
    cr_assert_str_eq(dn_config_source(c, "tick_ms"), "command line --tick-ms");
    /* a lower-precedence source loaded later does not override */
    cr_assert_eq(dn_config_load_env(c, &err), 0);
    cr_assert_eq(dn_config_int(c, "shard", &i), 0);
    cr_assert_eq(i, 7);
    dn_config_destroy(&c);
}

Test(config, file_errors_name_file_and_line)
{
    expect_file_error("[scorer_s]\nruns = x\n\nendpint = bind:tcp://127.0.0.1:1\n",
                      "4: unknown key 'endpint' in [scorer_s]");
    expect_file_error("bogus = 1\n", "1: unknown key 'bogus' in [common]");
    expect_file_error("[scorer_s]\nshard = 1\nshard = 2\n", "3: key 'shard' already set on line 2");
    expect_file_error("[scorer_s]\nshard = many\n", "2: key 'shard': 'many' is not an integer");
    expect_file_error("[scorer_s]\nshard = 99999999999999999999\n",
                      "2: key 'shard': '99999999999999999999' is not an integer (out of range)");
    expect_file_error("[scorer_s]\nalpha = nan\n", "2: key 'alpha': 'nan' is not a finite number");
    expect_file_error("[scorer_s]\nlockstep = maybe\n", "2: key 'lockstep': 'maybe' is not a boolean");
    expect_file_error("[scorer_s\n", "1: malformed section header");
    expect_file_error("just words\n", "1: expected 'key = value'");
    expect_file_error(" = 3\n", "1: empty key");
    expect_file_error("endpoint = \"open\n", "1: key 'endpoint': unterminated quote");
    /* other services' sections are not checked */
    write_conf("[trainer]\nendpint = 1\n");
    dn_config_t *c = make();
    dn_err_t err = {0};
    cr_assert_eq(dn_config_load_file(c, path, &err), 0, "%s", err.msg);
    dn_config_destroy(&c);
    c = make();
    cr_assert_eq(dn_config_load_file(c, "/nonexistent/dinamo.conf", &err), DN_EIO);
    cr_assert(strstr(err.msg, "/nonexistent/dinamo.conf"), "%s", err.msg);
    dn_config_destroy(&c);
}

Test(config, env_and_args_errors)
{
    dn_config_t *c = make();
    dn_err_t err = {0};
    setenv("DINAMO_COMMON_TICK_MS", "soon", 1);
    cr_assert_eq(dn_config_load_env(c, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "environment DINAMO_COMMON_TICK_MS: key 'tick_ms': 'soon' is not an "
                              "integer"), "%s", err.msg);
    unsetenv("DINAMO_COMMON_TICK_MS");
    char *a1[] = {"x", "--endpint", "y"};
    cr_assert_eq(dn_config_load_args(c, 3, a1, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "command line: unknown option '--endpint'"), "%s", err.msg);
    char *a2[] = {"x", "--shard"};
    cr_assert_eq(dn_config_load_args(c, 2, a2, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "needs a value"), "%s", err.msg);
    char *a3[] = {"x", "stray"};
    cr_assert_eq(dn_config_load_args(c, 2, a3, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "stray argument 'stray'"), "%s", err.msg);
    char *a4[] = {"x", "--shard=1.5"};
    cr_assert_eq(dn_config_load_args(c, 2, a4, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "command line --shard: key 'shard': '1.5' is not an integer"), "%s",
              err.msg);
    char *a5[] = {"x", "--help"};
    cr_assert_eq(dn_config_load_args(c, 2, a5, &err), DN_CONFIG_HELP);
    cr_assert_eq(dn_config_set(c, "nope", "1", &err), DN_ENOTFOUND);
    cr_assert_eq(dn_config_set(c, "shard", "x", &err), DN_EFORMAT);
    cr_assert_eq(dn_config_set(c, "shard", "12", &err), 0);
    int64_t i;
    cr_assert_eq(dn_config_int(c, "shard", &i), 0);
    cr_assert_eq(i, 12);
    dn_config_destroy(&c);
}

Test(config, load_sequence_and_required_keys)
{
    write_conf("[scorer_s]\nruns = connect:ipc:///tmp/runs\nshard = 2\n");
    dn_err_t err = {0};
    dn_config_t *c = make();
    char *argv[] = {"scorer_s", "--config", path, "--shard", "4", NULL};
    cr_assert_eq(dn_config_load(c, 5, argv, &err), 0, "%s", err.msg);
    int64_t i;
    cr_assert_eq(dn_config_int(c, "shard", &i), 0);
    cr_assert_eq(i, 4);
    cr_assert_str_eq(dn_config_str(c, "runs"), "connect:ipc:///tmp/runs");
    dn_config_destroy(&c);

    /* DINAMO_CONFIG names the file when --config is absent */
    setenv("DINAMO_CONFIG", path, 1);
    c = make();
    char *argv2[] = {"scorer_s", NULL};
    cr_assert_eq(dn_config_load(c, 1, argv2, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_config_int(c, "shard", &i), 0);
    cr_assert_eq(i, 2);
    dn_config_destroy(&c);
    unsetenv("DINAMO_CONFIG");

    c = make();
    cr_assert_eq(dn_config_load(c, 1, argv2, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "required key 'runs' is not set") &&
                  strstr(err.msg, "DINAMO_SCORER_S_RUNS") && strstr(err.msg, "--runs"),
              "%s", err.msg);
    char *argv3[] = {"scorer_s", "--shard", "x", "--help", NULL};
    cr_assert_eq(dn_config_load(c, 4, argv3, &err), DN_CONFIG_HELP);
    char buf[4096] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    dn_config_usage(c, f);
    dn_config_dump(c, f);
    fclose(f);
    cr_assert(strstr(buf, "--runs") && strstr(buf, "required") && strstr(buf, "--tick-ms") &&
                  strstr(buf, "default: 0.7"), "%s", buf);
    cr_assert(strstr(buf, "alpha = 0.7  # default"), "%s", buf);
    dn_config_destroy(&c);
}

/* ---- log --------------------------------------------------------------- */

static char *capture(void (*body)(void))
{
    char tmpl[] = "/tmp/dn_log_XXXXXX";
    int fd = mkstemp(tmpl);
    cr_assert_geq(fd, 0);
    unlink(tmpl);
    dn_log_set_fd(fd);
    body();
    dn_log_set_fd(2);
    off_t n = lseek(fd, 0, SEEK_END);
    char *out = calloc((size_t)n + 1, 1);
    cr_assert_eq(pread(fd, out, (size_t)n, 0), n);
    close(fd);
    return out;
}

static void log_some(void)
{
    dn_log(DN_LOG_DEBUG, "hidden %d", 1);
    dn_log(DN_LOG_INFO, "run %d scored", 17);
    dn_log(DN_LOG_ERROR, "store: %s", "MDB_MAP_FULL");
}

Test(config, log_records_and_levels)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_log_init("scorer_s", "info", &err), 0);
    char *out = capture(log_some);
    cr_assert_null(strstr(out, "hidden"), "%s", out);
    char pid[64];
    snprintf(pid, sizeof pid, "scorer_s[%ld] INFO run 17 scored\n", (long)getpid());
    cr_assert(strstr(out, pid), "%s", out);
    cr_assert(strstr(out, "ERROR store: MDB_MAP_FULL\n"), "%s", out);
    /* 2025-11-22T21:12:03.123Z: ISO 8601 UTC with milliseconds */
    int y, mo, d, h, mi, s, ms;
    char z;
    cr_assert_eq(sscanf(out, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z),
                 8, "%s", out);
    cr_assert(y >= 2024 && mo >= 1 && mo <= 12 && z == 'Z', "%s", out);
    free(out);

    /* DINAMO_LOG_LEVEL beats the configured level */
    setenv("DINAMO_LOG_LEVEL", "DEBUG", 1);
    cr_assert_eq(dn_log_init("scorer_s", "error", &err), 0);
    cr_assert_eq(dn_log_get_level(), DN_LOG_DEBUG);
    out = capture(log_some);
    cr_assert(strstr(out, "DEBUG hidden 1"), "%s", out);
    free(out);
    unsetenv("DINAMO_LOG_LEVEL");
    cr_assert_eq(dn_log_init(NULL, "off", &err), 0);
    out = capture(log_some);
    cr_assert_str_eq(out, "");
    free(out);
    dn_log_level_t lv;
    cr_assert_eq(dn_log_level_parse("Warning", &lv, &err), 0);
    cr_assert_eq(lv, DN_LOG_WARN);
    cr_assert_eq(dn_log_init(NULL, "loud", &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "log level 'loud'"), "%s", err.msg);
    cr_assert_eq(dn_log_get_level(), DN_LOG_OFF, "a bad name must keep the level");
    dn_log_set_level(DN_LOG_INFO);
}

static void log_long(void)
{
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    dn_log(DN_LOG_WARN, "%s", big);
}

Test(config, log_long_record_is_one_cut_line)
{
    dn_log_set_level(DN_LOG_INFO);
    char *out = capture(log_long);
    size_t n = strlen(out);
    cr_assert_leq(n, DN_LOG_LINE_MAX, "record of %zu bytes", n);
    cr_assert_eq(out[n - 1], '\n');
    cr_assert_eq(strchr(out, '\n'), out + n - 1, "more than one line: %s", out);
    free(out);
}

/* ---- the evaluator's keys of the reference's options (issue 22) ---------------- */

/* Runs the evaluator binary ($DINAMO_BUILD/services/evaluator, default
 * build/...) with args, stdout and stderr into *out; returns its exit status. */
static int run_evaluator(const char *args, char *out, size_t len)
{
    const char *b = getenv("DINAMO_BUILD");
    char bin[512], cmd[2048], dir[] = "/tmp/dn_ev_conf_XXXXXX";
    snprintf(bin, sizeof bin, "%s/services/evaluator", b && *b ? b : "build");
    cr_assert_eq(access(bin, X_OK), 0, "no service binary %s (set DINAMO_BUILD)", bin);
    cr_assert(mkdtemp(dir));
    /* ipc endpoints of its own: the defaults are ports another cluster may hold */
    snprintf(cmd, sizeof cmd, "timeout 20 '%s' --security off --data-dir %s/data "
             "--thresholds bind:ipc://%s/th --thresholds-requests bind:ipc://%s/thr %s "
             ">%s/out 2>&1", bin, dir, dir, dir, args, dir);
    int st = system(cmd);
    char p[600];
    snprintf(p, sizeof p, "%s/out", dir);
    FILE *f = fopen(p, "r");
    size_t n = f ? fread(out, 1, len - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(config, evaluator_reference_keys_defaults_and_bad_values)
{
    char out[32768];
    cr_assert_eq(run_evaluator("--help", out, sizeof out), 0, "%s", out);
    const char *defaults[][2] = {{"--ba-weight", "(default: 1)"},
                                 {"--n-metrics-bootstrap-trials", "(default: 100)"},
                                 {"--adaptivity-patience", "(default: 1)"},
                                 {"--t-opt", "(default: true)"},
                                 {"--threshold-default", "(default: 1.0)"}};
    for (size_t k = 0; k < sizeof defaults / sizeof *defaults; k++) {
        const char *p = strstr(out, defaults[k][0]);
        cr_assert(p, "--help lacks %s", defaults[k][0]);
        const char *eol = strchr(p, '\n');
        const char *d = strstr(p, defaults[k][1]);
        cr_assert(d && (!eol || d < eol), "%s: default is not %s", defaults[k][0],
                  defaults[k][1]);
    }
    const char *bad[][2] = {{"--ba-weight -1", "ba_weight = -1"},
                            {"--ba-weight inf", "ba_weight"},
                            {"--n-metrics-bootstrap-trials 0", "n_metrics_bootstrap_trials = 0"},
                            {"--adaptivity-patience 0", "adaptivity_patience = 0"},
                            {"--t-opt maybe", "'t_opt': 'maybe' is not a boolean"},
                            {"--threshold-default nan", "'threshold_default': 'nan'"}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        int st = run_evaluator(bad[k][0], out, sizeof out);
        cr_assert(st != 0 && st != 124, "%s: exit %d", bad[k][0], st);
        cr_assert(strstr(out, bad[k][1]), "%s: output lacks '%s': %s", bad[k][0], bad[k][1],
                  out);
    }
}

/* ---- scorer_s's keys of the reference's alpha options (issue 22) ---------------- */

/* Runs the scorer_s binary with args on ipc endpoints of its own, stdout and
 * stderr into *out; returns its exit status. */
static int run_scorer_s(const char *args, char *out, size_t len)
{
    const char *b = getenv("DINAMO_BUILD");
    char bin[512], cmd[2048], dir[] = "/tmp/dn_ss_conf_XXXXXX";
    snprintf(bin, sizeof bin, "%s/services/scorer_s", b && *b ? b : "build");
    cr_assert_eq(access(bin, X_OK), 0, "no service binary %s (set DINAMO_BUILD)", bin);
    cr_assert(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "timeout 20 '%s' --security off --data-dir %s/data "
             "--events connect:ipc://%s/ev --events-requests connect:ipc://%s/evr "
             "--scores bind:ipc://%s/sc --scores-requests bind:ipc://%s/scr %s >%s/out 2>&1",
             bin, dir, dir, dir, dir, dir, args, dir);
    int st = system(cmd);
    char p[600];
    snprintf(p, sizeof p, "%s/out", dir);
    FILE *f = fopen(p, "r");
    size_t n = f ? fread(out, 1, len - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The reference's defaults (configs.py), the same as `dinamo score`'s and the
 * evaluator's; a bad value stops the start with a message naming the key. */
Test(config, scorer_s_reference_keys_defaults_and_bad_values)
{
    char out[32768];
    cr_assert_eq(run_scorer_s("--help", out, sizeof out), 0, "%s", out);
    const char *defaults[][2] = {{"--metric-mode", "(default: auc)"},
                                 {"--ba-weight", "(default: 1)"},
                                 {"--n-metrics-bootstrap-trials", "(default: 100)"},
                                 {"--boot-seed", "(default: 0)"},
                                 {"--alpha-opt", "(default: true)"},
                                 {"--alpha-default", "(default: 0.5)"},
                                 {"--alpha ", "(default: -1)"}};
    for (size_t k = 0; k < sizeof defaults / sizeof *defaults; k++) {
        const char *p = strstr(out, defaults[k][0]);
        cr_assert(p, "--help lacks %s", defaults[k][0]);
        const char *eol = strchr(p, '\n');
        const char *d = strstr(p, defaults[k][1]);
        cr_assert(d && (!eol || d < eol), "%s: default is not %s", defaults[k][0],
                  defaults[k][1]);
    }
    const char *bad[][2] = {{"--metric-mode roc", "metric_mode = roc"},
                            {"--ba-weight -1", "ba_weight = -1"},
                            {"--ba-weight inf", "ba_weight"},
                            {"--n-metrics-bootstrap-trials 0", "n_metrics_bootstrap_trials = 0"},
                            {"--boot-seed x", "'boot_seed': 'x'"},
                            {"--alpha-opt maybe", "'alpha_opt': 'maybe' is not a boolean"},
                            {"--alpha-default 1", "alpha_default = 1"},
                            {"--alpha-default -0.1", "alpha_default = -0.1"}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        int st = run_scorer_s(bad[k][0], out, sizeof out);
        cr_assert(st != 0 && st != 124, "%s: exit %d", bad[k][0], st);
        cr_assert(strstr(out, bad[k][1]), "%s: output lacks '%s': %s", bad[k][0], bad[k][1],
                  out);
    }
}
