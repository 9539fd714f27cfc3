/* json.c: strict RFC 8259 parser into an arena-allocated tree, and the writer
 * (see json.h).
 *
 * The parser is recursive descent, one call per nesting level (bounded by
 * DN_JSON_MAX_DEPTH, so the C stack is bounded too). Elements of the array or
 * object being parsed collect on one growable value stack; when the container
 * closes they are copied into the arena as one contiguous block and popped, so
 * the stack only ever holds the children of the containers on the current path
 * and total work is linear in the input. Strings are decoded straight into the
 * arena (the decoded form is never longer than the quoted text). Numbers that
 * are plain integers of up to 15 digits are converted exactly by hand; the rest
 * go through strtod (C locale: the library never calls setlocale).
 *
 * Invariants: a value's `key` is set exactly when it is an object member;
 * `n` counts bytes of a string or elements/members of an array/object; the
 * arena never moves a block once handed out, so pointers stay valid until the
 * document is destroyed. Error positions are computed only on failure. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

struct dn_json_value_t {
    uint8_t type;    /* dn_json_type_t */
    uint8_t boolean; /* DN_JSON_BOOL: 0 or 1 */
    size_t n;        /* string bytes, array elements or object members */
    const char *key; /* member key (NUL-terminated) when inside an object */
    union {
        double num;
        const char *str;
        const dn_json_value_t *items; /* [n] elements or members */
    } u;
};

typedef struct arena_block_t {
    struct arena_block_t *next;
    size_t used, cap;
    max_align_t data[];
} arena_block_t;

struct dn_json_t {
    arena_block_t *blocks; /* newest first */
    dn_json_value_t root;
};

#define ARENA_BLOCK_MIN ((size_t)64 << 10)

