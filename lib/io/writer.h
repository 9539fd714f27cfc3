/* writer.h: the one way dinamo writes JSON and CSV, so that every name that
 * reaches a file (histogram keys, subsystems, who gave a label and why) is
 * escaped, and every file parses back to what was written.
 *
 * Histogram keys come from outside: UHI and ROOT names may hold '"', '\\',
 * ',' and any UTF-8, and free-text fields (a shifter's reason) also line
 * breaks. Written by hand, such a name made metrics.json invalid JSON and
 * shifted the columns of a CSV row.
 *
 *   - dn_jw_t writes one JSON value (RFC 8259) as a sequence of calls:
 *     containers, keys and scalars. It places the ", " and ": " separators
 *     itself (the compact style of json.h's dn_json_write_value, which every
 *     JSON file of dinamo has used) and escapes every key and string with
 *     dn_json_write_string. Non-finite numbers are written as null.
 *   - dn_csv_t writes rows of fields. A text field is quoted as RFC 4180 says
 *     when it holds a comma, a double quote, CR or LF (quotes inside doubled);
 *     otherwise it is written as it is, so plain names stay plain for awk and
 *     the shell. Rows end with LF (what every reader, RFC 4180 ones included,
 *     accepts; dinamo's files always used it). A missing number (NAN) is an
 *     empty field.
 *
 * Both are cursors over a FILE the caller owns (a dn_outfile_t's stream for
 * a file committed atomically): plain structs on the caller's stack, set up
 * by dn_jw_init / dn_csv_init, nothing to free. Errors are sticky: the first
 * one (DN_EIO for a failed write, DN_EINVAL for a call out of place, such as
 * a value in an object without its key) is kept, later calls write nothing
 * and return it, so a writer may check once at the end.
 *
 * Thread rules: a cursor belongs to one thread. */
#ifndef DN_WRITER_H
#define DN_WRITER_H

#include <stdint.h>
#include <stdio.h>

/* ---- JSON ------------------------------------------------------------------ */

#define DN_JW_MAX_DEPTH 32

typedef struct dn_jw_t {
    FILE *f;
    int depth;                           /* containers open */
    char kind[DN_JW_MAX_DEPTH];          /* '{' or '[' per open container */
    unsigned char filled[DN_JW_MAX_DEPTH]; /* the container has a member already */
    int keyed;                           /* a key was written: its value is next */
    int done;                            /* the top-level value is complete */
    int rc;                              /* first error; 0 */
} dn_jw_t;

/* Starts writing one JSON value to f. */
void dn_jw_init(dn_jw_t *w, FILE *f);

/* Open an object or an array as the next value; dn_jw_end closes the
 * innermost one. Return 0, DN_EINVAL (out of place, or deeper than
 * DN_JW_MAX_DEPTH), DN_EIO. */
int dn_jw_object(dn_jw_t *w);
int dn_jw_array(dn_jw_t *w);
int dn_jw_end(dn_jw_t *w);

/* The next member's key (escaped); only inside an object, before its value.
 * Returns 0, DN_EINVAL (not in an object, a key already pending, key NULL),
 * DN_EIO. */
int dn_jw_key(dn_jw_t *w, const char *key);

/* Scalars as the next value. A string is escaped (quote, backslash and every
 * control character; UTF-8 passes through); NULL writes null. A number is
 * the shortest text that reads back to the same double (json.h's
 * dn_json_format_number); dn_jw_fixed writes `decimals` digits after the
 * point (printf's %.*f). Non-finite numbers write null. Each returns 0,
 * DN_EINVAL (out of place), DN_EIO. */
int dn_jw_string(dn_jw_t *w, const char *s);
int dn_jw_number(dn_jw_t *w, double x);
int dn_jw_fixed(dn_jw_t *w, double x, int decimals);
int dn_jw_int(dn_jw_t *w, long long v);
int dn_jw_bool(dn_jw_t *w, int b);
int dn_jw_null(dn_jw_t *w);

/* Ends the document with a newline. Returns the sticky error, DN_EINVAL when
 * a container is still open or no value was written, else 0. */
int dn_jw_finish(dn_jw_t *w);

/* ---- CSV ------------------------------------------------------------------- */

typedef struct dn_csv_t {
    FILE *f;
    int col; /* fields written in the current row */
    int rc;  /* first error; 0 */
} dn_csv_t;

/* Starts writing rows to f. */
void dn_csv_init(dn_csv_t *w, FILE *f);

/* A text field: NULL or "" is an empty field; quoted (RFC 4180) only when it
 * holds ',', '"', CR or LF. Returns 0 or DN_EIO (sticky). */
int dn_csv_field(dn_csv_t *w, const char *s);

/* A text field always in quotes (NULL: ""), for free-text columns whose
 * readers have always found them quoted (labels.csv's who and reason).
 * Returns 0 or DN_EIO. */
int dn_csv_quoted(dn_csv_t *w, const char *s);

/* Numbers: integers in decimal; a double as %.17g (reads back exactly) or
 * with `decimals` digits after the point; NAN as an empty field, infinities
 * as printf writes them ("inf", "-inf"). Return 0 or DN_EIO. */
int dn_csv_int(dn_csv_t *w, long long v);
int dn_csv_uint(dn_csv_t *w, unsigned long long v);
int dn_csv_double(dn_csv_t *w, double x);
int dn_csv_fixed(dn_csv_t *w, double x, int decimals);

/* An empty field. Returns 0 or DN_EIO. */
int dn_csv_empty(dn_csv_t *w);

/* Ends the row (LF). Returns the sticky error or 0. */
int dn_csv_end_row(dn_csv_t *w);

/* A header row from the comma-separated column names in `names` (each one
 * written as a field; names hold no comma or quote by construction), ended.
 * Returns as dn_csv_end_row. */
int dn_csv_header(dn_csv_t *w, const char *names);

#endif
