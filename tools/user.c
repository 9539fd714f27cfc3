/* user.c: `dinamo user add|list|remove`, the people who may give a verdict
 * from the dashboard (lib/io/users.h).
 *
 * A password is never an argument (it would be in the shell's history and in
 * every process listing): on a terminal it is asked twice without echo; from
 * a pipe it is one line of standard input, and --password-stdin must say so,
 * so a script cannot consume input meant for something else by accident.
 * The terminal's echo is restored on every exit path, Ctrl-C included. */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "users.h"

static const char user_help[] =
    "usage: dinamo user add NAME [--file PATH] [--password-stdin] [--replace]\n"
    "       dinamo user list [--file PATH]\n"
    "       dinamo user remove NAME [--file PATH]\n"
    "\n"
    "The people who may log in to the dashboard to give a verdict on a run, in\n"
    "the users file PATH (default " DN_USERS_FILE_DEFAULT ", or $DINAMO_KEYS_DIR/users; the\n"
    "dashboard's users_file): one line NAME:HASH per user, HASH being libsodium's\n"
    "Argon2id password hash. The file is written with mode 0600 and refused by\n"
    "the dashboard when others may read it.\n"
    "\n"
    "add      asks NAME's password twice on a terminal (not echoed); with\n"
    "         --password-stdin reads it as one line of standard input (a pipe).\n"
    "         At least 8 bytes. An existing NAME is refused unless --replace\n"
    "         (which sets a new password). NAME: 1 to 64 of [A-Za-z0-9._-]; it\n"
    "         is the \"who\" of the labels NAME gives.\n"
    "list     prints the names, one per line.\n"
    "remove   removes NAME (sessions already open stay until they expire or the\n"
    "         dashboard restarts).\n";

/* ---- the password ------------------------------------------------------------- */

static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

static void restore_tty(void)
{
    if (tty_changed) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
        tty_changed = 0;
    }
}

static void on_signal(int sig)
{
    restore_tty();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Reads one line into buf (cap bytes), without its end of line. Returns 0, 1
 * at end of input before any byte, -1 when longer than cap - 2 bytes. */
static int read_line(char *buf, size_t cap)
{
    size_t n = 0;
    int c;
    while ((c = getchar()) != EOF && c != '\n') {
        if (n + 1 >= cap) {
            while ((c = getchar()) != EOF && c != '\n')
                ;
            return -1;
        }
        buf[n++] = (char)c;
    }
    if (c == EOF && n == 0)
        return 1;
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return 0;
}

/* Asks for the password on the terminal without echo. */
static int prompt(const char *what, char *buf, size_t cap)
{
    fprintf(stderr, "%s", what);
    fflush(stderr);
    struct termios t;
    if (tcgetattr(STDIN_FILENO, &saved_tty))
        return -2;
    t = saved_tty;
    t.c_lflag &= ~(tcflag_t)ECHO;
    t.c_lflag |= ECHONL;
    tty_changed = 1;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t)) {
        tty_changed = 0;
        return -2;
    }
    int rc = read_line(buf, cap);
    restore_tty();
    return rc;
}

/* The password into pw (cap bytes). Returns 0, or the exit status after
 * saying what was wrong. */
static int get_password(const char *cmd, const char *name, int from_stdin, char *pw,
                        size_t cap)
{
    int tty = isatty(STDIN_FILENO);
    if (!tty && !from_stdin)
        return usage_error(cmd, "%s", "standard input is not a terminal: give "
                           "--password-stdin to read the password from it");
    int rc;
    if (tty && !from_stdin) {
        char again[DN_USERS_PASSWORD_MAX + 2];
        char ask[128];
        snprintf(ask, sizeof ask, "password for %s: ", name);
        rc = prompt(ask, pw, cap);
        if (rc == 0 && strlen(pw) >= DN_USERS_PASSWORD_MIN)
            rc = prompt("again: ", again, sizeof again);
        if (rc == 0 && strlen(pw) >= DN_USERS_PASSWORD_MIN && strcmp(pw, again)) {
            sodium_memzero(again, sizeof again);
            fprintf(stderr, "dinamo %s: the two passwords differ; nothing changed\n", cmd);
            return 1;
        }
        sodium_memzero(again, sizeof again);
    } else {
        rc = read_line(pw, cap);
    }
    if (rc == -2) {
        fprintf(stderr, "dinamo %s: cannot turn the terminal's echo off: %s\n", cmd,
                strerror(errno));
        return 1;
    }
    if (rc == 1) {
        fprintf(stderr, "dinamo %s: no password (end of input)\n", cmd);
        return 1;
    }
    if (rc == -1) {
        fprintf(stderr, "dinamo %s: password longer than %d bytes\n", cmd,
                DN_USERS_PASSWORD_MAX);
        return 1;
    }
    if (strlen(pw) < DN_USERS_PASSWORD_MIN) {
        fprintf(stderr, "dinamo %s: password of %zu bytes: want at least %d\n", cmd, strlen(pw),
                DN_USERS_PASSWORD_MIN);
        return 1;
    }
    return 0;
}

