/* health.c: `dinamo health`, the verdict on a service's heartbeat file
 * (lib/io/health.h): exit 0 when its loop is running and the heartbeat is
 * fresh, 1 otherwise, with one line saying why. Docker's healthcheck runs it
 * in the service's container every few seconds, so it reads one small file
 * and touches nothing else (no BLAS set-up: main dispatches it first). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "health.h"

static const char health_help[] =
    "usage: dinamo health --service NAME [--data-dir DIR] [--max-age S]\n"
    "       dinamo health --file PATH [--max-age S]\n"
    "\n"
    "Reads the heartbeat a dinamo service replaces at every tick of its loop\n"
    "(DIR/NAME/health, DIR defaulting to the services' default data_dir 'data';\n"
    "or the file a service's health_file key names) and prints one line: the\n"
    "service, ok or why not, the heartbeat's age, pid and counters (rounds,\n"
    "envelopes in, entries out, rejected, warnings, errors). Exit status 0 when\n"
    "the service is running and the heartbeat is at most S seconds old (default:\n"
    "30, or five ticks when the tick is longer than 6 s); 1 when it is stale,\n"
    "starting, stopped, failed (with the error it stopped on), missing or not a\n"
    "heartbeat; 2 on bad usage. Docker's healthcheck in deploy/docker-compose.yml\n"
    "runs it.\n";

int cmd_health(args_t *a)
{
    const char *service = NULL, *data_dir = "data", *file = NULL;
    double max_age = 0;
    char *name;
    const char *v;
    int r;
    while ((r = next_arg(a, "--help", &name, &v)) > 0) {
        if (!name)
            return usage_error(a->cmd, "unexpected argument '%s'", v);
        if (!strcmp(name, "--help")) {
            fputs(health_help, stdout);
            return 0;
        } else if (!strcmp(name, "--service")) {
            service = v;
        } else if (!strcmp(name, "--data-dir")) {
            data_dir = v;
        } else if (!strcmp(name, "--file")) {
            file = v;
        } else if (!strcmp(name, "--max-age")) {
            if (parse_double(a->cmd, name, v, &max_age))
                return 2;
            if (!(max_age > 0))
                return usage_error(a->cmd, "--max-age %s: want a positive number of seconds",
                                   v);
        } else {
            return usage_error(a->cmd, "unknown option '%s'", name);
        }
    }
    if (r < 0)
        return 2;
    if (!service == !file)
        return usage_error(a->cmd, "want --service NAME or --file PATH%s", "");
    char path[4096];
    if (file)
        snprintf(path, sizeof path, "%s", file);
    else if ((size_t)snprintf(path, sizeof path, "%s/%s/health", data_dir, service) >=
             sizeof path)
        return usage_error(a->cmd, "--data-dir %s: path too long", data_dir);
    dn_health_t h;
    dn_err_t err = {0};
    int rc = dn_health_read(path, &h, &err);
    const char *who = service ? service : path;
    if (rc == DN_ENOTFOUND) {
        printf("%s: no heartbeat at %s: not started yet, or another data_dir\n", who, path);
        return 1;
    }
    if (rc) {
        printf("%s: %s\n", who, err.msg);
        return 1;
    }
    if (service && strcmp(h.service, service)) {
        printf("%s: %s is the heartbeat of service '%s'\n", service, path, h.service);
        return 1;
    }
    char line[1024];
    rc = dn_health_judge(&h, dn_clock_wall(), max_age, line, sizeof line);
    puts(line);
    return rc;
}
