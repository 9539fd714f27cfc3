/* progress.c: `dinamo progress`, how far a running cluster got, from its
 * services' heartbeats (lib/io/health.h; summed up by progress_model.c).
 * On a terminal one line rewritten in place every interval (\r, erase to the
 * end of the line, cut to the terminal's width so it never wraps); else one
 * plain line every interval (default 30 s), so a CI log stays readable. It
 * looks at the heartbeats every second whatever the interval, so the rate is
 * always over the last 10 s. It ends on SIGTERM, SIGINT or SIGHUP (a last
 * line, ended), or by itself once every heartbeat it saw says stopped or
 * failed. Like `dinamo health` it reads small files only: main dispatches it
 * before the BLAS set-up. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "progress.h"

static const char progress_help[] =
    "usage: dinamo progress --dir RUNDIR [--total N] [--interval S] [--once]\n"
    "\n"
    "Shows how far a running cluster got, from the heartbeats its services\n"
    "replace at every tick (RUNDIR/data/NAME/health for a scripts/cluster.sh\n"
    "RUNDIR, else RUNDIR/NAME/health: a data_dir): runs published by the\n"
    "generator (or feed), scored by scorer_s, scored by scorer_ml, trained\n"
    "through by the slowest trainer, out of the total (the generator's, or\n"
    "--total N); the time left (each stage's rate over the last 10 s: the stage\n"
    "with the most time left at its own rate, whose rate is shown) and the time\n"
    "since the first service started. '-' is a stage without heartbeat (not\n"
    "started, or not in this cluster).\n"
    "\n"
    "On a terminal the line is rewritten in place every S seconds (default 1);\n"
    "otherwise one line is printed every S seconds (default 30). It ends on\n"
    "SIGTERM or Ctrl-C, or once every service it saw has stopped. --once prints\n"
    "one line (after a 1 s look for the rate) and exits. Exit status 0; 1 when\n"
    "RUNDIR cannot be read; 2 on bad usage.\n";

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* The terminal's width, 80 when it cannot say. */
static int columns(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* Sleeps `seconds` unless a signal ends the wait. */
static void pause_for(double seconds)
{
    struct timespec ts = {.tv_sec = (time_t)seconds,
                          .tv_nsec = (long)((seconds - floor(seconds)) * 1e9)};
    if (!stop_signal)
        nanosleep(&ts, NULL);
}

int cmd_progress(args_t *a)
{
    const char *dir = NULL;
    uint64_t total = 0;
    double interval = 0;
    int once = 0;
    char *name;
    const char *v;
    int r;
    while ((r = next_arg(a, "--help --once", &name, &v)) > 0) {
        if (!name)
            return usage_error(a->cmd, "unexpected argument '%s'", v);
        if (!strcmp(name, "--help")) {
            fputs(progress_help, stdout);
            return 0;
        } else if (!strcmp(name, "--once")) {
            once = 1;
        } else if (!strcmp(name, "--dir")) {
            dir = v;
        } else if (!strcmp(name, "--total")) {
            if (parse_u64(a->cmd, name, v, &total))
                return 2;
        } else if (!strcmp(name, "--interval")) {
            if (parse_double(a->cmd, name, v, &interval))
                return 2;
            if (!(interval >= 0.1 && interval <= 3600))
                return usage_error(a->cmd, "--interval %s: want 0.1 .. 3600 seconds", v);
        } else {
            return usage_error(a->cmd, "unknown option '%s'", name);
        }
    }
    if (r < 0)
        return 2;
    if (!dir)
        return usage_error(a->cmd, "want --dir RUNDIR%s", "");
    const int tty = isatty(STDOUT_FILENO);
    if (interval == 0)
        interval = tty ? 1.0 : 30.0;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    progress_rate_t rates[PROGRESS_STAGES];
    for (int i = 0; i < PROGRESS_STAGES; i++)
        progress_rate_init(&rates[i], 10.0);
    progress_snap_t snap;
    dn_err_t err = {0};
    char line[512];
    double last_print = -INFINITY;
    int saw_running = 0, shown = 0;
    for (int looks = 0;; looks++) {
        int rc = progress_read_dir(dir, &snap, &err);
        if (rc && rc != DN_ENOTFOUND)
            return fail_with(a->cmd, &err, rc);
        if (rc)
            snap = progress_snap_empty();
        if (total)
            snap.total = total;
        const double now = dn_clock_wall();
        for (int i = 0; i < PROGRESS_STAGES; i++)
            progress_rate_add(&rates[i], now, snap.count[i]);
        double speed, left;
        progress_estimate(&snap, rates, &speed, &left);
        saw_running |= snap.running > 0;
        const int ended = saw_running && snap.running == 0;
        const int last = stop_signal || ended || (once && looks >= 1);
        if (last || now - last_print >= interval - 1e-3) {
            progress_format(&snap, speed, left, snap.started > 0 ? now - snap.started : NAN, line, sizeof line);
            if (tty) {
                int width = columns() - 1;
                if (width > 0 && (size_t)width < strlen(line))
                    line[width] = '\0';
                printf("\r%s\033[K", line);
            } else if (!once || last) {
                printf("progress: %s\n", line);
            }
            fflush(stdout);
            shown = 1;
            last_print = now;
        }
        if (last)
            break;
        pause_for(interval < 1.0 ? interval : 1.0);
    }
    if (tty && shown)
        putchar('\n');
    fflush(stdout);
    return 0;
}
