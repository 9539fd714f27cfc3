/* npz.c: .npz archives (npz.h).
 *
 * The whole file is read into memory and walked through its ZIP central
 * directory (found from the end-of-central-directory record, ZIP64 records
 * followed when present); every offset and length is checked against the file
 * size before it is used, so a truncated or hostile archive is an error, never
 * an out-of-bounds read. Members are inflated with zlib (raw deflate) and their
 * CRC-32 compared with the directory's. */
#include "npz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fileio.h"
#include "generator.h"

#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_EOCD64_LOC 0x07064b50u
#define SIG_CDIR 0x02014b50u
#define SIG_LOCAL 0x04034b50u
#define MAX_MEMBER (UINT64_C(1) << 34) /* 16 GiB: more is not a dataset */
/* Deflate's best case: a 258-byte match costs at least 2 bits, so one
 * compressed byte inflates to at most 1032 bytes (zlib's technical notes). */
#define DEFLATE_MAX_RATIO 1032

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

typedef struct {
    const unsigned char *buf;
    size_t len;
    const char *path;
    dn_err_t *err;
} zip_t;

/* ---- ZIP directory ------------------------------------------------------------ */

static int find_directory(zip_t *z, uint64_t *cd_off, uint64_t *cd_size, uint64_t *entries)
{
    if (z->len < 22)
        return dn_err_set(z->err, DN_EFORMAT, "%s: %zu bytes: not a ZIP (.npz) archive",
                          z->path, z->len);
    size_t min = z->len > 22 + 65535 ? z->len - 22 - 65535 : 0;
    size_t at = z->len - 22;
    for (;; at--) {
        if (le32(z->buf + at) == SIG_EOCD)
            break;
        if (at == min)
            return dn_err_set(z->err, DN_EFORMAT, "%s: no ZIP end-of-directory record: not "
                              "an .npz archive, or truncated", z->path);
    }
    const unsigned char *e = z->buf + at;
    *entries = le16(e + 10);
    *cd_size = le32(e + 12);
    *cd_off = le32(e + 16);
    if ((*entries == 0xffff || *cd_size == 0xffffffffu || *cd_off == 0xffffffffu) &&
        at >= 20 && le32(z->buf + at - 20) == SIG_EOCD64_LOC) {
        uint64_t off64 = le64(z->buf + at - 20 + 8);
        if (off64 > z->len - 56 || le32(z->buf + off64) != SIG_EOCD64)
            return dn_err_set(z->err, DN_EFORMAT, "%s: bad ZIP64 end-of-directory record",
                              z->path);
        const unsigned char *e64 = z->buf + off64;
        *entries = le64(e64 + 32);
        *cd_size = le64(e64 + 40);
        *cd_off = le64(e64 + 48);
    }
    if (*cd_off > z->len || *cd_size > z->len - *cd_off)
        return dn_err_set(z->err, DN_EFORMAT, "%s: ZIP directory beyond the end of the file "
                          "(truncated?)", z->path);
    return DN_OK;
}

typedef struct {
    const char *name; /* not terminated */
    size_t name_len;
    uint16_t method;
    uint32_t crc;
    uint64_t csize, usize, local_off;
} member_t;