static void *arena_alloc(dn_json_t *doc, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    arena_block_t *b = doc->blocks;
    if (!b || b->cap - b->used < size) {
        /* Large requests get a block of their own so the current block's
         * free space is not wasted. */
        size_t cap = size > ARENA_BLOCK_MIN / 4 ? size : ARENA_BLOCK_MIN;
        arena_block_t *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->used = 0;
        nb->cap = cap;
        if (b && size > ARENA_BLOCK_MIN / 4) { /* keep filling the current one */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            doc->blocks = nb;
        }
        b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    return p;
}

/* ---------------------------------------------------------------- parser */

typedef struct {
    const char *start, *p, *end;
    dn_json_t *doc;
    dn_json_value_t *stack;
    size_t sp, cap;
    int depth;
    int flags; /* DN_JSON_ALLOW_NONFINITE */
    dn_err_t *err;
} parser_t;

__attribute__((format(printf, 4, 5)))
static int fail_at(parser_t *ps, const char *pos, int code, const char *fmt, ...)
{
    if (!ps->err)
        return code;
    long line = 1;
    const char *line_start = ps->start;
    for (const char *q = ps->start; q < pos; q++)
        if (*q == '\n') {
            line++;
            line_start = q + 1;
        }
    char what[DN_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return dn_err_set(ps->err, code, "line %ld, column %ld: %s", line,
                      (long)(pos - line_start) + 1, what);
}

static int fail_nomem(parser_t *ps)
{
    return dn_err_set(ps->err, DN_ENOMEM, "out of memory parsing JSON");
}

static inline void skip_ws(parser_t *ps)
{
    const char *p = ps->p, *end = ps->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    ps->p = p;
}

static int push(parser_t *ps, const dn_json_value_t *v)
{
    if (ps->sp == ps->cap) {
        size_t ncap = ps->cap ? ps->cap * 2 : 256;
        dn_json_value_t *ns = realloc(ps->stack, ncap * sizeof *ns);
        if (!ns)
            return fail_nomem(ps);
        ps->stack = ns;
        ps->cap = ncap;
    }
    ps->stack[ps->sp++] = *v;
    return DN_OK;
}

/* Moves the values above `base` on the stack into the arena as v's items. */
static int pop_into(parser_t *ps, size_t base, dn_json_value_t *v)
{
    v->n = ps->sp - base;
    v->u.items = NULL;
    if (v->n) {
        dn_json_value_t *items = arena_alloc(ps->doc, v->n * sizeof *items);
        if (!items)
            return fail_nomem(ps);
        memcpy(items, ps->stack + base, v->n * sizeof *items);
        v->u.items = items;
    }
    ps->sp = base;
    return DN_OK;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), 0 when it is not one. */
static int utf8_seq_len(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0];
    int n;
    unsigned lo = 0x80, hi = 0xBF; /* range of the first continuation byte */
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (end - s < n || s[1] < lo || s[1] > hi)
        return 0;
    for (int i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

static char *put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* Parses the string starting at the opening quote ps->p into the arena. */
static int parse_string(parser_t *ps, const char **str_out, size_t *len_out)
{
    const char *open = ps->p, *end = ps->end;
    /* Pass 1: find the closing quote, to size the decoded buffer. */
    const char *q = open + 1;
    for (;;) {
        const char *hit = q < end ? memchr(q, '"', (size_t)(end - q)) : NULL;
        if (!hit)
            return fail_at(ps, open, DN_EFORMAT, "unterminated string");
        /* The quote is escaped when preceded by an odd run of backslashes. */
        const char *b = hit;
        while (b > q && b[-1] == '\\')
            b--;
        if ((hit - b) % 2 == 0) {
            q = hit;
            break;
        }
        q = hit + 1;
    }
    const char *close = q;
    char *buf = arena_alloc(ps->doc, (size_t)(close - open));
    if (!buf)
        return fail_nomem(ps);
    /* Pass 2: decode and validate. */
    char *o = buf;
    const char *s = open + 1;
    while (s < close) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '\\' && c < 0x80) {
            *o++ = (char)c;
            s++;
        } else if (c < 0x20) {
            return fail_at(ps, s, DN_EFORMAT, "control character 0x%02x in string", c);
        } else if (c >= 0x80) {
            int n = utf8_seq_len((const unsigned char *)s, (const unsigned char *)close);
            if (!n)
                return fail_at(ps, s, DN_EFORMAT, "invalid UTF-8 in string");
            memcpy(o, s, (size_t)n);
            o += n;
            s += n;
        } else { /* backslash; pass 1 guarantees a character follows */
            const char *esc = s;
            char e = s[1];
            s += 2;
            switch (e) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '/': *o++ = '/'; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                unsigned cp, lo;
                if (close - s < 4 || hex4(s, &cp))
                    return fail_at(ps, esc, DN_EFORMAT,
                                   "invalid \\u escape (expected 4 hex digits)");
                s += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return fail_at(ps, esc, DN_EFORMAT,
                                   "lone low surrogate \\u%04X in string", cp);
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (close - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &lo) ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return fail_at(ps, esc, DN_EFORMAT,
                                       "high surrogate \\u%04X not followed by a low "
                                       "surrogate", cp);
                    s += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                o = put_utf8(o, cp);
                break;
            }
            default:
                if ((unsigned char)e >= 0x20 && (unsigned char)e < 0x7F)
                    return fail_at(ps, esc, DN_EFORMAT, "invalid escape '\\%c' in string", e);
                return fail_at(ps, esc, DN_EFORMAT, "invalid escape in string");
            }
        }
    }
    *o = '\0';
    *str_out = buf;
    *len_out = (size_t)(o - buf);
    ps->p = close + 1;
    return DN_OK;
}

