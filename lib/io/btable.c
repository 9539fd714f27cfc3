/* btable.c: numeric CSV tables (btable.h). The file is counted once for its
 * lines (the row capacity), then read line by line into column-major
 * storage, so a column is one contiguous array for the statistics. */
#include "btable.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

enum { NAME_MAX_LEN = 64, FIELD_MAX = 64, MAX_COLS = 4096 };

struct dn_btable_t {
    int rows, cols;
    char (*name)[NAME_MAX_LEN];
    double *v; /* column-major: column c at v + c * cap */
    int cap;
    char file[512]; /* for messages */
};

void dn_btable_destroy(dn_btable_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->name);
    free((*self_p)->v);
    free(*self_p);
    *self_p = NULL;
}

/* A line or a field of the buffer (not NUL-terminated). */
typedef struct line_t {
    const char *s;
    size_t len;
} line_t;

/* Field f copied NUL-terminated into buf[FIELD_MAX]; refused when too long
 * or holding what a plain number or name never has. */
static int field_text(line_t f, char *buf, const char *name, int lineno, int col,
                      dn_err_t *err)
{
    if (f.len >= FIELD_MAX)
        return dn_err_set(err, DN_EFORMAT, "%s:%d: field %d longer than %d characters", name,
                          lineno, col + 1, FIELD_MAX - 1);
    for (size_t i = 0; i < f.len; i++)
        if (f.s[i] == '"' || f.s[i] == '\0' || f.s[i] == '\r')
            return dn_err_set(err, DN_EFORMAT, "%s:%d: field %d: quote, NUL or CR inside a field "
                              "(plain numbers expected)", name, lineno, col + 1);
    memcpy(buf, f.s, f.len);
    buf[f.len] = '\0';
    return 0;
}

static int parse_number(const char *t, double *x)
{
    if (!*t) {
        *x = NAN; /* pandas writes a missing value as an empty field */
        return 0;
    }
    if (*t == ' ' || *t == '\t')
        return -1;
    errno = 0;
    char *e;
    *x = strtod(t, &e);
    return *e ? -1 : 0; /* ERANGE (underflow to 0, overflow to inf) accepted */
}