/* Parses the directory entry at *pos and advances it. */
static int read_entry(zip_t *z, uint64_t *pos, uint64_t cd_end, member_t *m)
{
    if (cd_end - *pos < 46 || le32(z->buf + *pos) != SIG_CDIR)
        return dn_err_set(z->err, DN_EFORMAT, "%s: damaged ZIP directory entry", z->path);
    const unsigned char *c = z->buf + *pos;
    size_t nlen = le16(c + 28), xlen = le16(c + 30), clen = le16(c + 32);
    if (cd_end - *pos - 46 < nlen + xlen + clen)
        return dn_err_set(z->err, DN_EFORMAT, "%s: damaged ZIP directory entry", z->path);
    *m = (member_t){.name = (const char *)c + 46,
                    .name_len = nlen,
                    .method = le16(c + 10),
                    .crc = le32(c + 16),
                    .csize = le32(c + 20),
                    .usize = le32(c + 24),
                    .local_off = le32(c + 42)};
    /* ZIP64 extra field: the 0xffffffff fields, in the order usize, csize, offset */
    const unsigned char *x = c + 46 + nlen, *xe = x + xlen;
    while (xe - x >= 4) {
        uint16_t id = le16(x), sz = le16(x + 2);
        if ((size_t)(xe - x - 4) < sz)
            break;
        if (id == 0x0001) {
            const unsigned char *f = x + 4, *fe = f + sz;
            uint64_t *fields[3] = {&m->usize, &m->csize, &m->local_off};
            for (int k = 0; k < 3; k++)
                if (*fields[k] == 0xffffffffu) {
                    if (fe - f < 8)
                        return dn_err_set(z->err, DN_EFORMAT, "%s: damaged ZIP64 field",
                                          z->path);
                    *fields[k] = le64(f);
                    f += 8;
                }
        }
        x += 4 + sz;
    }
    *pos += 46 + nlen + xlen + clen;
    return DN_OK;
}

/* The member's bytes, inflated and CRC-checked, into a new buffer. */
static int member_bytes(zip_t *z, const member_t *m, unsigned char **out)
{
    *out = NULL;
    const int nl = (int)(m->name_len > 200 ? 200 : m->name_len);
    if (m->local_off > z->len - 30 || le32(z->buf + m->local_off) != SIG_LOCAL)
        return dn_err_set(z->err, DN_EFORMAT, "%s: member %.*s: bad local header (truncated?)",
                          z->path, nl, m->name);
    const unsigned char *l = z->buf + m->local_off;
    uint64_t data_off = m->local_off + 30 + le16(l + 26) + le16(l + 28);
    if (data_off > z->len || m->csize > z->len - data_off)
        return dn_err_set(z->err, DN_EFORMAT, "%s: member %.*s: data runs past the end of "
                          "the file (truncated)", z->path, nl, m->name);
    if (m->method != 0 && m->method != 8)
        return dn_err_set(z->err, DN_EFORMAT, "%s: member %.*s: compression method %u (only "
                          "stored and deflate)", z->path, nl, m->name, m->method);
    if (m->usize > MAX_MEMBER)
        return dn_err_set(z->err, DN_EFORMAT, "%s: member %.*s: %llu bytes, too large",
                          z->path, nl, m->name, (unsigned long long)m->usize);
    /* The declared size is the archive's word; what its data can become is not.
     * Refused here, before the allocation it would size (as an unknown method
     * is): a few KB of hostile archive otherwise asks for gigabytes. */
    if (m->method == 0 && m->csize != m->usize)
        return dn_err_set(z->err, DN_EFORMAT, "%s: member %.*s: stored sizes differ (%llu "
                          "bytes stored, %llu declared)", z->path, nl, m->name,
                          (unsigned long long)m->csize, (unsigned long long)m->usize);
    if (m->method == 8 && m->usize / DEFLATE_MAX_RATIO > m->csize)
        return dn_err_set(z->err, DN_EFORMAT, "%s: member %.*s: declared size %llu bytes is "
                          "more than its %llu deflated bytes can inflate to (at most %d:1)",
                          z->path, nl, m->name, (unsigned long long)m->usize,
                          (unsigned long long)m->csize, DEFLATE_MAX_RATIO);
    unsigned char *u = malloc(m->usize ? (size_t)m->usize : 1);
    if (!u)
        return dn_err_set(z->err, DN_ENOMEM, "%s: out of memory", z->path);
    const unsigned char *src = z->buf + data_off;
    int rc = DN_OK;
    if (m->method == 0) {
        memcpy(u, src, (size_t)m->usize);
    } else if (m->method == 8) {
        z_stream s = {0};
        if (inflateInit2(&s, -15) != Z_OK) {
            free(u);
            return dn_err_set(z->err, DN_ENOMEM, "%s: zlib initialisation failed", z->path);
        }
        uint64_t in_left = m->csize, out_done = 0;
        int zrc = Z_OK;
        s.next_in = (unsigned char *)src;
        s.next_out = u;
        while (zrc == Z_OK) {
            /* zlib counts in uInt: feed and drain in pieces below 1 GiB */
            if (s.avail_in == 0 && in_left) {
                s.avail_in = (uInt)(in_left > (1u << 30) ? (1u << 30) : in_left);
                in_left -= s.avail_in;
            }
            if (s.avail_out == 0) {
                uint64_t room = m->usize - out_done;
                s.avail_out = (uInt)(room > (1u << 30) ? (1u << 30) : room);
            }
            uInt before = s.avail_out;
            zrc = inflate(&s, Z_NO_FLUSH);
            out_done += before - s.avail_out;
            if (zrc == Z_BUF_ERROR && (s.avail_in || in_left) && out_done < m->usize)
                zrc = Z_OK;
        }
        inflateEnd(&s);
        if (zrc != Z_STREAM_END || out_done != m->usize)
            rc = dn_err_set(z->err, DN_EFORMAT, "%s: member %.*s: deflate data %s", z->path,
                            nl, m->name,
                            zrc == Z_STREAM_END ? "inflates to another size" : "is damaged or "
                            "truncated");
    }
    if (rc == DN_OK) {
        uLong crc = crc32(0L, Z_NULL, 0);
        for (uint64_t done = 0; done < m->usize;) {
            uInt n = (uInt)(m->usize - done > (1u << 30) ? (1u << 30) : m->usize - done);
            crc = crc32(crc, u + done, n);
            done += n;
        }
        if ((uint32_t)crc != m->crc)
            rc = dn_err_set(z->err, DN_EFORMAT, "%s: member %.*s: CRC-32 mismatch (damaged)",
                            z->path, nl, m->name);
    }
    if (rc) {
        free(u);
        return rc;
    }
    *out = u;
    return DN_OK;
}