static int parse_number(parser_t *ps, double *out)
{
    const char *start = ps->p, *p = ps->p, *end = ps->end;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p == end || (unsigned)(*p - '0') > 9)
        return fail_at(ps, p, DN_EFORMAT, "expected a digit after '-'");
    const char *int_start = p;
    if (*p == '0') {
        p++;
        if (p < end && (unsigned)(*p - '0') <= 9)
            return fail_at(ps, start, DN_EFORMAT, "leading zero in number");
    } else {
        while (p < end && (unsigned)(*p - '0') <= 9)
            p++;
    }
    int simple = 1;
    if (p < end && *p == '.') {
        simple = 0;
        p++;
        if (p == end || (unsigned)(*p - '0') > 9)
            return fail_at(ps, p, DN_EFORMAT, "expected a digit after '.'");
        while (p < end && (unsigned)(*p - '0') <= 9)
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        simple = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || (unsigned)(*p - '0') > 9)
            return fail_at(ps, p, DN_EFORMAT, "expected a digit in exponent");
        while (p < end && (unsigned)(*p - '0') <= 9)
            p++;
    }
    if (simple && p - int_start <= 15) {
        /* below 10^15 < 2^53: exact */
        int64_t v = 0;
        for (const char *d = int_start; d < p; d++)
            v = v * 10 + (*d - '0');
        *out = neg ? -(double)v : (double)v;
    } else {
        /* strtod needs a terminated copy: the input need not be. */
        char local[128], *tmp = local;
        size_t n = (size_t)(p - start);
        if (n >= sizeof local && !(tmp = malloc(n + 1)))
            return fail_nomem(ps);
        memcpy(tmp, start, n);
        tmp[n] = '\0';
        double v = strtod(tmp, NULL);
        if (tmp != local)
            free(tmp);
        if (isinf(v))
            return fail_at(ps, start, DN_ERANGE, "number %.*s out of range",
                           n > 40 ? 40 : (int)n, start);
        *out = v;
    }
    ps->p = p;
    return DN_OK;
}

static int parse_value(parser_t *ps, dn_json_value_t *v);

static int expect_literal(parser_t *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail_at(ps, ps->p, DN_EFORMAT, "invalid literal (expected %s)", word);
    ps->p += n;
    return DN_OK;
}

static int parse_array(parser_t *ps, dn_json_value_t *v)
{
    size_t base = ps->sp;
    int rc;
    ps->p++; /* '[' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return pop_into(ps, base, v);
    }
    for (;;) {
        dn_json_value_t item;
        if ((rc = parse_value(ps, &item)) || (rc = push(ps, &item)))
            return rc;
        skip_ws(ps);
        if (ps->p == ps->end)
            return fail_at(ps, ps->p, DN_EFORMAT, "unexpected end of input");
        char c = *ps->p++;
        if (c == ']')
            break;
        if (c != ',')
            return fail_at(ps, ps->p - 1, DN_EFORMAT, "expected ',' or ']'");
    }
    return pop_into(ps, base, v);
}

static int parse_object(parser_t *ps, dn_json_value_t *v)
{
    size_t base = ps->sp;
    int rc;
    ps->p++; /* '{' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return pop_into(ps, base, v);
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p == ps->end)
            return fail_at(ps, ps->p, DN_EFORMAT, "unexpected end of input");
        if (*ps->p != '"')
            return fail_at(ps, ps->p, DN_EFORMAT, "expected a string key");
        const char *key;
        size_t key_len;
        if ((rc = parse_string(ps, &key, &key_len)))
            return rc;
        skip_ws(ps);
        if (ps->p == ps->end)
            return fail_at(ps, ps->p, DN_EFORMAT, "unexpected end of input");
        if (*ps->p != ':')
            return fail_at(ps, ps->p, DN_EFORMAT, "expected ':'");
        ps->p++;
        dn_json_value_t member;
        if ((rc = parse_value(ps, &member)))
            return rc;
        member.key = key;
        if ((rc = push(ps, &member)))
            return rc;
        skip_ws(ps);
        if (ps->p == ps->end)
            return fail_at(ps, ps->p, DN_EFORMAT, "unexpected end of input");
        char c = *ps->p++;
        if (c == '}')
            break;
        if (c != ',')
            return fail_at(ps, ps->p - 1, DN_EFORMAT, "expected ',' or '}'");
    }
    return pop_into(ps, base, v);
}

static int parse_value(parser_t *ps, dn_json_value_t *v)
{
    int rc;
    memset(v, 0, sizeof *v);
    skip_ws(ps);
    if (ps->p == ps->end)
        return fail_at(ps, ps->p, DN_EFORMAT, "unexpected end of input");
    switch (*ps->p) {
    case '{':
    case '[':
        if (ps->depth >= DN_JSON_MAX_DEPTH)
            return fail_at(ps, ps->p, DN_EFORMAT, "nesting deeper than %d levels",
                           DN_JSON_MAX_DEPTH);
        ps->depth++;
        if (*ps->p == '{') {
            v->type = DN_JSON_OBJECT;
            rc = parse_object(ps, v);
        } else {
            v->type = DN_JSON_ARRAY;
            rc = parse_array(ps, v);
        }
        ps->depth--;
        return rc;
    case '"':
        v->type = DN_JSON_STRING;
        return parse_string(ps, &v->u.str, &v->n);
    case 't':
        v->type = DN_JSON_BOOL;
        v->boolean = 1;
        return expect_literal(ps, "true");
    case 'f':
        v->type = DN_JSON_BOOL;
        return expect_literal(ps, "false");
    case 'n':
        v->type = DN_JSON_NULL;
        return expect_literal(ps, "null");
    case 'N':
    case 'I':
        if (!(ps->flags & DN_JSON_ALLOW_NONFINITE))
            return fail_at(ps, ps->p, DN_EFORMAT, "expected a value");
        v->type = DN_JSON_NUMBER;
        v->u.num = *ps->p == 'N' ? NAN : INFINITY;
        return expect_literal(ps, *ps->p == 'N' ? "NaN" : "Infinity");
    case '-':
        if ((ps->flags & DN_JSON_ALLOW_NONFINITE) && ps->end - ps->p > 1 && ps->p[1] == 'I') {
            ps->p++;
            v->type = DN_JSON_NUMBER;
            v->u.num = -INFINITY;
            return expect_literal(ps, "Infinity");
        }
        /* fall through */
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        v->type = DN_JSON_NUMBER;
        return parse_number(ps, &v->u.num);
    default:
        return fail_at(ps, ps->p, DN_EFORMAT, "expected a value");
    }
}