int dn_btable_parse(const char *buf, size_t len, const char *name, dn_btable_t **out,
                    dn_err_t *err)
{
    *out = NULL;
    name = name ? name : "table";
    dn_btable_t *t = calloc(1, sizeof *t);
    int rc = 0;
    if (!t)
        return dn_err_set(err, DN_ENOMEM, "%s: out of memory", name);
    snprintf(t->file, sizeof t->file, "%s", name);
    if (len == 0) {
        rc = dn_err_set(err, DN_EFORMAT, "%s: empty file (a header line expected)", name);
        goto fail;
    }
    if (buf[len - 1] != '\n') {
        int lines = 1;
        for (size_t i = 0; i < len; i++)
            lines += buf[i] == '\n';
        rc = dn_err_set(err, DN_EFORMAT, "%s:%d: truncated: the last line has no newline",
                        name, lines);
        goto fail;
    }
    size_t nl = 0;
    for (size_t i = 0; i < len; i++)
        nl += buf[i] == '\n';
    if (nl - 1 > 10000000) {
        rc = dn_err_set(err, DN_EFORMAT, "%s: more than 10,000,000 rows", name);
        goto fail;
    }
    t->cap = (int)nl - 1 > 0 ? (int)nl - 1 : 1;
    char text[FIELD_MAX];
    const char *p = buf, *end = buf + len;
    for (int lineno = 1; p < end; lineno++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        line_t ln = {p, (size_t)(eol - p)};
        p = eol + 1;
        if (ln.len && ln.s[ln.len - 1] == '\r')
            ln.len--;
        if (!ln.len) {
            rc = dn_err_set(err, DN_EFORMAT, "%s:%d: empty line", name, lineno);
            goto fail;
        }
        int col = 0;
        const char *f = ln.s, *lend = ln.s + ln.len;
        for (;; col++) {
            const char *comma = memchr(f, ',', (size_t)(lend - f));
            line_t fl = {f, (size_t)((comma ? comma : lend) - f)};
            if (lineno == 1) {
                if (col >= MAX_COLS) {
                    rc = dn_err_set(err, DN_EFORMAT, "%s:1: more than %d columns", name,
                                    MAX_COLS);
                    goto fail;
                }
                if (!fl.len) {
                    rc = dn_err_set(err, DN_EFORMAT, "%s:1: column %d has no name", name,
                                    col + 1);
                    goto fail;
                }
                if ((rc = field_text(fl, text, name, 1, col, err)))
                    goto fail;
                void *nn = realloc(t->name, (size_t)(col + 1) * sizeof *t->name);
                if (!nn) {
                    rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory", name);
                    goto fail;
                }
                t->name = nn;
                for (int c = 0; c < col; c++)
                    if (!strcmp(t->name[c], text)) {
                        rc = dn_err_set(err, DN_EFORMAT, "%s:1: column '%s' named twice", name,
                                        text);
                        goto fail;
                    }
                memcpy(t->name[col], text, strlen(text) + 1);
            } else {
                if (col >= t->cols) {
                    rc = dn_err_set(err, DN_EFORMAT, "%s:%d: more fields than the header's %d",
                                    name, lineno, t->cols);
                    goto fail;
                }
                if ((rc = field_text(fl, text, name, lineno, col, err)))
                    goto fail;
                double x;
                if (parse_number(text, &x)) {
                    rc = dn_err_set(err, DN_EFORMAT, "%s:%d: column '%s': '%s' is not a number",
                                    name, lineno, t->name[col], text);
                    goto fail;
                }
                t->v[(size_t)col * (size_t)t->cap + (size_t)t->rows] = x;
            }
            if (!comma)
                break;
            f = comma + 1;
        }
        if (lineno == 1) {
            t->cols = col + 1;
            /* A row takes at least cols bytes (its commas and newline): no
             * more rows than that fit, so a wide header over a run of empty
             * lines cannot ask for gigabytes. */
            size_t fit = (size_t)(end - p) / (size_t)t->cols + 1;
            if ((size_t)t->cap > fit)
                t->cap = (int)fit;
            t->v = malloc((size_t)t->cols * (size_t)t->cap * sizeof *t->v);
            if (!t->v) {
                rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory", name);
                goto fail;
            }
        } else {
            if (col + 1 < t->cols) {
                rc = dn_err_set(err, DN_EFORMAT, "%s:%d: %d fields, the header has %d "
                                "(row cut short?)", name, lineno, col + 1, t->cols);
                goto fail;
            }
            t->rows++;
        }
    }
    *out = t;
    return 0;
fail:
    dn_btable_destroy(&t);
    return rc;
}

int dn_btable_read(const char *path, dn_btable_t **out, dn_err_t *err)
{
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = dn_read_file(path, &buf, &len, err);
    if (!rc)
        rc = dn_btable_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}

int dn_btable_rows(const dn_btable_t *self) { return self->rows; }
int dn_btable_cols(const dn_btable_t *self) { return self->cols; }

const char *dn_btable_name(const dn_btable_t *self, int col)
{
    return col >= 0 && col < self->cols ? self->name[col] : NULL;
}

int dn_btable_find(const dn_btable_t *self, const char *name)
{
    for (int c = 0; c < self->cols; c++)
        if (!strcmp(self->name[c], name))
            return c;
    return -1;
}

const double *dn_btable_column(const dn_btable_t *self, int col)
{
    return col >= 0 && col < self->cols ? self->v + (size_t)col * (size_t)self->cap : NULL;
}

int dn_btable_require(const dn_btable_t *self, const char *const *names, int n, dn_err_t *err)
{
    for (int k = 0; k < n; k++)
        if (dn_btable_find(self, names[k]) < 0)
            return dn_err_set(err, DN_EFORMAT, "%s: no column '%s'", self->file, names[k]);
    return 0;
}