/* ---- .npy --------------------------------------------------------------------- */

/* The value of 'key' in the header dict (a Python literal): points after ':'. */
static const char *dict_value(const char *h, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p)
        return NULL;
    p = strchr(p + strlen(pat), ':');
    if (!p)
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

static int itemsize_of(const char *d, char *kind, int *size, int *big)
{
    if (strlen(d) < 2 || strlen(d) > 4)
        return -1;
    *big = d[0] == '>';
    if (d[0] != '<' && d[0] != '>' && d[0] != '|' && d[0] != '=')
        return -1;
    *kind = d[1];
    if (*kind == '?' && d[2] == 0) {
        *size = 1;
        return 0;
    }
    if (*kind == 'O') {
        *size = 0;
        return 0;
    }
    char *end;
    long n = strtol(d + 2, &end, 10);
    if (*end || (n != 1 && n != 2 && n != 4 && n != 8))
        return -1;
    if ((*kind == 'f' && n < 4) || (*kind != 'f' && *kind != 'i' && *kind != 'u' &&
                                     *kind != 'b'))
        return -1;
    *size = (int)n;
    return 0;
}

static double load_elem(const unsigned char *p, char kind, int size, int big)
{
    unsigned char b[8];
    for (int k = 0; k < size; k++)
        b[k] = big ? p[size - 1 - k] : p[k];
    uint64_t u = 0;
    for (int k = size - 1; k >= 0; k--)
        u = u << 8 | b[k];
    if (kind == 'f') {
        if (size == 8) {
            double d;
            memcpy(&d, &u, 8);
            return d;
        }
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, 4);
        return f;
    }
    if (kind == 'u' || kind == 'b' || kind == '?')
        return (double)u;
    /* signed: sign-extend */
    int shift = 64 - 8 * size;
    return (double)((int64_t)(u << shift) >> shift);
}

