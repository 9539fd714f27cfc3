/* error.h: the error codes of libdinamo and the detail buffer that goes with them.
 *
 * Every function of the library that can fail returns int: 0 (DN_OK) on success,
 * or one of the negative DN_E* codes below. dn_strerror() names a code. Functions
 * that read user input (files, messages, command-line values) also take a
 * `dn_err_t *err` as their last parameter (may be NULL) and write into it a
 * sentence naming what was wrong and where: "runs.csv:17: column b42: negative
 * count -3". Nothing in lib/ prints, exits or asserts on a runtime failure.
 *
 * Thread rules: dn_strerror() returns static strings; a dn_err_t belongs to its
 * caller and is never shared. */
#ifndef DN_ERROR_H
#define DN_ERROR_H

#include <stddef.h>

enum {
    DN_OK = 0,
    DN_ENOMEM = -1001,    /* allocation failed */
    DN_EINVAL = -1002,    /* invalid argument or parameter value */
    DN_EIO = -1003,       /* the operating system refused (errno in the detail) */
    DN_EFORMAT = -1004,   /* malformed input: syntax, missing field, wrong length */
    DN_ERANGE = -1005,    /* a value out of its domain: NaN, infinite, negative count */
    DN_EEMPTY = -1006,    /* histogram without entries: insufficient statistics */
    DN_ENOTFOUND = -1007, /* no such key, file or record */
    DN_ESTATE = -1008,    /* call not valid in the object's current state */
    DN_EMISMATCH = -1009, /* dimensions disagree (bin count, architecture, version) */
    DN_ENOSPACE = -1010,  /* no room to write: the disk (or a file size limit) or a store's map */
    DN_EPERM = -1011,     /* refused: wrong credentials, or not allowed to */
};

#define DN_ERRMSG_MAX 512

/* Detail of the last error of a call: a complete sentence, NUL-terminated. */
typedef struct dn_err_t {
    int code;
    char msg[DN_ERRMSG_MAX];
} dn_err_t;

/* Returns a static description of `code` (any int, including unknown codes). */
const char *dn_strerror(int code);

/* Records `code` and the printf-formatted message in *err (err may be NULL) and
 * returns `code`, so that a failure reads `return dn_err_set(err, DN_EFORMAT, ...)`. */
int dn_err_set(dn_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in *err with the printf-formatted context and
 * ": " (e.g. the file name). Returns err->code (DN_OK when err is NULL). */
int dn_err_prefix(dn_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears *err (err may be NULL). */
void dn_err_clear(dn_err_t *err);

#endif