int dn_json_parse(const char *text, size_t len, dn_json_t **out, dn_err_t *err)
{
    return dn_json_parse_ex(text, len, 0, out, err);
}

int dn_json_parse_ex(const char *text, size_t len, int flags, dn_json_t **out,
                     dn_err_t *err)
{
    int rc;
    *out = NULL;
    if (!text && len)
        return dn_err_set(err, DN_EINVAL, "JSON text is NULL");
    dn_json_t *doc = calloc(1, sizeof *doc);
    if (!doc)
        return dn_err_set(err, DN_ENOMEM, "out of memory parsing JSON");
    parser_t ps = {.start = text, .p = text, .end = text + len, .doc = doc, .flags = flags,
                   .err = err};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        ps.p += 3;
    if ((rc = parse_value(&ps, &doc->root)))
        goto fail;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        rc = fail_at(&ps, ps.p, DN_EFORMAT, "unexpected content after the document");
        goto fail;
    }
    free(ps.stack);
    *out = doc;
    return DN_OK;
fail:
    free(ps.stack);
    dn_json_destroy(&doc);
    return rc;
}

int dn_json_parse_file(const char *path, dn_json_t **out, dn_err_t *err)
{
    return dn_json_parse_file_ex(path, 0, out, err);
}

int dn_json_parse_file_ex(const char *path, int flags, dn_json_t **out, dn_err_t *err)
{
    char *text;
    size_t len;
    *out = NULL;
    int rc = dn_read_file(path, &text, &len, err);
    if (rc)
        return rc;
    rc = dn_json_parse_ex(text, len, flags, out, err);
    if (rc)
        dn_err_prefix(err, "%s", path);
    free(text);
    return rc;
}