static int parse_npy(zip_t *z, const char *name, const unsigned char *b, uint64_t n,
                     dn_npy_t *a)
{
    if (n < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return dn_err_set(z->err, DN_EFORMAT, "%s: member %s: not a .npy array", z->path, name);
    int major = b[6];
    uint64_t hlen, hoff;
    if (major == 1) {
        hlen = le16(b + 8);
        hoff = 10;
    } else if ((major == 2 || major == 3) && n >= 12) {
        hlen = le32(b + 8);
        hoff = 12;
    } else {
        return dn_err_set(z->err, DN_EFORMAT, "%s: member %s: .npy version %d unsupported",
                          z->path, name, major);
    }
    if (hlen > n - hoff || hlen > 65536)
        return dn_err_set(z->err, DN_EFORMAT, "%s: member %s: header beyond the data", z->path,
                          name);
    char *h = strndup((const char *)b + hoff, (size_t)hlen);
    if (!h)
        return dn_err_set(z->err, DN_ENOMEM, "%s: out of memory", z->path);
    int rc = DN_OK;
    const char *d = dict_value(h, "descr"), *fo = dict_value(h, "fortran_order"),
               *sh = dict_value(h, "shape");
    if (!d || *d != '\'' || !fo || !sh || *sh != '(') {
        rc = dn_err_set(z->err, DN_EFORMAT, "%s: member %s: unreadable .npy header \"%s\"",
                        z->path, name, h);
        goto done;
    }
    size_t dl = strcspn(d + 1, "'");
    if (dl >= sizeof a->dtype) {
        rc = dn_err_set(z->err, DN_EFORMAT, "%s: member %s: dtype %.*s unsupported (numbers "
                        "only)", z->path, name, (int)dl, d + 1);
        goto done;
    }
    memcpy(a->dtype, d + 1, dl);
    a->dtype[dl] = 0;
    int fortran = !strncmp(fo, "True", 4);
    const char *p = sh + 1;
    a->ndim = 0;
    a->size = 1;
    while (1) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || a->ndim == DN_NPY_MAX_DIMS ||
            (v > 0 && a->size > INT64_MAX / v)) {
            rc = dn_err_set(z->err, DN_EFORMAT, "%s: member %s: bad shape in \"%s\"", z->path,
                            name, h);
            goto done;
        }
        a->shape[a->ndim++] = v;
        a->size *= v;
        p = end;
    }
    char kind;
    int size, big;
    if (itemsize_of(a->dtype, &kind, &size, &big)) {
        rc = dn_err_set(z->err, DN_EFORMAT, "%s: member %s: dtype %s unsupported (bool, "
                        "integers and floats)", z->path, name, a->dtype);
        goto done;
    }
    if (kind == 'O')
        goto done; /* a pickle: listed, never unpickled */
    uint64_t body = n - hoff - hlen;
    if ((uint64_t)a->size > body / (uint64_t)size || (uint64_t)a->size * size != body) {
        rc = dn_err_set(z->err, DN_EFORMAT, "%s: member %s: %llu data bytes for shape of %lld "
                        "elements of %d bytes", z->path, name, (unsigned long long)body,
                        (long long)a->size, size);
        goto done;
    }
    a->data = malloc(sizeof(double) * (size_t)(a->size ? a->size : 1));
    if (!a->data) {
        rc = dn_err_set(z->err, DN_ENOMEM, "%s: out of memory", z->path);
        goto done;
    }
    const unsigned char *src = b + hoff + hlen;
    if (!fortran || a->ndim < 2) {
        for (int64_t i = 0; i < a->size; i++)
            a->data[i] = load_elem(src + i * size, kind, size, big);
    } else {
        /* Fortran order: element (i0, i1, ...) at i0 + s0 (i1 + s1 (...)) */
        int64_t idx[DN_NPY_MAX_DIMS] = {0};
        for (int64_t c = 0; c < a->size; c++) {
            int64_t f = 0;
            for (int k = a->ndim - 1; k >= 0; k--)
                f = f * a->shape[k] + idx[k];
            a->data[c] = load_elem(src + f * size, kind, size, big);
            for (int k = a->ndim - 1; k >= 0; k--) {
                if (++idx[k] < a->shape[k])
                    break;
                idx[k] = 0;
            }
        }
    }
done:
    free(h);
    return rc;
}

int dn_npz_read(const char *path, dn_npz_t **out, dn_err_t *err)
{
    char *file = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = dn_read_file(path, &file, &len, err);
    if (rc)
        return rc;
    rc = dn_npz_read_mem(file, len, path, out, err);
    free(file);
    return rc;
}

