/* rootbuf.c: bounded big-endian reading and growable writing of ROOT's
 * serialised bytes (rootbuf.h).
 *
 * Every read goes through need(), the one bounds check: it fails the buffer
 * instead of reading past its end, and once failed the buffer stays failed so
 * that a decoder may read a group of members and test `failed` once. */
#include "rootbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dn_root_rbuf_init(dn_root_rbuf_t *b, const void *data, size_t len)
{
    static const unsigned char nothing[1];
    b->data = data ? data : nothing; /* need() never offsets a null pointer */
    b->len = data ? len : 0;
    b->pos = 0;
    b->failed = 0;
    b->why[0] = '\0';
}

int dn_root_rbuf_fail(dn_root_rbuf_t *b, const char *fmt, ...)
{
    if (!b->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->why, sizeof b->why, fmt, ap);
        va_end(ap);
        b->failed = 1;
    }
    return DN_EFORMAT;
}

size_t dn_root_rbuf_left(const dn_root_rbuf_t *b)
{
    return b->failed ? 0 : b->len - b->pos;
}

/* The next n bytes, or NULL (and b failed) when they are not all there. */
static const unsigned char *need(dn_root_rbuf_t *b, size_t n)
{
    if (b->failed)
        return NULL;
    if (n > b->len - b->pos) {
        dn_root_rbuf_fail(b, "need %zu bytes at offset %zu, the buffer has %zu", n, b->pos, b->len);
        return NULL;
    }
    const unsigned char *p = b->data + b->pos;
    b->pos += n;
    return p;
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int k = 0; k < n; k++)
        v = v << 8 | p[k];
    return v;
}

uint8_t dn_root_rbuf_u8(dn_root_rbuf_t *b)
{
    const unsigned char *p = need(b, 1);
    return p ? p[0] : 0;
}

uint16_t dn_root_rbuf_u16(dn_root_rbuf_t *b)
{
    const unsigned char *p = need(b, 2);
    return p ? (uint16_t)be(p, 2) : 0;
}

uint32_t dn_root_rbuf_u32(dn_root_rbuf_t *b)
{
    const unsigned char *p = need(b, 4);
    return p ? (uint32_t)be(p, 4) : 0;
}

uint64_t dn_root_rbuf_u64(dn_root_rbuf_t *b)
{
    const unsigned char *p = need(b, 8);
    return p ? be(p, 8) : 0;
}

int16_t dn_root_rbuf_i16(dn_root_rbuf_t *b)
{
    return (int16_t)dn_root_rbuf_u16(b);
}

int32_t dn_root_rbuf_i32(dn_root_rbuf_t *b)
{
    return (int32_t)dn_root_rbuf_u32(b);
}

int64_t dn_root_rbuf_i64(dn_root_rbuf_t *b)
{
    return (int64_t)dn_root_rbuf_u64(b);
}

