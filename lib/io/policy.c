/* policy.c: policy files (policy.h). Lines are kept as read; a lookup scans
 * them once and keeps, per field, the value of the most specific match. */
#include "policy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fileio.h"

enum { M_ALL = 0, M_SUBSYSTEM = 1, M_PREFIX = 2, M_KEY = 3 };

typedef struct {
    int kind;
    char *text;      /* subsystem name, prefix (without '*') or key */
    size_t len;
    double field[3]; /* min_entries, warning, bad; NAN unset */
} rule_t;

struct dn_policy_t {
    rule_t *rules;
    int n;
};

dn_policy_t *dn_policy_new(void) { return calloc(1, sizeof(dn_policy_t)); }

void dn_policy_destroy(dn_policy_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (int i = 0; i < (*self_p)->n; i++)
        free((*self_p)->rules[i].text);
    free((*self_p)->rules);
    free(*self_p);
    *self_p = NULL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

static int parse_line(char *line, const char *path, int ln, rule_t *r, dn_err_t *err)
{
    static const char *names[3] = {"min_entries", "warning", "bad"};
    char *col[4];
    int n = 0;
    for (char *p = line; n < 4; n++) {
        col[n] = p;
        char *c = strchr(p, ',');
        if (!c) {
            n++;
            break;
        }
        *c = '\0';
        p = c + 1;
        if (n == 3)
            return dn_err_set(err, DN_EFORMAT, "%s:%d: more than 4 columns", path, ln);
    }
    if (n != 4)
        return dn_err_set(err, DN_EFORMAT, "%s:%d: %d columns, expected 4 "
                          "(match,min_entries,warning,bad)", path, ln, n);
    char *m = trim(col[0]);
    size_t ml = strlen(m);
    if (!ml)
        return dn_err_set(err, DN_EFORMAT, "%s:%d: empty match", path, ln);
    if (!strcmp(m, "*"))
        *r = (rule_t){.kind = M_ALL};
    else if (!strncmp(m, "subsystem:", 10))
        *r = (rule_t){.kind = M_SUBSYSTEM, .text = strdup(m + 10)};
    else if (m[ml - 1] == '*')
        *r = (rule_t){.kind = M_PREFIX, .text = strndup(m, ml - 1)};
    else
        *r = (rule_t){.kind = M_KEY, .text = strdup(m)};
    if (r->kind != M_ALL && !r->text)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    r->len = r->text ? strlen(r->text) : 0;
    for (int k = 0; k < 3; k++) {
        char *v = trim(col[k + 1]), *end;
        r->field[k] = NAN;
        if (!*v)
            continue;
        errno = 0;
        double x = strtod(v, &end);
        if (*end || errno || !isfinite(x)) {
            free(r->text);
            return dn_err_set(err, DN_EFORMAT, "%s:%d: column %s: '%s' is not a number", path,
                              ln, names[k], v);
        }
        r->field[k] = x;
    }
    if (r->kind == M_SUBSYSTEM && !isnan(r->field[0])) {
        free(r->text);
        return dn_err_set(err, DN_EFORMAT, "%s:%d: min_entries is set per key (*, prefix or key), "
                          "not per subsystem; leave it empty here", path, ln);
    }
    if (r->field[0] < 0 || (r->field[1] > r->field[2])) {
        free(r->text);
        return dn_err_set(err, DN_ERANGE, "%s:%d: %s", path, ln,
                          r->field[0] < 0 ? "min_entries is negative"
                                          : "warning threshold above the bad one");
    }
    return DN_OK;
}

dn_policy_t *dn_policy_load(const char *path, dn_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    if (dn_read_file(path, &text, &len, err))
        return NULL;
    dn_policy_t *p = dn_policy_new();
    if (!p) {
        free(text);
        dn_err_set(err, DN_ENOMEM, "out of memory");
        return NULL;
    }
    int ln = 0, header = 0, rc = DN_OK;
    for (char *line = text, *next; line && !rc; line = next) {
        ln++;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *t = trim(line);
        if (!*t || *t == '#')
            continue;
        if (!header) {
            header = 1;
            char h[64];
            snprintf(h, sizeof h, "%s", t);
            for (char *c = h; *c; c++)
                if (*c == ' ')
                    memmove(c, c + 1, strlen(c));
            if (strcmp(h, "match,min_entries,warning,bad"))
                rc = dn_err_set(err, DN_EFORMAT, "%s:%d: header '%s', expected "
                                "'match,min_entries,warning,bad'", path, ln, t);
            continue;
        }
        rule_t *grown = realloc(p->rules, (size_t)(p->n + 1) * sizeof *grown);
        if (!grown) {
            rc = dn_err_set(err, DN_ENOMEM, "out of memory");
            break;
        }
        p->rules = grown;
        if (!(rc = parse_line(t, path, ln, &p->rules[p->n], err)))
            p->n++;
    }
    if (!rc && !header)
        rc = dn_err_set(err, DN_EFORMAT, "%s: no header line", path);
    free(text);
    if (rc)
        dn_policy_destroy(&p);
    return p;
}

dn_judge_t dn_policy_lookup(const dn_policy_t *self, const char *key, const char *subsystem)
{
    double val[3] = {NAN, NAN, NAN};
    /* specificity of the rule that set each field: its kind (the M_ values rank
     * key > prefix > subsystem > *), then the prefix length */
    long best[3] = {-1, -1, -1};
    for (int i = 0; self && i < self->n; i++) {
        const rule_t *r = &self->rules[i];
        int hit = r->kind == M_ALL ||
                  (r->kind == M_SUBSYSTEM && subsystem && !strcmp(subsystem, r->text)) ||
                  (r->kind == M_PREFIX && key && !strncmp(key, r->text, r->len)) ||
                  (r->kind == M_KEY && key && !strcmp(key, r->text));
        if (!hit)
            continue;
        long spec = (long)r->kind << 20 | (long)(r->kind == M_PREFIX ? r->len : 0);
        for (int k = 0; k < 3; k++)
            if (!isnan(r->field[k]) && spec >= best[k]) {
                best[k] = spec;
                val[k] = r->field[k];
            }
    }
    dn_judge_t j = {isnan(val[0]) ? 0.0 : val[0], val[1], val[2]};
    return j;
}

dn_policy_t *dn_policy_from_config(const dn_config_t *cfg, dn_err_t *err)
{
    const char *path = dn_config_str(cfg, "policy");
    if (path && path[0])
        return dn_policy_load(path, err);
    dn_policy_t *p = dn_policy_new();
    if (!p)
        dn_err_set(err, DN_ENOMEM, "out of memory");
    return p;
}
