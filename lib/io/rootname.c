/* rootname.c: key, subsystem and run of a histogram in a ROOT file
 * (rootname.h). The CMS DQM layout is recognised by its first two folders,
 * "DQMData" and "Run N" with N all digits; anything else is the plain rule. */
#include "rootname.h"

#include <stdlib.h>
#include <string.h>

#include "runin.h"

#define DQM_TOP "DQMData/"
#define DQM_RUN "Run "
#define DQM_SUMMARY "Run summary/"

/* N of "Run N/" at p: *after points past the '/'. 1 when it is one. */
static int dqm_run(const char *p, int64_t *run, const char **after, int *overflow)
{
    if (strncmp(p, DQM_RUN, strlen(DQM_RUN)))
        return 0;
    p += strlen(DQM_RUN);
    int64_t v = 0;
    const char *q = p;
    for (; *q >= '0' && *q <= '9'; q++) {
        int d = *q - '0';
        if (v > (INT64_MAX - d) / 10)
            *overflow = 1;
        else
            v = v * 10 + d;
    }
    if (q == p || *q != '/')
        return 0;
    *run = v;
    *after = q + 1;
    return 1;
}

int dn_root_dqm_run(const char *path, int64_t *run)
{
    const char *rest;
    int overflow = 0;
    int64_t n = 0;
    if (strncmp(path, DQM_TOP, strlen(DQM_TOP)) ||
        !dqm_run(path + strlen(DQM_TOP), &n, &rest, &overflow) || overflow ||
        !strchr(rest, '/'))
        return 0;
    *run = n;
    return 1;
}

int dn_root_name(const char *file, const char *path, const dn_root_naming_t *opts, char **key,
                 char **subsystem, int64_t *run, int *has_run, dn_err_t *err)
{
    *key = *subsystem = NULL;
    *has_run = 0;
    const char *rest, *sub_end;
    int overflow = 0, rc = DN_OK;
    char *k = NULL, *s = NULL;
    if (!strncmp(path, DQM_TOP, strlen(DQM_TOP)) &&
        dqm_run(path + strlen(DQM_TOP), run, &rest, &overflow) && (sub_end = strchr(rest, '/'))) {
        if (overflow) {
            rc = dn_err_set(err, DN_ERANGE, "%s: folder \"%.*s\": run number beyond int64",
                            file, (int)(rest - path - 1), path);
            goto fail;
        }
        *has_run = 1;
        const char *tail = sub_end + 1;
        if (!strncmp(tail, DQM_SUMMARY, strlen(DQM_SUMMARY)))
            tail += strlen(DQM_SUMMARY);
        size_t sub_n = (size_t)(sub_end - rest), tail_n = strlen(tail);
        s = strndup(rest, sub_n);
        if ((k = malloc(sub_n + 1 + tail_n + 1))) {
            memcpy(k, rest, sub_n);
            k[sub_n] = '/';
            memcpy(k + sub_n + 1, tail, tail_n + 1);
        }
    } else {
        const char *slash = strchr(path, '/');
        k = strdup(path);
        s = slash ? strndup(path, (size_t)(slash - path)) : strdup("");
        int found = dn_run_number_from_name(file, run);
        if (found == DN_ERANGE) {
            rc = dn_err_set(err, DN_ERANGE, "%s: the run number in the file name is beyond "
                            "int64", file);
            goto fail;
        }
        *has_run = found == DN_OK;
    }
    if (opts && opts->subsystem) {
        free(s);
        s = strdup(opts->subsystem);
    }
    if (!k || !s) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory");
        goto fail;
    }
    *key = k;
    *subsystem = s;
    return DN_OK;
fail:
    *has_run = 0;
    free(k);
    free(s);
    return rc;
}
