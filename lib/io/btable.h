/* btable.h: a numeric CSV table, as `dinamo bench` writes its per-dataset
 * metrics and summaries and `dinamo report --bench` reads them back: a header
 * line of distinct column names, then rows of numbers.
 *
 * The reader is strict because its input is a file a person may have edited
 * or a copy cut short: a row that does not parse is an error naming the file
 * and line, never a NaN quietly averaged in.
 *
 * Thread rules: a table is immutable once read; any number of threads may
 * read one. */
#ifndef DN_BTABLE_H
#define DN_BTABLE_H

#include <stddef.h>

#include "error.h"

typedef struct dn_btable_t dn_btable_t;

/* Parses len bytes of CSV named name (for messages): a header line of
 * distinct non-empty column names, then rows of exactly as many fields, each
 * a finite or infinite number as strtod reads it, nan, or empty (NaN); CRLF
 * accepted; every line, the last too, ends with a newline (a file cut short
 * is refused, not half read); no quotes. Returns 0 with *out, DN_EFORMAT
 * ("NAME:LINE: what"), DN_ENOMEM. */
int dn_btable_parse(const char *buf, size_t len, const char *name, dn_btable_t **out,
                    dn_err_t *err);

/* dn_btable_parse of the file at path. Also DN_EIO / DN_ENOTFOUND. */
int dn_btable_read(const char *path, dn_btable_t **out, dn_err_t *err);

void dn_btable_destroy(dn_btable_t **self_p);

int dn_btable_rows(const dn_btable_t *self);
int dn_btable_cols(const dn_btable_t *self);
const char *dn_btable_name(const dn_btable_t *self, int col);
/* The column named name, or -1. */
int dn_btable_find(const dn_btable_t *self, const char *name);
/* Column col's values [rows]. */
const double *dn_btable_column(const dn_btable_t *self, int col);
/* DN_EFORMAT ("NAME: no column 'x'") unless every one of names[n] is there. */
int dn_btable_require(const dn_btable_t *self, const char *const *names, int n, dn_err_t *err);

#endif
