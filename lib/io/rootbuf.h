/* rootbuf.h: the byte level of ROOT's serialisation: bounded big-endian
 * reading of a buffer taken from a file, and a growable buffer to write one.
 *
 * ROOT writes every number big-endian; strings as a TString (one length byte,
 * or 255 and a 4-byte length, then the bytes, no NUL); and every versioned
 * object behind a header: a 4-byte byte count with bit 30 set (kByteCountMask,
 * the count of the bytes after it) and a 2-byte class version. Some old or
 * custom streamers write the version alone (no count). The byte count is what
 * lets a reader skip the members it does not need: dn_root_rbuf_version() gives the
 * end of the object and dn_root_rbuf_leave() jumps there.
 *
 * Reading never goes past the buffer. The first read that would sets the
 * buffer's `failed` flag and a sentence in `why` ("need 8 bytes at offset 120,
 * 100 in the buffer"); from then on every read returns 0 and the position no
 * longer moves, so a decoder reads a whole group of members and checks once.
 * Callers prefix `why` with the file and the key (rootfile.h).
 *
 * A write buffer grows by doubling; an allocation failure sets its `failed`
 * flag and later writes do nothing, checked once at the end (dn_root_wbuf_ok).
 *
 * Thread rules: a buffer belongs to one thread at a time; no global state. */
#ifndef DN_ROOTBUF_H
#define DN_ROOTBUF_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define DN_ROOT_BYTECOUNT_MASK 0x40000000u /* kByteCountMask */
#define DN_ROOT_NEW_CLASS_TAG 0xFFFFFFFFu  /* kNewClassTag */
#define DN_ROOT_CLASS_MASK 0x80000000u     /* kClassMask */
#define DN_ROOT_MAP_OFFSET 2u              /* kMapOffset */

typedef struct dn_root_rbuf_t {
    const unsigned char *data;
    size_t len;
    size_t pos;
    int failed;     /* sticky: set by the first read out of bounds */
    char why[160];  /* what failed first, NUL-terminated */
} dn_root_rbuf_t;

/* The header of one versioned object. */
typedef struct dn_root_vers_t {
    int version;   /* class version (0..32767) */
    size_t start;  /* offset of the header */
    size_t end;    /* offset just past the object; 0 when there is no count */
} dn_root_vers_t;

/* Reads from the len bytes at data (not copied; they must outlive b). */
void dn_root_rbuf_init(dn_root_rbuf_t *b, const void *data, size_t len);

/* Marks b failed with the printf-formatted reason unless it already is (the
 * first reason is kept). Returns DN_EFORMAT. */
