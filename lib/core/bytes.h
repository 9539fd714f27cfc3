/* bytes.h: little-endian encoding of fixed-width values and the FNV-1a checksum,
 * shared by every on-disk and checkpoint format (DINAMO-S and DINAMO-ML state,
 * DNML weight blobs), so those formats read the same on any host byte order;
 * big-endian 64-bit values for store keys, which LMDB sorts bytewise.
 * Header-only: each helper is a few instructions on the checkpoint path. */
#ifndef DN_BYTES_H
#define DN_BYTES_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline void dn_put_u32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

static inline void dn_put_u64(unsigned char *p, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

/* Big-endian: store keys that sort in numeric order. */
static inline void dn_put_be64(unsigned char *p, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        p[k] = (unsigned char)(v >> (56 - 8 * k));
}

static inline uint64_t dn_get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v = v << 8 | p[k];
    return v;
}

static inline uint32_t dn_get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t dn_get_u64(const unsigned char *p)
{
    return dn_get_u32(p) | (uint64_t)dn_get_u32(p + 4) << 32;
}

static inline void dn_put_f32(unsigned char *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, sizeof v);
    dn_put_u32(p, v);
}

static inline float dn_get_f32(const unsigned char *p)
{
    uint32_t v = dn_get_u32(p);
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

static inline void dn_put_f64(unsigned char *p, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    dn_put_u64(p, v);
}

static inline double dn_get_f64(const unsigned char *p)
{
    uint64_t v = dn_get_u64(p);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

/* FNV-1a, 32 bits, over n bytes: the integrity check of checkpoint blobs. */
static inline uint32_t dn_fnv1a32(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

/* ---- growable writer and bounded reader of checkpoint records -------------
 * The services' checkpoints are sequences of these fields. A writer that ran
 * out of memory sets oom and ignores further writes (check once at the end);
 * a reader that would run past the end sets bad and returns zeros/NULL/NAN
 * (check once at the end). The writer's buffer p is owned by the caller
 * (free(w.p)); the reader borrows its bytes. */
typedef struct dn_wbuf_t {
    unsigned char *p;
    size_t len, cap;
    int oom;
} dn_wbuf_t;

/* Makes room for n more bytes; 0 or -1 (and oom set). */
static inline int dn_wb_need(dn_wbuf_t *w, size_t n)
{
    if (w->oom)
        return -1;
    if (w->len + n <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + n)
        cap *= 2;
    unsigned char *p = realloc(w->p, cap);
    if (!p) {
        w->oom = 1;
        return -1;
    }
    w->p = p;
    w->cap = cap;
    return 0;
}

static inline void dn_wb_bytes(dn_wbuf_t *w, const void *b, size_t n)
{
    if (n && !dn_wb_need(w, n)) {
        memcpy(w->p + w->len, b, n);
        w->len += n;
    }
}

static inline void dn_wb_u32(dn_wbuf_t *w, uint32_t v)
{
    unsigned char b[4];
    dn_put_u32(b, v);
    dn_wb_bytes(w, b, 4);
}

static inline void dn_wb_u64(dn_wbuf_t *w, uint64_t v)
{
    unsigned char b[8];
    dn_put_u64(b, v);
    dn_wb_bytes(w, b, 8);
}

static inline void dn_wb_f64(dn_wbuf_t *w, double v)
{
    unsigned char b[8];
    dn_put_f64(b, v);
    dn_wb_bytes(w, b, 8);
}

/* A length-prefixed (u32) byte string; s may be NULL for n == 0. */
static inline void dn_wb_str(dn_wbuf_t *w, const void *s, size_t n)
{
    dn_wb_u32(w, (uint32_t)n);
    dn_wb_bytes(w, s, n);
}

typedef struct dn_rbuf_t {
    const unsigned char *p;
    size_t len, pos;
    int bad;
} dn_rbuf_t;

static inline const unsigned char *dn_rb_take(dn_rbuf_t *r, size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *q = r->p + r->pos;
    r->pos += n;
    return q;
}

static inline uint32_t dn_rb_u32(dn_rbuf_t *r)
{
    const unsigned char *q = dn_rb_take(r, 4);
    return q ? dn_get_u32(q) : 0;
}

static inline uint64_t dn_rb_u64(dn_rbuf_t *r)
{
    const unsigned char *q = dn_rb_take(r, 8);
    return q ? dn_get_u64(q) : 0;
}

static inline double dn_rb_f64(dn_rbuf_t *r)
{
    const unsigned char *q = dn_rb_take(r, 8);
    return q ? dn_get_f64(q) : NAN;
}

/* A string written by dn_wb_str: its bytes (not terminated) and *n. */
static inline const unsigned char *dn_rb_str(dn_rbuf_t *r, uint32_t *n)
{
    *n = dn_rb_u32(r);
    return dn_rb_take(r, *n);
}

#endif
