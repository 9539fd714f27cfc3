/* test_rootzip.c: ROOT's compressed blocks: XXH64 against its published
 * values and against zstd's frame checksum (an independent XXH64), every
 * algorithm round-tripping data of two 16 MiB blocks and more, data that
 * does not shrink stored as is, and damaged input (a cut block, wrong
 * sizes, an unknown algorithm, a flipped byte under an LZ4 checksum or in a
 * zlib stream) refused with the block and the reason named. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "rng.h"
#include "rootzip.h"

Test(rootzip, xxh64_matches_its_reference_values)
{
    cr_assert_eq(dn_xxh64("", 0, 0), 0xEF46DB3751D8E999ull);
    cr_assert_eq(dn_xxh64("abc", 3, 0), 0x44BC2CF5AD770999ull);
    /* zstd frames end with the low 32 bits of XXH64(content, 0): an
     * independent implementation, for lengths across the 32-byte stripes */
    dn_rng_t rng;
    dn_rng_seed(&rng, 5);
    unsigned char data[300], frame[1024];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)dn_rng_below(&rng, 256);
    ZSTD_CCtx *cx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cx, ZSTD_c_checksumFlag, 1);
    for (size_t n = 0; n <= sizeof data; n += 7) {
        size_t len = ZSTD_compress2(cx, frame, sizeof frame, data, n);
        cr_assert(!ZSTD_isError(len));
        uint32_t want = (uint32_t)frame[len - 4] | (uint32_t)frame[len - 3] << 8 |
                        (uint32_t)frame[len - 2] << 16 | (uint32_t)frame[len - 1] << 24;
        cr_assert_eq((uint32_t)dn_xxh64(data, n, 0), want, "length %zu", n);
    }
    ZSTD_freeCCtx(cx);
}

/* Compressible data: runs and small numbers, as histograms are. */
static unsigned char *sample(size_t n, uint64_t seed)
{
    unsigned char *p = malloc(n);
    dn_rng_t rng;
    dn_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        p[i] = i % 8 < 5 ? 0 : (unsigned char)dn_rng_below(&rng, 16);
    return p;
}

Test(rootzip, every_algorithm_round_trips_several_blocks, .timeout = 300)
{
    static const int settings[] = {101, 106, 201, 401, 409, 501, 509};
    size_t n = 2 * (size_t)DN_ROOTZIP_BLOCK_MAX + 12345;
    unsigned char *src = sample(n, 1), *back = malloc(n);
    for (size_t s = 0; s < sizeof settings / sizeof *settings; s++) {
        dn_root_wbuf_t w;
        dn_root_wbuf_init(&w);
        int compressed = -1;
        dn_err_t err = {0};
        cr_assert_eq(dn_rootzip_deflate(settings[s], src, n, &w, &compressed, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(compressed, 1, "setting %d", settings[s]);
        cr_assert_lt(w.len, n / 2, "setting %d: %zu bytes", settings[s], w.len);
        static const char *const tag[] = {"", "ZL", "XZ", "", "L4", "ZS"};
        cr_assert_eq(memcmp(w.data, tag[settings[s] / 100], 2), 0);
        cr_assert_eq(dn_rootzip_check(w.data, w.len, n, &err), 0, "%s", err.msg);
        memset(back, 0xaa, n);
        cr_assert_eq(dn_rootzip_inflate(w.data, w.len, back, n, &err), 0, "%d: %s",
                     settings[s], err.msg);
        cr_assert_eq(memcmp(src, back, n), 0, "setting %d differs", settings[s]);
        dn_root_wbuf_free(&w);
    }
    free(src);
    free(back);
}

Test(rootzip, data_that_does_not_shrink_is_stored_as_is)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 3);
    unsigned char noise[4096];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (unsigned char)dn_rng_below(&rng, 256);
    for (int algo = 1; algo <= 5; algo += (algo == 2 ? 2 : 1)) {
        dn_root_wbuf_t w;
        dn_root_wbuf_init(&w);
        int compressed = -1;
        cr_assert_eq(dn_rootzip_deflate(algo * 100 + 1, noise, sizeof noise, &w, &compressed,
                                        NULL), 0);
        cr_assert_eq(compressed, 0, "algorithm %d", algo);
        cr_assert_eq(w.len, sizeof noise);
        cr_assert_eq(memcmp(w.data, noise, sizeof noise), 0);
        dn_root_wbuf_free(&w);
    }
    dn_err_t err = {0};
    dn_root_wbuf_t w;
    dn_root_wbuf_init(&w);
    cr_assert_eq(dn_rootzip_deflate(310, noise, 10, &w, NULL, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "compression setting 310"), "%s", err.msg);
    dn_root_wbuf_free(&w);
}

/* One zlib-compressed block of 1000 bytes of sample data into w; returns n. */
static size_t one_block(int setting, dn_root_wbuf_t *w, unsigned char **src)
{
    size_t n = 1000;
    *src = sample(n, 2);
    dn_root_wbuf_init(w);
    int compressed;
    cr_assert_eq(dn_rootzip_deflate(setting, *src, n, w, &compressed, NULL), 0);
    cr_assert_eq(compressed, 1);
    return n;
}

static void refused(const unsigned char *z, size_t zlen, size_t n, const char *want)
{
    unsigned char *out = malloc(n);
    dn_err_t err = {0};
    cr_assert_eq(dn_rootzip_inflate(z, zlen, out, n, &err), DN_EFORMAT, "accepted: %s", want);
    cr_assert(strstr(err.msg, want), "\"%s\" not in \"%s\"", want, err.msg);
    free(out);
}

Test(rootzip, damaged_blocks_are_refused_by_name)
{
    dn_root_wbuf_t w;
    unsigned char *src;
    size_t n = one_block(101, &w, &src);
    refused(w.data, 5, n, "compressed block 1 at offset 0: its 9-byte header is cut");
    refused(w.data, w.len - 1, n, "declares");
    refused(w.data, w.len, n + 10, "compressed block 2 at offset"); /* 1000 of 1010 */
    refused(w.data, w.len, n - 10, "declares 1000 bytes, the object has 990 left");
    unsigned char *copy = malloc(w.len);
    memcpy(copy, w.data, w.len);
    copy[0] = 'Q';
    refused(copy, w.len, n, "unknown algorithm bytes 0x51 0x4c");
    memcpy(copy, w.data, w.len);
    copy[DN_ROOTZIP_HEADER + 10] ^= 0x55;
    refused(copy, w.len, n, "compressed block 1 at offset 0: zlib");
    /* two blocks declared, data for one */
    unsigned char two[4096];
    memcpy(two, w.data, w.len);
    memcpy(two + w.len, w.data, 9);
    refused(two, w.len + 9, 2 * n, "compressed block 2");
    free(copy);
    free(src);
    dn_root_wbuf_free(&w);
    n = one_block(404, &w, &src);
    copy = malloc(w.len);
    memcpy(copy, w.data, w.len);
    copy[w.len - 3] ^= 1; /* inside the LZ4 data, under the checksum */
    refused(copy, w.len, n, "LZ4 checksum");
    free(copy);
    free(src);
    dn_root_wbuf_free(&w);
}