/* ---- commands ----------------------------------------------------------------- */

static int user_add(const char *cmd, const char *file, const char *name, int from_stdin,
                    int replace)
{
    if (!dn_users_name_ok(name))
        return usage_error(cmd, "user name '%s': want 1 to 64 of [A-Za-z0-9._-]", name);
    char pw[DN_USERS_PASSWORD_MAX + 2];
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int status = get_password(cmd, name, from_stdin, pw, sizeof pw);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (status == 0) {
        dn_err_t err = {0};
        int rc = dn_users_add(file, name, pw, replace, &err);
        status = rc ? fail_with(cmd, &err, rc) : 0;
        if (!rc)
            fprintf(stderr, "dinamo %s: %s %s in %s\n", cmd, replace ? "set" : "added", name,
                    file);
    }
    sodium_memzero(pw, sizeof pw);
    return status;
}

static int user_list(const char *cmd, const char *file)
{
    dn_err_t err = {0};
    dn_users_t *u = dn_users_load(file, &err);
    if (!u)
        return fail_with(cmd, &err, err.code);
    for (int i = 0; i < dn_users_count(u); i++)
        puts(dn_users_name(u, i));
    dn_users_destroy(&u);
    return 0;
}

int cmd_user(args_t *a)
{
    static char default_file[4096];
    const char *dir = getenv("DINAMO_KEYS_DIR");
    const char *file = DN_USERS_FILE_DEFAULT, *what = NULL, *name = NULL;
    if (dir && dir[0]) {
        snprintf(default_file, sizeof default_file, "%s/users", dir);
        file = default_file;
    }
    int from_stdin = 0, replace = 0;
    char *opt;
    const char *v;
    int r;
    while ((r = next_arg(a, "--help --password-stdin --replace", &opt, &v)) > 0) {
        if (!opt) {
            if (!what)
                what = v;
            else if (!name)
                name = v;
            else
                return usage_error(a->cmd, "unexpected argument '%s'", v);
        } else if (!strcmp(opt, "--help")) {
            fputs(user_help, stdout);
            return 0;
        } else if (!strcmp(opt, "--file")) {
            file = v;
        } else if (!strcmp(opt, "--password-stdin")) {
            from_stdin = 1;
        } else if (!strcmp(opt, "--replace")) {
            replace = 1;
        } else {
            return usage_error(a->cmd, "unknown option %s", opt);
        }
    }
    if (r < 0)
        return 2;
    if (!what)
        return usage_error(a->cmd, "%s", "say add, list or remove");
    if (!file[0])
        return usage_error(a->cmd, "%s", "--file is empty");
    int is_add = !strcmp(what, "add"), is_list = !strcmp(what, "list"),
        is_remove = !strcmp(what, "remove");
    if (!is_add && !is_list && !is_remove)
        return usage_error(a->cmd, "unknown action '%s': want add, list or remove", what);
    if (is_list ? name != NULL : name == NULL)
        return usage_error(a->cmd, "%s", is_list ? "list takes no NAME" : "give the user's NAME");
    if (!is_add && (from_stdin || replace))
        return usage_error(a->cmd, "%s", "--password-stdin and --replace go with add");
    if (is_list)
        return user_list(a->cmd, file);
    if (is_add)
        return user_add(a->cmd, file, name, from_stdin, replace);
    dn_err_t err = {0};
    int rc = dn_users_remove(file, name, &err);
    if (rc)
        return fail_with(a->cmd, &err, rc);
    fprintf(stderr, "dinamo %s: removed %s from %s\n", a->cmd, name, file);
    return 0;
}
