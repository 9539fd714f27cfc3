/* rootzip.h: ROOT's compressed payloads, in the four algorithms ROOT writes.
 *
 * A compressed object is a sequence of blocks; each holds at most 16 MiB - 1
 * bytes of the object (DN_ROOTZIP_BLOCK_MAX) and starts with a 9-byte header:
 * two letters naming the algorithm, one method byte, the compressed size (3
 * bytes, little-endian, the bytes after the header) and the uncompressed size
 * (3 bytes, little-endian). The letters:
 *   "ZL"  zlib: a zlib stream (RFC 1950)            ROOT algorithm 1
 *   "XZ"  LZMA: an xz stream                        ROOT algorithm 2
 *   "CS"  ROOT's old deflate: a raw deflate stream  ROOT algorithm 3 (read only)
 *   "L4"  LZ4: an 8-byte big-endian XXH64 of the compressed bytes (seed 0),
 *         then one raw LZ4 block                    ROOT algorithm 4
 *   "ZS"  ZSTD: a zstd frame                        ROOT algorithm 5
 * Blocks are concatenated until the object's length (the key's fObjlen) is
 * reached. An object that did not shrink is stored as is, with no header.
 *
 * Decompression checks every block: header inside the input, sizes adding up
 * exactly to the declared length, each block producing exactly its declared
 * size, the LZ4 checksum; a failure names the block and the reason.
 *
 * Compression settings are ROOT's: algorithm * 100 + level (1..9), so 101 is
 * zlib level 1, 404 LZ4 level 4, 505 ZSTD level 5, 207 LZMA level 7; 0 stores
 * uncompressed.
 *
 * Thread rules: no shared state; call from any thread. */
#ifndef DN_ROOTZIP_H
#define DN_ROOTZIP_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "rootbuf.h"

#define DN_ROOTZIP_HEADER 9
#define DN_ROOTZIP_BLOCK_MAX 0xFFFFFFu

enum {
    DN_ROOTZIP_ZLIB = 1,
    DN_ROOTZIP_LZMA = 2,
    DN_ROOTZIP_OLD = 3,
    DN_ROOTZIP_LZ4 = 4,
    DN_ROOTZIP_ZSTD = 5,
};

/* Walks the block headers of the srclen bytes at src without decompressing:
 * each header must lie inside src, the blocks must end exactly at srclen and
 * their uncompressed sizes add up to dstlen. Lets a reader refuse a hostile
 * length before allocating dstlen bytes. Returns 0 or DN_EFORMAT (*err says
 * which block and what). */
int dn_rootzip_check(const unsigned char *src, size_t srclen, size_t dstlen, dn_err_t *err);

/* Decompresses the blocks of src into exactly dstlen bytes at dst. Returns 0,
 * DN_EFORMAT (a header or a stream is wrong, a block gives a different
 * length, an LZ4 checksum differs: *err names the block's number and offset
 * and the library's reason) or DN_ENOMEM (a decoder could not allocate). */
int dn_rootzip_inflate(const unsigned char *src, size_t srclen, unsigned char *dst,
                       size_t dstlen, dn_err_t *err);

/* Appends to out the len bytes of src compressed with `setting` (see above),
 * in blocks of at most DN_ROOTZIP_BLOCK_MAX bytes; when the result would not
 * be shorter than src (or setting is 0) appends src itself. *compressed
 * (nullable) is set to 1 when blocks were written, 0 when src was. Returns 0,
 * DN_EINVAL (unknown algorithm or level outside 1..9; *err says which) or
 * DN_ENOMEM. */
int dn_rootzip_deflate(int setting, const unsigned char *src, size_t len, dn_root_wbuf_t *out,
                       int *compressed, dn_err_t *err);

/* XXH64 of the n bytes at p with seed: the checksum of ROOT's LZ4 blocks. */
uint64_t dn_xxh64(const void *p, size_t n, uint64_t seed);

#endif