float dn_root_rbuf_f32(dn_root_rbuf_t *b)
{
    uint32_t u = dn_root_rbuf_u32(b);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

double dn_root_rbuf_f64(dn_root_rbuf_t *b)
{
    uint64_t u = dn_root_rbuf_u64(b);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

int dn_root_rbuf_skip(dn_root_rbuf_t *b, size_t n)
{
    return need(b, n) ? DN_OK : DN_EFORMAT;
}

int dn_root_rbuf_seek(dn_root_rbuf_t *b, size_t pos)
{
    if (b->failed)
        return DN_EFORMAT;
    if (pos > b->len)
        return dn_root_rbuf_fail(b, "offset %zu is beyond the buffer's %zu bytes", pos, b->len);
    b->pos = pos;
    return DN_OK;
}

int dn_root_rbuf_bytes(dn_root_rbuf_t *b, size_t n, const unsigned char **p)
{
    *p = need(b, n);
    return *p ? DN_OK : DN_EFORMAT;
}

int dn_root_rbuf_tstring(dn_root_rbuf_t *b, const char **s, size_t *n)
{
    size_t len = dn_root_rbuf_u8(b);
    if (len == 255)
        len = dn_root_rbuf_u32(b);
    const unsigned char *p = NULL;
    int rc = dn_root_rbuf_bytes(b, len, &p);
    *s = rc ? NULL : (const char *)p;
    *n = rc ? 0 : len;
    return rc;
}

int dn_root_rbuf_tstring_dup(dn_root_rbuf_t *b, char **out)
{
    const char *s;
    size_t n;
    *out = NULL;
    if (dn_root_rbuf_tstring(b, &s, &n))
        return DN_EFORMAT;
    char *copy = malloc(n + 1);
    if (!copy) {
        dn_root_rbuf_fail(b, "out of memory for a string of %zu bytes", n);
        return DN_ENOMEM;
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    *out = copy;
    return DN_OK;
}

int dn_root_rbuf_version(dn_root_rbuf_t *b, dn_root_vers_t *v)
{
    v->start = b->pos;
    v->end = 0;
    v->version = 0;
    if (dn_root_rbuf_left(b) < 4 && dn_root_rbuf_left(b) >= 2 && !(b->data[b->pos] & 0xc0)) {
        v->version = dn_root_rbuf_u16(b); /* a bare version may end a buffer */
        return DN_OK;
    }
    uint32_t first = dn_root_rbuf_u32(b);
    if (b->failed)
        return DN_EFORMAT;
    if (first & DN_ROOT_BYTECOUNT_MASK) {
        size_t count = first & ~DN_ROOT_BYTECOUNT_MASK;
        if (count < 2 || count > b->len - b->pos)
            return dn_root_rbuf_fail(b, "byte count %zu at offset %zu runs past the buffer's %zu "
                                "bytes", count, v->start, b->len);
        v->end = b->pos + count;
    } else {
        b->pos = v->start; /* no count: the version alone */
    }
    v->version = dn_root_rbuf_u16(b);
    if (v->version & 0x8000) /* ROOT's versions are short and positive */
        return dn_root_rbuf_fail(b, "class version %d at offset %zu is not a version",
                            (int16_t)v->version, v->start);
    return b->failed ? DN_EFORMAT : DN_OK;
}

int dn_root_rbuf_leave(dn_root_rbuf_t *b, const dn_root_vers_t *v, const char *what)
{
    if (b->failed)
        return DN_EFORMAT;
    if (!v->end)
        return DN_OK;
    if (b->pos > v->end)
        return dn_root_rbuf_fail(b, "%s at offset %zu: the members read run %zu bytes past its "
                            "byte count", what, v->start, b->pos - v->end);
    b->pos = v->end;
    return DN_OK;
}

int dn_root_rbuf_array(dn_root_rbuf_t *b, size_t n, int elem_size, int is_float, double *out)
{
    if (elem_size != 1 && elem_size != 2 && elem_size != 4 && elem_size != 8)
        return dn_root_rbuf_fail(b, "no array of %d-byte elements", elem_size);
    if (n > (b->failed ? 0 : (b->len - b->pos) / (size_t)elem_size))
        return dn_root_rbuf_fail(b, "an array of %zu elements of %d bytes at offset %zu runs past "
                            "the buffer's %zu bytes", n, elem_size, b->pos, b->len);
    const unsigned char *p = need(b, n * (size_t)elem_size);
    if (!p)
        return DN_EFORMAT;
    switch (elem_size) {
    case 1:
        for (size_t i = 0; i < n; i++)
            out[i] = (signed char)p[i];
        break;
    case 2:
        for (size_t i = 0; i < n; i++)
            out[i] = (int16_t)be(p + 2 * i, 2);
        break;
    case 4:
        for (size_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)be(p + 4 * i, 4);
            if (is_float) {
                float f;
                memcpy(&f, &u, sizeof f);
                out[i] = f;
            } else {
                out[i] = (int32_t)u;
            }
        }
        break;
    default:
        for (size_t i = 0; i < n; i++) {
            uint64_t u = be(p + 8 * i, 8);
            memcpy(&out[i], &u, sizeof u);
        }
        break;
    }
    return DN_OK;
}

/* ---- writing ------------------------------------------------------------------- */

void dn_root_wbuf_init(dn_root_wbuf_t *w)
{
    w->data = NULL;
    w->len = w->cap = 0;
    w->failed = 0;
}

void dn_root_wbuf_free(dn_root_wbuf_t *w)
{
    free(w->data);
    dn_root_wbuf_init(w);
}

int dn_root_wbuf_ok(const dn_root_wbuf_t *w)
{
    return !w->failed;
}

unsigned char *dn_root_wbuf_grow(dn_root_wbuf_t *w, size_t n)
{
    if (w->failed)
        return NULL;
    if (n > w->cap - w->len) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap - w->len < n) {
            if (cap > SIZE_MAX / 2) {
                w->failed = 1;
                return NULL;
            }
            cap *= 2;
        }
        unsigned char *grown = realloc(w->data, cap);
        if (!grown) {
            w->failed = 1;
            return NULL;
        }
        w->data = grown;
        w->cap = cap;
    }
    unsigned char *p = w->data + w->len;
    w->len += n;
    return p;
}

