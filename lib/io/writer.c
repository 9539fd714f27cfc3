/* writer.c: the JSON and CSV cursors of writer.h.
 *
 * JSON: the cursor keeps a stack of open containers and, per container,
 * whether it has a member yet (the separator before the next one). A value is
 * in place at the top level once, in an array any time, in an object only
 * right after its key. Strings go through json.c's dn_json_write_string, the
 * escaper the parser is tested against.
 *
 * CSV: a field is scanned once for the four bytes that force quotes; the
 * quoted form writes the stretches between quotes with one fwrite each. */
#include "writer.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "json.h"

/* ---- JSON ------------------------------------------------------------------ */

void dn_jw_init(dn_jw_t *w, FILE *f)
{
    memset(w, 0, sizeof *w);
    w->f = f;
}

static int jw_fail(dn_jw_t *w, int rc)
{
    if (!w->rc)
        w->rc = rc;
    return w->rc;
}

static int jw_puts(dn_jw_t *w, const char *s)
{
    return fputs(s, w->f) == EOF ? jw_fail(w, DN_EIO) : 0;
}

/* Checks that a value may come now and writes the separator before it. */
static int jw_value_begin(dn_jw_t *w)
{
    if (w->rc)
        return w->rc;
    if (w->depth == 0)
        return w->done ? jw_fail(w, DN_EINVAL) : 0;
    int top = w->depth - 1;
    if (w->kind[top] == '{')
        return w->keyed ? 0 : jw_fail(w, DN_EINVAL);
    return w->filled[top] ? jw_puts(w, ", ") : 0;
}

/* A value is complete: its container has a member, or the document is done. */
static int jw_value_end(dn_jw_t *w, int rc)
{
    if (rc)
        return jw_fail(w, rc);
    w->keyed = 0;
    if (w->depth == 0)
        w->done = 1;
    else
        w->filled[w->depth - 1] = 1;
    return 0;
}

static int jw_open(dn_jw_t *w, char kind)
{
    int rc = jw_value_begin(w);
    if (rc)
        return rc;
    if (w->depth == DN_JW_MAX_DEPTH)
        return jw_fail(w, DN_EINVAL);
    if (putc(kind, w->f) == EOF)
        return jw_fail(w, DN_EIO);
    w->kind[w->depth] = kind;
    w->filled[w->depth] = 0;
    w->depth++;
    w->keyed = 0;
    return 0;
}

int dn_jw_object(dn_jw_t *w) { return jw_open(w, '{'); }
int dn_jw_array(dn_jw_t *w) { return jw_open(w, '['); }

int dn_jw_end(dn_jw_t *w)
{
    if (w->rc)
        return w->rc;
    if (w->depth == 0 || w->keyed)
        return jw_fail(w, DN_EINVAL);
    w->depth--;
    int rc = putc(w->kind[w->depth] == '{' ? '}' : ']', w->f) == EOF ? DN_EIO : 0;
    return jw_value_end(w, rc);
}

int dn_jw_key(dn_jw_t *w, const char *key)
{
    if (w->rc)
        return w->rc;
    if (!key || w->depth == 0 || w->kind[w->depth - 1] != '{' || w->keyed)
        return jw_fail(w, DN_EINVAL);
    int rc = w->filled[w->depth - 1] ? jw_puts(w, ", ") : 0;
    if (!rc && (rc = dn_json_write_string(w->f, key)))
        return jw_fail(w, rc);
    if (!rc && !(rc = jw_puts(w, ": ")))
        w->keyed = 1;
    return rc;
}

int dn_jw_string(dn_jw_t *w, const char *s)
{
    int rc = jw_value_begin(w);
    if (rc)
        return rc;
    return jw_value_end(w, s ? dn_json_write_string(w->f, s) : jw_puts(w, "null"));
}

int dn_jw_number(dn_jw_t *w, double x)
{
    int rc = jw_value_begin(w);
    return rc ? rc : jw_value_end(w, dn_json_write_number(w->f, x));
}

