/* runin.c: the run-as-read model of runin.h. */
#include "runin.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dn_runin_t *dn_runin_new(int64_t run_number)
{
    dn_runin_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->run_number = run_number;
    r->time = NAN;
    r->label = -1;
    return r;
}

void dn_histin_clear(dn_histin_t *h)
{
    free(h->key);
    free(h->subsystem);
    free(h->counts);
    free(h->variances);
    free(h->edges);
    free(h->edges_y);
    *h = (dn_histin_t){0};
}

void dn_runin_destroy(dn_runin_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_runin_t *r = *self_p;
    free(r->source);
    for (int i = 0; i < r->n_hist; i++)
        dn_histin_clear(&r->hist[i]);
    free(r->hist);
    for (int i = 0; i < r->n_problems; i++)
        free(r->problems[i]);
    free(r->problems);
    free(r);
    *self_p = NULL;
}

int dn_runin_problem(dn_runin_t *run, const char *fmt, ...)
{
    char buf[DN_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **grown = realloc(run->problems, (size_t)(run->n_problems + 1) * sizeof *grown);
    if (!grown)
        return DN_ENOMEM;
    run->problems = grown;
    if (!(run->problems[run->n_problems] = strdup(buf)))
        return DN_ENOMEM;
    run->n_problems++;
    return DN_OK;
}

const dn_histin_t *dn_runin_find(const dn_runin_t *run, const char *key)
{
    for (int i = 0; run && i < run->n_hist; i++)
        if (!strcmp(run->hist[i].key, key))
            return &run->hist[i];
    return NULL;
}

int dn_run_number_from_name(const char *path, int64_t *out)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    const char *end = dot && dot != base ? dot : base + strlen(base);
    const char *p = end;
    while (p > base && !(p[-1] >= '0' && p[-1] <= '9'))
        p--;
    if (p == base)
        return DN_ENOTFOUND;
    const char *digits_end = p;
    while (p > base && p[-1] >= '0' && p[-1] <= '9')
        p--;
    int64_t v = 0;
    for (const char *q = p; q < digits_end; q++) {
        int d = *q - '0';
        if (v > (INT64_MAX - d) / 10)
            return DN_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return DN_OK;
}