void dn_json_destroy(dn_json_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    arena_block_t *b = (*self_p)->blocks;
    while (b) {
        arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    free(*self_p);
    *self_p = NULL;
}

/* ------------------------------------------------------------- accessors */

const dn_json_value_t *dn_json_root(const dn_json_t *doc)
{
    return doc ? &doc->root : NULL;
}

dn_json_type_t dn_json_type(const dn_json_value_t *v)
{
    return v ? (dn_json_type_t)v->type : DN_JSON_ABSENT;
}

const char *dn_json_type_name(dn_json_type_t type)
{
    switch (type) {
    case DN_JSON_NULL: return "null";
    case DN_JSON_BOOL: return "boolean";
    case DN_JSON_NUMBER: return "number";
    case DN_JSON_STRING: return "string";
    case DN_JSON_ARRAY: return "array";
    case DN_JSON_OBJECT: return "object";
    default: return "nothing";
    }
}

const dn_json_value_t *dn_json_get(const dn_json_value_t *v, const char *key)
{
    if (!v || v->type != DN_JSON_OBJECT || !key)
        return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->u.items[i].key, key) == 0)
            return &v->u.items[i];
    return NULL;
}

size_t dn_json_array_len(const dn_json_value_t *v)
{
    return v && v->type == DN_JSON_ARRAY ? v->n : 0;
}

const dn_json_value_t *dn_json_array_at(const dn_json_value_t *v, size_t i)
{
    return v && v->type == DN_JSON_ARRAY && i < v->n ? &v->u.items[i] : NULL;
}

size_t dn_json_object_len(const dn_json_value_t *v)
{
    return v && v->type == DN_JSON_OBJECT ? v->n : 0;
}

const char *dn_json_object_key_at(const dn_json_value_t *v, size_t i)
{
    return v && v->type == DN_JSON_OBJECT && i < v->n ? v->u.items[i].key : NULL;
}

const dn_json_value_t *dn_json_object_value_at(const dn_json_value_t *v, size_t i)
{
    return v && v->type == DN_JSON_OBJECT && i < v->n ? &v->u.items[i] : NULL;
}

double dn_json_number(const dn_json_value_t *v)
{
    return v && v->type == DN_JSON_NUMBER ? v->u.num : NAN;
}

int dn_json_bool(const dn_json_value_t *v)
{
    return v && v->type == DN_JSON_BOOL ? v->boolean : -1;
}

const char *dn_json_string(const dn_json_value_t *v)
{
    return v && v->type == DN_JSON_STRING ? v->u.str : NULL;
}

size_t dn_json_string_len(const dn_json_value_t *v)
{
    return v && v->type == DN_JSON_STRING ? v->n : 0;
}

const char *dn_json_type_article(dn_json_type_t type)
{
    switch (type) {
    case DN_JSON_NULL: return "null";
    case DN_JSON_BOOL: return "a boolean";
    case DN_JSON_NUMBER: return "a number";
    case DN_JSON_STRING: return "a string";
    case DN_JSON_ARRAY: return "an array";
    case DN_JSON_OBJECT: return "an object";
    default: return "nothing";
    }
}

int dn_json_get_numbers(const dn_json_value_t *obj, const char *key, double **values_out,
                        size_t *n_out, dn_err_t *err)
{
    *values_out = NULL;
    *n_out = 0;
    const dn_json_value_t *arr = dn_json_get(obj, key);
    if (!arr)
        return dn_err_set(err, DN_ENOTFOUND, "missing key \"%s\"", key ? key : "");
    if (arr->type != DN_JSON_ARRAY)
        return dn_err_set(err, DN_EFORMAT, "key \"%s\": expected an array, found %s", key,
                          dn_json_type_article(arr->type));
    double *values = malloc((arr->n ? arr->n : 1) * sizeof *values);
    if (!values)
        return dn_err_set(err, DN_ENOMEM, "out of memory reading key \"%s\"", key);
    for (size_t i = 0; i < arr->n; i++) {
        const dn_json_value_t *item = &arr->u.items[i];
        if (item->type != DN_JSON_NUMBER) {
            free(values);
            return dn_err_set(err, DN_EFORMAT,
                              "key \"%s\": element %zu: expected a number, found %s", key, i,
                              dn_json_type_article(item->type));
        }
        values[i] = item->u.num;
    }
    *values_out = values;
    *n_out = arr->n;
    return DN_OK;
}