int dn_root_rbuf_fail(dn_root_rbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bytes left after the current position (0 once failed). */
size_t dn_root_rbuf_left(const dn_root_rbuf_t *b);

/* Fixed-width big-endian values; 0 after a failure. */
uint8_t dn_root_rbuf_u8(dn_root_rbuf_t *b);
uint16_t dn_root_rbuf_u16(dn_root_rbuf_t *b);
uint32_t dn_root_rbuf_u32(dn_root_rbuf_t *b);
uint64_t dn_root_rbuf_u64(dn_root_rbuf_t *b);
int16_t dn_root_rbuf_i16(dn_root_rbuf_t *b);
int32_t dn_root_rbuf_i32(dn_root_rbuf_t *b);
int64_t dn_root_rbuf_i64(dn_root_rbuf_t *b);
float dn_root_rbuf_f32(dn_root_rbuf_t *b);
double dn_root_rbuf_f64(dn_root_rbuf_t *b);

/* Moves forward n bytes, or to the absolute offset pos (pos <= len). Return 0
 * or DN_EFORMAT (b failed). */
int dn_root_rbuf_skip(dn_root_rbuf_t *b, size_t n);
int dn_root_rbuf_seek(dn_root_rbuf_t *b, size_t pos);

/* *p points at the next n bytes inside the buffer (not copied); moves past
 * them. Returns 0 or DN_EFORMAT (failed; *p NULL). */
int dn_root_rbuf_bytes(dn_root_rbuf_t *b, size_t n, const unsigned char **p);

/* A TString: *s points at its *n bytes inside the buffer (not NUL-terminated).
 * Returns 0 or DN_EFORMAT. */
int dn_root_rbuf_tstring(dn_root_rbuf_t *b, const char **s, size_t *n);

/* Same, copied into a new NUL-terminated string the caller frees. Returns 0,
 * DN_EFORMAT or DN_ENOMEM (b is marked failed too). */
int dn_root_rbuf_tstring_dup(dn_root_rbuf_t *b, char **out);

/* An object header. With a byte count, v->end is checked to lie inside the
 * buffer and after the version; without one v->end is 0. Returns 0 or
 * DN_EFORMAT. */
int dn_root_rbuf_version(dn_root_rbuf_t *b, dn_root_vers_t *v);

/* Jumps to the end of the object v opened, skipping what was not read; an
 * object without a byte count stays where it is. Fails when the members read
 * already ran past the end the count declares. `what` names the object in
 * the message ("TAxis"). Returns 0 or DN_EFORMAT. */
int dn_root_rbuf_leave(dn_root_rbuf_t *b, const dn_root_vers_t *v, const char *what);

/* n elements of a fixed-width big-endian array converted to double into
 * out[n]: elem_size 1 (signed char), 2 (short), 4 (int or, with is_float,
 * float), 8 (double). Checks the n * elem_size bytes are there before reading
 * any. Returns 0 or DN_EFORMAT. */
int dn_root_rbuf_array(dn_root_rbuf_t *b, size_t n, int elem_size, int is_float, double *out);

typedef struct dn_root_wbuf_t {
    unsigned char *data;
    size_t len;
    size_t cap;
    int failed; /* an allocation failed: the content is incomplete */
} dn_root_wbuf_t;

/* An empty buffer (no allocation yet). */
void dn_root_wbuf_init(dn_root_wbuf_t *w);

/* Frees the bytes; w is empty afterwards. */
void dn_root_wbuf_free(dn_root_wbuf_t *w);

/* 1 when every write so far succeeded. */
int dn_root_wbuf_ok(const dn_root_wbuf_t *w);

/* Makes room for n more bytes; returns a pointer to them (the length grows by
 * n) or NULL (w failed). */
unsigned char *dn_root_wbuf_grow(dn_root_wbuf_t *w, size_t n);

void dn_root_wbuf_bytes(dn_root_wbuf_t *w, const void *p, size_t n);
void dn_root_wbuf_u8(dn_root_wbuf_t *w, uint8_t v);
void dn_root_wbuf_u16(dn_root_wbuf_t *w, uint16_t v);
void dn_root_wbuf_u32(dn_root_wbuf_t *w, uint32_t v);
void dn_root_wbuf_u64(dn_root_wbuf_t *w, uint64_t v);
void dn_root_wbuf_f32(dn_root_wbuf_t *w, float v);
void dn_root_wbuf_f64(dn_root_wbuf_t *w, double v);

/* A TString of the NUL-terminated s. */
void dn_root_wbuf_tstring(dn_root_wbuf_t *w, const char *s);

/* Overwrites the 4 bytes at offset at (at + 4 <= len) with v, big-endian. */
void dn_root_wbuf_patch_u32(dn_root_wbuf_t *w, size_t at, uint32_t v);

/* Opens a versioned object: a byte-count placeholder and the version. Returns
 * the offset to give dn_root_wbuf_end_object(), which writes the count. */
size_t dn_root_wbuf_begin_object(dn_root_wbuf_t *w, int version);
void dn_root_wbuf_end_object(dn_root_wbuf_t *w, size_t at);

/* A TObject (version 1, fUniqueID 0, fBits `bits`: ROOT writes 0x03000000,
 * kNotDeleted | kIsOnHeap) and a TNamed (version 1 with its count, a
 * TObject, name and title). */
void dn_root_wbuf_tobject(dn_root_wbuf_t *w, uint32_t bits);
void dn_root_wbuf_tnamed(dn_root_wbuf_t *w, const char *name, const char *title);

#endif