int dn_npz_read_mem(const void *buf, size_t len, const char *path, dn_npz_t **out,
                    dn_err_t *err)
{
    dn_npz_t *npz = NULL;
    unsigned char *bytes = NULL;
    int rc;
    *out = NULL;
    zip_t z = {buf, len, path, err};
    uint64_t cd_off = 0, cd_size = 0, entries = 0;
    if ((rc = find_directory(&z, &cd_off, &cd_size, &entries)))
        goto fail;
    if (entries > cd_size / 46) {
        rc = dn_err_set(err, DN_EFORMAT, "%s: %llu ZIP entries in a %llu-byte directory",
                        path, (unsigned long long)entries, (unsigned long long)cd_size);
        goto fail;
    }
    if (!(npz = calloc(1, sizeof *npz)) ||
        !(npz->arrays = calloc(entries ? (size_t)entries : 1, sizeof *npz->arrays))) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    uint64_t pos = cd_off;
    for (uint64_t e = 0; e < entries; e++) {
        member_t m;
        if ((rc = read_entry(&z, &pos, cd_off + cd_size, &m)))
            goto fail;
        if (m.name_len < 5 || memcmp(m.name + m.name_len - 4, ".npy", 4)) {
            rc = dn_err_set(err, DN_EFORMAT, "%s: member %.*s is not a .npy array", path,
                            (int)(m.name_len > 200 ? 200 : m.name_len), m.name);
            goto fail;
        }
        /* a NUL would cut the array's name short: "x\0y.npy" read as "x" */
        if (memchr(m.name, 0, m.name_len)) {
            rc = dn_err_set(err, DN_EFORMAT, "%s: member %llu: its name holds a NUL byte", path,
                            (unsigned long long)e);
            goto fail;
        }
        dn_npy_t *a = &npz->arrays[npz->n];
        if (!(a->name = strndup(m.name, m.name_len - 4))) {
            rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
        npz->n++;
        if ((rc = member_bytes(&z, &m, &bytes)) ||
            (rc = parse_npy(&z, a->name, bytes, m.usize, a)))
            goto fail;
        free(bytes);
        bytes = NULL;
    }
    *out = npz;
    return DN_OK;
fail:
    free(bytes);
    dn_npz_destroy(&npz);
    return rc;
}

void dn_npz_destroy(dn_npz_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_npz_t *npz = *self_p;
    for (int i = 0; i < npz->n; i++) {
        free(npz->arrays[i].name);
        free(npz->arrays[i].data);
    }
    free(npz->arrays);
    free(npz);
    *self_p = NULL;
}

const dn_npy_t *dn_npz_get(const dn_npz_t *npz, const char *name)
{
    for (int i = 0; npz && i < npz->n; i++)
        if (!strcmp(npz->arrays[i].name, name))
            return &npz->arrays[i];
    return NULL;
}

/* ---- reference datasets ------------------------------------------------------ */

/* A numeric 1-D array of n elements, or NULL when absent. */
static int vector_of(const dn_npz_t *npz, const char *path, const char *name, int64_t n,
                     const dn_npy_t **out, dn_err_t *err)
{
    const dn_npy_t *a = dn_npz_get(npz, name);
    *out = NULL;
    if (!a)
        return DN_OK;
    if (!a->data || a->ndim != 1 || (n >= 0 && a->shape[0] != n))
        return dn_err_set(err, DN_EFORMAT, "%s: array %s: expected %lld numbers (1-D), found "
                          "dtype %s with %d dimensions and %lld elements", path, name,
                          (long long)n, a->dtype, a->ndim, (long long)a->size);
    *out = a;
    return DN_OK;
}

static int mark_indices(const dn_npy_t *a, const char *path, uint8_t *flags, int n,
                        dn_err_t *err)
{
    for (int64_t i = 0; a && i < a->size; i++) {
        double v = a->data[i];
        if (!(v >= 0 && v < n && v == floor(v)))
            return dn_err_set(err, DN_EFORMAT, "%s: array %s: element %lld (%g) is not a run "
                              "index in [0, %d)", path, a->name, (long long)i, v, n);
        flags[(int64_t)v] = 1;
    }
    return DN_OK;
}

int dn_npz_read_dataset(const char *path, dn_dataset_t **out, dn_err_t *err)
{
    char *file = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = dn_read_file(path, &file, &len, err);
    if (rc)
        return rc;
    rc = dn_npz_read_dataset_mem(file, len, path, out, err);
    free(file);
    return rc;
}

int dn_npz_read_dataset_mem(const void *buf, size_t len, const char *path,
                            dn_dataset_t **out, dn_err_t *err)
{
    dn_npz_t *npz = NULL;
    dn_dataset_t *ds = NULL;
    *out = NULL;
    int rc = dn_npz_read_mem(buf, len, path, &npz, err);
    if (rc)
        return rc;
    const dn_npy_t *x = dn_npz_get(npz, "x");
    if (!x || !x->data || x->ndim != 2 || x->shape[0] > INT32_MAX || x->shape[1] < 1 ||
        x->shape[1] > INT32_MAX / 2) {
        rc = dn_err_set(err, DN_EFORMAT, "%s: no 2-D numeric array \"x\" (runs x bins) with at "
                        "least one bin", path);
        goto fail;
    }
    const int n = (int)x->shape[0], nb = (int)x->shape[1];
    const dn_npy_t *y, *mu, *sg, *rmu, *rsg, *ev, *dead;
    if ((rc = vector_of(npz, path, "y", n, &y, err)) ||
        (rc = vector_of(npz, path, "mu", n, &mu, err)) ||
        (rc = vector_of(npz, path, "sigma", n, &sg, err)) ||
        (rc = vector_of(npz, path, "inds_for_rapid_changes_\xce\xbc", -1, &rmu, err)) ||
        (rc = vector_of(npz, path, "inds_for_rapid_changes_\xcf\x83", -1, &rsg, err)) ||
        (rc = vector_of(npz, path, "I0", n, &ev, err)) ||
        (rc = vector_of(npz, path, "number_of_dead_bins", n, &dead, err)))
        goto fail;
    const int truth = mu && sg;
    if (!(ds = dn_dataset_new(n, nb, truth))) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory for %d runs x %d bins", path, n, nb);
        goto fail;
    }
    dn_gen_params_t gp;
    dn_gen_params_default(&gp);
    const double width = (gp.x_max - gp.x_min) / nb;
    for (int j = 0; j < nb; j++)
        ds->edges[j] = gp.x_min + j * width;
    ds->edges[nb] = gp.x_max;
    ds->edges_known = 1;
    for (int i = 0; i < n; i++) {
        ds->run[i] = i;
        for (int j = 0; j < nb; j++) {
            double v = x->data[(size_t)i * nb + j];
            if (!isfinite(v) || v < 0) {
                rc = dn_err_set(err, DN_ERANGE, "%s: x[%d][%d]: %s count %g", path, i, j,
                                v < 0 ? "negative" : "non-finite", v);
                goto fail;
            }
            ds->counts[(size_t)i * nb + j] = v;
        }
        if (y) {
            if (y->data[i] != 0 && y->data[i] != 1) {
                rc = dn_err_set(err, DN_EFORMAT, "%s: y[%d] = %g: labels must be 0 (good) or "
                                "1 (bad)", path, i, y->data[i]);
                goto fail;
            }
            ds->label[i] = (int8_t)y->data[i];
        }
        if (truth) {
            ds->true_mu[i] = mu->data[i];
            ds->true_sigma[i] = sg->data[i];
            /* -1: unknown (no such array, or no count there), never made up */
            ds->events[i] = ev && ev->data[i] >= 0 && ev->data[i] < 2e9 ? (int32_t)ev->data[i] : -1;
            ds->dead_bins[i] =
                dead && dead->data[i] >= 0 && dead->data[i] < 2e9 ? (int32_t)dead->data[i] : -1;
        }
    }
    if (truth && ((rc = mark_indices(rmu, path, ds->rapid_mu, n, err)) ||
                  (rc = mark_indices(rsg, path, ds->rapid_sigma, n, err))))
        goto fail;
    dn_npz_destroy(&npz);
    *out = ds;
    return DN_OK;
fail:
    dn_npz_destroy(&npz);
    dn_dataset_destroy(&ds);
    return rc;
}
