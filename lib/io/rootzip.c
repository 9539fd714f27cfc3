/* rootzip.c: ROOT's compressed blocks in zlib, LZMA, LZ4 and ZSTD (rootzip.h).
 *
 * Each block is decoded straight into its place in the caller's buffer with
 * the output size the header declares as the limit, so a block can neither
 * write past its share nor stop short unnoticed. XXH64 is written here from
 * its specification (liblz4 does not export it). */
#include "rootzip.h"

#include <lz4.h>
#include <lz4hc.h>
#include <lzma.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

/* ---- XXH64 ---------------------------------------------------------------------- */

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define P5 0x27D4EB2F165667C5ull

static uint64_t rotl(uint64_t x, int r)
{
    return x << r | x >> (64 - r);
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--)
        v = v << 8 | p[k];
    return v;
}

static uint64_t le32(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

static uint64_t xxh_round(uint64_t acc, uint64_t lane)
{
    return rotl(acc + lane * P2, 31) * P1;
}

static uint64_t xxh_merge(uint64_t h, uint64_t v)
{
    return (h ^ xxh_round(0, v)) * P1 + P4;
}

uint64_t dn_xxh64(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data, *end = p + n;
    uint64_t h;
    if (n >= 32) {
        uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
        for (; end - p >= 32; p += 32) {
            v1 = xxh_round(v1, le64(p));
            v2 = xxh_round(v2, le64(p + 8));
            v3 = xxh_round(v3, le64(p + 16));
            v4 = xxh_round(v4, le64(p + 24));
        }
        h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
        h = xxh_merge(h, v1);
        h = xxh_merge(h, v2);
        h = xxh_merge(h, v3);
        h = xxh_merge(h, v4);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)n;
    for (; end - p >= 8; p += 8)
        h = rotl(h ^ xxh_round(0, le64(p)), 27) * P1 + P4;
    if (end - p >= 4) {
        h = rotl(h ^ le32(p) * P1, 23) * P2 + P3;
        p += 4;
    }
    for (; p < end; p++)
        h = rotl(h ^ *p * P5, 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

/* ---- block headers ------------------------------------------------------------------ */

typedef struct {
    int algo;       /* DN_ROOTZIP_* */
    size_t in, out; /* compressed bytes after the header, uncompressed bytes */
} block_t;

static size_t le24(const unsigned char *p)
{
    return (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16;
}

/* The header at src[at] (srclen bytes in all), checked to fit. */
static int read_header(const unsigned char *src, size_t srclen, size_t at, int number,
                       block_t *b, dn_err_t *err)
{
    if (srclen - at < DN_ROOTZIP_HEADER)
        return dn_err_set(err, DN_EFORMAT, "compressed block %d at offset %zu: its 9-byte "
                          "header is cut (%zu bytes left)", number, at, srclen - at);
    const unsigned char *h = src + at;
    if (h[0] == 'Z' && h[1] == 'L')
        b->algo = DN_ROOTZIP_ZLIB;
    else if (h[0] == 'X' && h[1] == 'Z')
        b->algo = DN_ROOTZIP_LZMA;
    else if (h[0] == 'C' && h[1] == 'S')
        b->algo = DN_ROOTZIP_OLD;
    else if (h[0] == 'L' && h[1] == '4')
        b->algo = DN_ROOTZIP_LZ4;
    else if (h[0] == 'Z' && h[1] == 'S')
        b->algo = DN_ROOTZIP_ZSTD;
    else
        return dn_err_set(err, DN_EFORMAT, "compressed block %d at offset %zu: unknown "
                          "algorithm bytes 0x%02x 0x%02x", number, at, h[0], h[1]);
    b->in = le24(h + 3);
    b->out = le24(h + 6);
    if (b->in > srclen - at - DN_ROOTZIP_HEADER)
        return dn_err_set(err, DN_EFORMAT, "compressed block %d at offset %zu declares %zu "
                          "bytes, %zu are left", number, at, b->in,
                          srclen - at - DN_ROOTZIP_HEADER);
    if (b->out == 0)
        return dn_err_set(err, DN_EFORMAT, "compressed block %d at offset %zu declares no "
                          "output", number, at);
    if (b->algo == DN_ROOTZIP_LZ4 && b->in < 8)
        return dn_err_set(err, DN_EFORMAT, "LZ4 block %d at offset %zu is shorter (%zu bytes) "
                          "than its checksum", number, at, b->in);
    return DN_OK;
}

int dn_rootzip_check(const unsigned char *src, size_t srclen, size_t dstlen, dn_err_t *err)
{
    size_t at = 0, out = 0;
    for (int number = 1; out < dstlen; number++) {
        block_t b;
        int rc = read_header(src, srclen, at, number, &b, err);
        if (rc)
            return rc;
        if (b.out > dstlen - out)
            return dn_err_set(err, DN_EFORMAT, "compressed block %d at offset %zu declares "
                              "%zu bytes, the object has %zu left", number, at, b.out,
                              dstlen - out);
        at += DN_ROOTZIP_HEADER + b.in;
        out += b.out;
    }
    if (at != srclen)
        return dn_err_set(err, DN_EFORMAT, "the compressed blocks end at byte %zu of %zu", at,
                          srclen);
    return DN_OK;
}

/* ---- decoders: each fills exactly b->out bytes or says why not ------------------- */

static int inflate_zlib(const unsigned char *in, const block_t *b, unsigned char *out,
                        int raw, char *why, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, raw ? -MAX_WBITS : MAX_WBITS) != Z_OK) {
        snprintf(why, cap, "zlib could not start");
        return DN_ENOMEM;
    }
    z.next_in = (unsigned char *)in; /* zlib's API is not const-correct */
    z.avail_in = (uInt)b->in;
    z.next_out = out;
    z.avail_out = (uInt)b->out;
    int zr = inflate(&z, Z_FINISH);
    int rc = DN_OK;
    if (zr != Z_STREAM_END || z.total_out != b->out) {
        snprintf(why, cap, "zlib: %s (%lu of %zu bytes out)",
                 zr == Z_STREAM_END ? "stream ends early"
                 : zr == Z_BUF_ERROR ? (z.avail_out ? "input cut" : "output longer than declared")
                 : z.msg ? z.msg : "corrupt stream",
                 (unsigned long)z.total_out, b->out);
        rc = zr == Z_MEM_ERROR ? DN_ENOMEM : DN_EFORMAT;
    }
    inflateEnd(&z);
    return rc;
}

static int inflate_lzma(const unsigned char *in, const block_t *b, unsigned char *out,
                        char *why, size_t cap)
{
    lzma_stream s = LZMA_STREAM_INIT;
    /* 256 MiB of decoder memory: far above what ROOT's presets need (level 9:
     * 65 MiB), low enough that a hostile dictionary size is refused. */
    lzma_ret r = lzma_stream_decoder(&s, 256u << 20, 0);
    if (r != LZMA_OK) {
        snprintf(why, cap, "liblzma could not start (code %d)", (int)r);
        return DN_ENOMEM;
    }
    s.next_in = in;
    s.avail_in = b->in;
    s.next_out = out;
    s.avail_out = b->out;
    r = lzma_code(&s, LZMA_FINISH);
    int rc = DN_OK;
    if (r != LZMA_STREAM_END || s.total_out != b->out) {
        snprintf(why, cap, "xz: %s (%llu of %zu bytes out)",
                 r == LZMA_STREAM_END ? "stream ends early"
                 : r == LZMA_BUF_ERROR ? "input cut or output longer than declared"
                 : r == LZMA_MEMLIMIT_ERROR ? "dictionary above the memory limit"
                 : r == LZMA_FORMAT_ERROR ? "not an xz stream"
                 : r == LZMA_DATA_ERROR ? "corrupt data"
                 : r == LZMA_OPTIONS_ERROR ? "unsupported options" : "decoder error",
                 (unsigned long long)s.total_out, b->out);
        rc = r == LZMA_MEM_ERROR ? DN_ENOMEM : DN_EFORMAT;
    }
    lzma_end(&s);
    return rc;
}

static int inflate_lz4(const unsigned char *in, const block_t *b, unsigned char *out,
                       char *why, size_t cap)
{
    uint64_t want = 0;
    for (int k = 0; k < 8; k++)
        want = want << 8 | in[k];
    uint64_t got = dn_xxh64(in + 8, b->in - 8, 0);
    if (got != want) {
        snprintf(why, cap, "LZ4 checksum 0x%016llx, the block says 0x%016llx",
                 (unsigned long long)got, (unsigned long long)want);
        return DN_EFORMAT;
    }
    int n = LZ4_decompress_safe((const char *)in + 8, (char *)out, (int)(b->in - 8),
                                (int)b->out);
    if (n < 0 || (size_t)n != b->out) {
        snprintf(why, cap, "LZ4: %s", n < 0 ? "corrupt block" : "output shorter than declared");
        return DN_EFORMAT;
    }
    return DN_OK;
}

static int inflate_zstd(const unsigned char *in, const block_t *b, unsigned char *out,
                        char *why, size_t cap)
{
    size_t n = ZSTD_decompress(out, b->out, in, b->in);
    if (ZSTD_isError(n) || n != b->out) {
        snprintf(why, cap, "zstd: %s", ZSTD_isError(n) ? ZSTD_getErrorName(n)
                                                        : "output shorter than declared");
        return ZSTD_isError(n) && ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation
                   ? DN_ENOMEM : DN_EFORMAT;
    }
    return DN_OK;
}

int dn_rootzip_inflate(const unsigned char *src, size_t srclen, unsigned char *dst,
                       size_t dstlen, dn_err_t *err)
{
    int rc = dn_rootzip_check(src, srclen, dstlen, err);
    if (rc)
        return rc;
    size_t at = 0, done = 0;
    for (int number = 1; done < dstlen; number++) {
        block_t b;
        if ((rc = read_header(src, srclen, at, number, &b, err)))
            return rc;
        const unsigned char *in = src + at + DN_ROOTZIP_HEADER;
        char why[256];
        switch (b.algo) {
        case DN_ROOTZIP_ZLIB: rc = inflate_zlib(in, &b, dst + done, 0, why, sizeof why); break;
        case DN_ROOTZIP_OLD: rc = inflate_zlib(in, &b, dst + done, 1, why, sizeof why); break;
        case DN_ROOTZIP_LZMA: rc = inflate_lzma(in, &b, dst + done, why, sizeof why); break;
        case DN_ROOTZIP_LZ4: rc = inflate_lz4(in, &b, dst + done, why, sizeof why); break;
        default: rc = inflate_zstd(in, &b, dst + done, why, sizeof why); break;
        }
        if (rc)
            return dn_err_set(err, rc, "compressed block %d at offset %zu: %s", number, at, why);
        at += DN_ROOTZIP_HEADER + b.in;
        done += b.out;
    }
    return DN_OK;
}

/* ---- compression ---------------------------------------------------------------------- */

/* Compresses n bytes of src (n <= DN_ROOTZIP_BLOCK_MAX) into dst[cap]; returns
 * the compressed length, 0 when it does not fit or the library failed. */
static size_t compress_block(int algo, int level, const unsigned char *src, size_t n,
                             unsigned char *dst, size_t cap)
{
    switch (algo) {
    case DN_ROOTZIP_ZLIB: {
        uLongf len = (uLongf)cap;
        return compress2(dst, &len, src, (uLong)n, level) == Z_OK ? (size_t)len : 0;
    }
    case DN_ROOTZIP_LZMA: {
        /* The stream encoder, as ROOT uses: its block header carries no sizes,
         * the layout JSROOT's decoder expects (the one-call encoder adds them). */
        lzma_stream z = LZMA_STREAM_INIT;
        if (lzma_easy_encoder(&z, (uint32_t)level, LZMA_CHECK_CRC32) != LZMA_OK)
            return 0;
        z.next_in = src;
        z.avail_in = n;
        z.next_out = dst;
        z.avail_out = cap;
        lzma_ret r = lzma_code(&z, LZMA_FINISH);
        size_t len = r == LZMA_STREAM_END ? (size_t)z.total_out : 0;
        lzma_end(&z);
        return len;
    }
    case DN_ROOTZIP_LZ4: {
        if (cap <= 8)
            return 0;
        int len = LZ4_compress_HC((const char *)src, (char *)dst + 8, (int)n, (int)(cap - 8),
                                  level);
        if (len <= 0)
            return 0;
        uint64_t sum = dn_xxh64(dst + 8, (size_t)len, 0);
        for (int k = 0; k < 8; k++)
            dst[k] = (unsigned char)(sum >> (56 - 8 * k));
        return (size_t)len + 8;
    }
    default: {
        size_t len = ZSTD_compress(dst, cap, src, n, level);
        return ZSTD_isError(len) ? 0 : len;
    }
    }
}

int dn_rootzip_deflate(int setting, const unsigned char *src, size_t len, dn_root_wbuf_t *out,
                       int *compressed, dn_err_t *err)
{
    int algo = setting / 100, level = setting % 100;
    if (compressed)
        *compressed = 0;
    if (setting == 0 || len == 0) {
        dn_root_wbuf_bytes(out, src, len);
        return dn_root_wbuf_ok(out) ? DN_OK : dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    if (setting < 0 || (algo != DN_ROOTZIP_ZLIB && algo != DN_ROOTZIP_LZMA &&
                        algo != DN_ROOTZIP_LZ4 && algo != DN_ROOTZIP_ZSTD) ||
        level < 1 || level > 9)
        return dn_err_set(err, DN_EINVAL, "compression setting %d: expected algorithm * 100 + "
                          "level, algorithm 1 (zlib), 2 (LZMA), 4 (LZ4) or 5 (ZSTD), level "
                          "1..9", setting);
    static const char tag[6][3] = {"", "ZL", "XZ", "CS", "L4", "ZS"};
    const unsigned char method[6] = {0, Z_DEFLATED, 0, 0, LZ4_VERSION_MAJOR, 1};
    size_t start = out->len, done = 0;
    while (done < len && dn_root_wbuf_ok(out)) {
        size_t n = len - done < DN_ROOTZIP_BLOCK_MAX ? len - done : DN_ROOTZIP_BLOCK_MAX;
        /* A block must come out shorter than its input: ROOT stores the whole
         * object uncompressed otherwise, and so do we. */
        size_t at = out->len;
        unsigned char *h = dn_root_wbuf_grow(out, DN_ROOTZIP_HEADER + n);
        if (!h)
            break;
        size_t c = compress_block(algo, level, src + done, n, h + DN_ROOTZIP_HEADER, n);
        if (c == 0 || c >= n || c > DN_ROOTZIP_BLOCK_MAX) {
            out->len = start;
            dn_root_wbuf_bytes(out, src, len);
            return dn_root_wbuf_ok(out) ? DN_OK : dn_err_set(err, DN_ENOMEM, "out of memory");
        }
        h[0] = (unsigned char)tag[algo][0];
        h[1] = (unsigned char)tag[algo][1];
        h[2] = method[algo];
        for (int k = 0; k < 3; k++) {
            h[3 + k] = (unsigned char)(c >> (8 * k));
            h[6 + k] = (unsigned char)(n >> (8 * k));
        }
        out->len = at + DN_ROOTZIP_HEADER + c;
        done += n;
    }
    if (!dn_root_wbuf_ok(out))
        return dn_err_set(err, DN_ENOMEM, "out of memory compressing %zu bytes", len);
    if (compressed)
        *compressed = 1;
    return DN_OK;
}