/* ---------------------------------------------------------------- writer */

int dn_json_format_number(char *buf, double x)
{
    if (!isfinite(x)) {
        memcpy(buf, "null", 5);
        return 4;
    }
    if (fabs(x) < 1e15 && x == (double)(int64_t)x && !(x == 0 && signbit(x))) {
        /* integers: by hand, the common case when writing counts */
        int64_t v = (int64_t)x;
        char tmp[24];
        int n = 0, len = 0;
        uint64_t u = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
        do {
            tmp[n++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            buf[len++] = '-';
        while (n)
            buf[len++] = tmp[--n];
        buf[len] = '\0';
        return len;
    }
    int len = 0;
    for (int prec = 15; prec <= 17; prec++) {
        len = snprintf(buf, DN_JSON_NUMBER_MAX, "%.*g", prec, x);
        if (prec == 17 || strtod(buf, NULL) == x)
            break;
    }
    return len;
}

int dn_json_write_number(FILE *f, double x)
{
    char buf[DN_JSON_NUMBER_MAX];
    int n = dn_json_format_number(buf, x);
    return fwrite(buf, 1, (size_t)n, f) == (size_t)n ? DN_OK : DN_EIO;
}

int dn_json_write_string_len(FILE *f, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (putc('"', f) == EOF)
        return DN_EIO;
    size_t run = 0; /* start of the pending stretch that needs no escaping */
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)s[i] : 0;
        int u8 = 0; /* length of the well-formed UTF-8 sequence starting at i */
        if (i < len && c >= 0x80 &&
            (u8 = utf8_seq_len((const unsigned char *)s + i, (const unsigned char *)s + len))) {
            i += (size_t)u8 - 1;
            continue;
        }
        if (i < len && c >= 0x20 && c < 0x80 && c != '"' && c != '\\')
            continue;
        if (i > run && fwrite(s + run, 1, i - run, f) != i - run)
            return DN_EIO;
        run = i + 1;
        if (i == len)
            break;
        char esc[7] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            /* a control character; or a byte that starts no well-formed UTF-8
             * sequence (a damaged name): U+FFFD, so the output stays JSON */
            memcpy(esc + 1, c >= 0x80 ? "ufffd" : "u00", c >= 0x80 ? 5 : 3);
            if (c < 0x80) {
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
            }
            n = 6;
        }
        if (fwrite(esc, 1, n, f) != n)
            return DN_EIO;
    }
    return putc('"', f) == EOF ? DN_EIO : DN_OK;
}

int dn_json_write_string(FILE *f, const char *s)
{
    return dn_json_write_string_len(f, s, strlen(s));
}

int dn_json_write_value(FILE *f, const dn_json_value_t *v)
{
    if (!v)
        return DN_EINVAL;
    int rc = DN_OK;
    switch (v->type) {
    case DN_JSON_NULL:
        return fputs("null", f) == EOF ? DN_EIO : DN_OK;
    case DN_JSON_BOOL:
        return fputs(v->boolean ? "true" : "false", f) == EOF ? DN_EIO : DN_OK;
    case DN_JSON_NUMBER:
        return dn_json_write_number(f, v->u.num);
    case DN_JSON_STRING:
        return dn_json_write_string_len(f, v->u.str, v->n);
    case DN_JSON_ARRAY:
    case DN_JSON_OBJECT: {
        int obj = v->type == DN_JSON_OBJECT;
        if (putc(obj ? '{' : '[', f) == EOF)
            return DN_EIO;
        for (size_t i = 0; i < v->n && !rc; i++) {
            if (i && fputs(", ", f) == EOF)
                return DN_EIO;
            if (obj) {
                if ((rc = dn_json_write_string(f, v->u.items[i].key)))
                    return rc;
                if (fputs(": ", f) == EOF)
                    return DN_EIO;
            }
            rc = dn_json_write_value(f, &v->u.items[i]);
        }
        if (rc)
            return rc;
        return putc(obj ? '}' : ']', f) == EOF ? DN_EIO : DN_OK;
    }
    default:
        return DN_EINVAL;
    }
}