void dn_root_wbuf_bytes(dn_root_wbuf_t *w, const void *p, size_t n)
{
    unsigned char *q = dn_root_wbuf_grow(w, n);
    if (q && n)
        memcpy(q, p, n);
}

static void put_be(dn_root_wbuf_t *w, uint64_t v, int n)
{
    unsigned char *q = dn_root_wbuf_grow(w, (size_t)n);
    if (q)
        for (int k = 0; k < n; k++)
            q[k] = (unsigned char)(v >> (8 * (n - 1 - k)));
}

void dn_root_wbuf_u8(dn_root_wbuf_t *w, uint8_t v)
{
    put_be(w, v, 1);
}

void dn_root_wbuf_u16(dn_root_wbuf_t *w, uint16_t v)
{
    put_be(w, v, 2);
}

void dn_root_wbuf_u32(dn_root_wbuf_t *w, uint32_t v)
{
    put_be(w, v, 4);
}

void dn_root_wbuf_u64(dn_root_wbuf_t *w, uint64_t v)
{
    put_be(w, v, 8);
}

void dn_root_wbuf_f32(dn_root_wbuf_t *w, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    put_be(w, u, 4);
}

void dn_root_wbuf_f64(dn_root_wbuf_t *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_be(w, u, 8);
}

void dn_root_wbuf_tstring(dn_root_wbuf_t *w, const char *s)
{
    size_t n = strlen(s);
    if (n < 255) {
        dn_root_wbuf_u8(w, (uint8_t)n);
    } else {
        dn_root_wbuf_u8(w, 255);
        dn_root_wbuf_u32(w, (uint32_t)n);
    }
    dn_root_wbuf_bytes(w, s, n);
}

void dn_root_wbuf_patch_u32(dn_root_wbuf_t *w, size_t at, uint32_t v)
{
    if (w->failed || at + 4 > w->len)
        return;
    for (int k = 0; k < 4; k++)
        w->data[at + (size_t)k] = (unsigned char)(v >> (8 * (3 - k)));
}

size_t dn_root_wbuf_begin_object(dn_root_wbuf_t *w, int version)
{
    size_t at = w->len;
    dn_root_wbuf_u32(w, 0);
    dn_root_wbuf_u16(w, (uint16_t)version);
    return at;
}

void dn_root_wbuf_end_object(dn_root_wbuf_t *w, size_t at)
{
    dn_root_wbuf_patch_u32(w, at, (uint32_t)(w->len - at - 4) | DN_ROOT_BYTECOUNT_MASK);
}

void dn_root_wbuf_tobject(dn_root_wbuf_t *w, uint32_t bits)
{
    dn_root_wbuf_u16(w, 1);
    dn_root_wbuf_u32(w, 0);
    dn_root_wbuf_u32(w, bits);
}

void dn_root_wbuf_tnamed(dn_root_wbuf_t *w, const char *name, const char *title)
{
    size_t at = dn_root_wbuf_begin_object(w, 1);
    dn_root_wbuf_tobject(w, 0x03000000u);
    dn_root_wbuf_tstring(w, name);
    dn_root_wbuf_tstring(w, title);
    dn_root_wbuf_end_object(w, at);
}