int dn_jw_fixed(dn_jw_t *w, double x, int decimals)
{
    int rc = jw_value_begin(w);
    if (rc)
        return rc;
    if (!isfinite(x))
        return jw_value_end(w, jw_puts(w, "null"));
    return jw_value_end(w, fprintf(w->f, "%.*f", decimals, x) < 0 ? DN_EIO : 0);
}

int dn_jw_int(dn_jw_t *w, long long v)
{
    int rc = jw_value_begin(w);
    return rc ? rc : jw_value_end(w, fprintf(w->f, "%lld", v) < 0 ? DN_EIO : 0);
}

int dn_jw_bool(dn_jw_t *w, int b)
{
    int rc = jw_value_begin(w);
    return rc ? rc : jw_value_end(w, jw_puts(w, b ? "true" : "false"));
}

int dn_jw_null(dn_jw_t *w)
{
    int rc = jw_value_begin(w);
    return rc ? rc : jw_value_end(w, jw_puts(w, "null"));
}

int dn_jw_finish(dn_jw_t *w)
{
    if (w->rc)
        return w->rc;
    if (w->depth || !w->done)
        return jw_fail(w, DN_EINVAL);
    return jw_puts(w, "\n");
}

/* ---- CSV ------------------------------------------------------------------- */

void dn_csv_init(dn_csv_t *w, FILE *f)
{
    w->f = f;
    w->col = 0;
    w->rc = 0;
}

/* The separator before a field; 0 or the sticky error. */
static int csv_begin(dn_csv_t *w)
{
    if (w->rc)
        return w->rc;
    if (w->col++ && putc(',', w->f) == EOF)
        w->rc = DN_EIO;
    return w->rc;
}

static int csv_done(dn_csv_t *w, int ok)
{
    if (!ok && !w->rc)
        w->rc = DN_EIO;
    return w->rc;
}

static int csv_write_quoted(dn_csv_t *w, const char *s)
{
    int ok = putc('"', w->f) != EOF;
    while (ok && s && *s) {
        const char *q = strchr(s, '"');
        size_t n = q ? (size_t)(q - s) + 1 : strlen(s); /* a quote goes out with its stretch */
        ok = fwrite(s, 1, n, w->f) == n && (!q || putc('"', w->f) != EOF);
        s += n;
    }
    return csv_done(w, ok && putc('"', w->f) != EOF);
}

int dn_csv_field(dn_csv_t *w, const char *s)
{
    int rc = csv_begin(w);
    if (rc || !s || !*s)
        return rc;
    if (strpbrk(s, ",\"\r\n"))
        return csv_write_quoted(w, s);
    return csv_done(w, fputs(s, w->f) != EOF);
}

int dn_csv_quoted(dn_csv_t *w, const char *s)
{
    int rc = csv_begin(w);
    return rc ? rc : csv_write_quoted(w, s);
}

int dn_csv_int(dn_csv_t *w, long long v)
{
    int rc = csv_begin(w);
    return rc ? rc : csv_done(w, fprintf(w->f, "%lld", v) >= 0);
}

int dn_csv_uint(dn_csv_t *w, unsigned long long v)
{
    int rc = csv_begin(w);
    return rc ? rc : csv_done(w, fprintf(w->f, "%llu", v) >= 0);
}

int dn_csv_double(dn_csv_t *w, double x)
{
    int rc = csv_begin(w);
    if (rc || isnan(x))
        return rc;
    return csv_done(w, fprintf(w->f, "%.17g", x) >= 0);
}

int dn_csv_fixed(dn_csv_t *w, double x, int decimals)
{
    int rc = csv_begin(w);
    if (rc || isnan(x))
        return rc;
    return csv_done(w, fprintf(w->f, "%.*f", decimals, x) >= 0);
}

int dn_csv_empty(dn_csv_t *w) { return csv_begin(w); }

int dn_csv_end_row(dn_csv_t *w)
{
    if (w->rc)
        return w->rc;
    w->col = 0;
    return csv_done(w, putc('\n', w->f) != EOF);
}

int dn_csv_header(dn_csv_t *w, const char *names)
{
    char name[128];
    for (const char *p = names; p && *p;) {
        size_t n = strcspn(p, ",");
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        dn_csv_field(w, name);
        p += n + (p[n] == ',');
    }
    return dn_csv_end_row(w);
}
