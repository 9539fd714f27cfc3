/* bytes.h: little-endian encoding of fixed-width values and the FNV-1a checksum,
 * shared by every on-disk and checkpoint format (DINAMO-S and DINAMO-ML state,
 * DNML weight blobs), so those formats read the same on any host byte order.
 * Header-only: each helper is a few instructions on the checkpoint path. */
#ifndef DN_BYTES_H
#define DN_BYTES_H

#include <stddef.h>
#include <stdint.h>
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

#endif
