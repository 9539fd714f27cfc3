/* json.h: a small strict JSON (RFC 8259) parser into a read-only tree, and a
 * writer for strings, numbers and whole values.
 *
 * The parser accepts exactly RFC 8259 JSON: one value with optional whitespace
 * around it (a leading UTF-8 byte order mark is skipped, as the RFC allows).
 * It rejects trailing commas, comments, single quotes, NaN/Infinity, leading
 * zeros, numbers beyond the double range, control characters and invalid UTF-8
 * in strings, lone surrogates in \u escapes, and nesting deeper than
 * DN_JSON_MAX_DEPTH. Errors say where: "line 3, column 14: expected ',' or '}'"
 * (lines and columns count from 1; columns count bytes).
 *
 * A parsed document owns every value and string in it (one arena); pointers
 * returned by the accessors live until dn_json_destroy(). Objects keep their
 * members in document order; duplicate keys are kept, and dn_json_get() finds
 * the first. Strings are decoded to NUL-terminated UTF-8 (a \u0000 escape ends
 * the C string early: use dn_json_string_len() for the full length; keys are
 * compared and written as C strings, so a key holding \u0000 is cut there).
 *
 * Accessors accept NULL and values of the wrong type and then return a neutral
 * result (type DN_JSON_ABSENT, length 0, NULL, NaN), so lookups chain:
 *     dn_json_number(dn_json_get(dn_json_get(root, "axis"), "lower"))
 * is NaN when any step is missing (a JSON number is never NaN, except with
 * DN_JSON_ALLOW_NONFINITE: then check the type).
 *
 * Thread rules: a parsed document is immutable, so any number of threads may
 * read it; destroy it once, from one thread. */
#ifndef DN_JSON_H
#define DN_JSON_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"

#define DN_JSON_MAX_DEPTH 256

typedef struct dn_json_t dn_json_t;             /* a parsed document */
typedef struct dn_json_value_t dn_json_value_t; /* one value inside it */

typedef enum {
    DN_JSON_ABSENT = 0, /* the "type" of a NULL value pointer */
    DN_JSON_NULL,
    DN_JSON_BOOL,
    DN_JSON_NUMBER,
    DN_JSON_STRING,
    DN_JSON_ARRAY,
    DN_JSON_OBJECT,
} dn_json_type_t;

/* Parses `len` bytes of `text` (need not be NUL-terminated). On success *out
 * is a new document the caller owns (dn_json_destroy). Returns 0, DN_EFORMAT
 * (*err: "line L, column C: problem"), DN_ERANGE (a number beyond the double
 * range, same form) or DN_ENOMEM; on failure *out is NULL. */
int dn_json_parse(const char *text, size_t len, dn_json_t **out, dn_err_t *err);

/* Reads and parses the file `path`; error messages are prefixed with the path
 * ("meta.json: line 3, column 14: ..."). Returns as dn_json_parse, or DN_EIO. */
int dn_json_parse_file(const char *path, dn_json_t **out, dn_err_t *err);

/* As dn_json_parse / dn_json_parse_file with flags. DN_JSON_ALLOW_NONFINITE
 * also accepts the tokens NaN, Infinity and -Infinity as numbers (what Python's
 * json module writes for non-finite floats), so that a reader can name the
 * offending value instead of rejecting the whole document. */
#define DN_JSON_ALLOW_NONFINITE 1
int dn_json_parse_ex(const char *text, size_t len, int flags, dn_json_t **out,
                     dn_err_t *err);
int dn_json_parse_file_ex(const char *path, int flags, dn_json_t **out, dn_err_t *err);

/* Frees *self_p and everything in it; accepts NULL and *self_p == NULL; sets
 * *self_p to NULL. */
void dn_json_destroy(dn_json_t **self_p);

/* The top-level value of a document (owned by it); NULL when doc is NULL. */
const dn_json_value_t *dn_json_root(const dn_json_t *doc);

/* Type of v; DN_JSON_ABSENT when v is NULL. */
dn_json_type_t dn_json_type(const dn_json_value_t *v);

/* Name of a type for messages: "null", "boolean", "number", "string",
 * "array", "object", or "nothing" for DN_JSON_ABSENT. */
const char *dn_json_type_name(dn_json_type_t type);

/* The same with its article, for messages: "a number", "an array", "null";
 * "nothing" for a type that is not one of the six. */
const char *dn_json_type_article(dn_json_type_t type);

/* Member `key` of object v (first one if repeated; linear search), or NULL
 * when v is not an object or has no such member. */
const dn_json_value_t *dn_json_get(const dn_json_value_t *v, const char *key);

/* Number of elements of an array (0 for anything else). */
size_t dn_json_array_len(const dn_json_value_t *v);

/* Element i of an array, NULL when out of range or v is not an array. */
const dn_json_value_t *dn_json_array_at(const dn_json_value_t *v, size_t i);

/* Number of members of an object (0 for anything else). */
size_t dn_json_object_len(const dn_json_value_t *v);

/* Key (decoded, NUL-terminated) and value of member i of an object in
 * document order; NULL when out of range or v is not an object. */
const char *dn_json_object_key_at(const dn_json_value_t *v, size_t i);
const dn_json_value_t *dn_json_object_value_at(const dn_json_value_t *v, size_t i);

/* The number v holds, NaN when v is not a number. */
double dn_json_number(const dn_json_value_t *v);

/* 1 for true, 0 for false, -1 when v is not a boolean. */
int dn_json_bool(const dn_json_value_t *v);

/* The decoded string (NUL-terminated UTF-8) and its length in bytes; NULL and
 * 0 when v is not a string. */
const char *dn_json_string(const dn_json_value_t *v);
size_t dn_json_string_len(const dn_json_value_t *v);

/* Copies the array of numbers obj[key] into a new buffer *values_out (the
 * caller frees it; never NULL on success, even for an empty array) of
 * *n_out elements. Returns 0; DN_ENOTFOUND ("missing key \"bin_edges\"") when
 * obj is not an object or lacks the key; DN_EFORMAT when the member is not an
 * array ("key \"bin_edges\": expected an array, found a string") or an element
 * is not a number ("key \"bin_edges\": element 3: expected a number, found
 * null"); DN_ENOMEM. On failure *values_out is NULL and *n_out 0. */
int dn_json_get_numbers(const dn_json_value_t *obj, const char *key, double **values_out,
                        size_t *n_out, dn_err_t *err);

/* Formats x into buf (at least DN_JSON_NUMBER_MAX bytes) as the shortest of
 * %.15g, %.16g, %.17g that reads back to the same double, so integers print
 * as integers and every finite double round-trips bit for bit. Non-finite
 * values give "null" (JSON has no NaN or infinity). Returns the length. */
#define DN_JSON_NUMBER_MAX 32
int dn_json_format_number(char *buf, double x);

/* Writes x as a JSON number (dn_json_format_number). Returns 0 or DN_EIO. */
int dn_json_write_number(FILE *f, double x);

/* Writes the NUL-terminated UTF-8 string s as a quoted JSON string, escaping
 * '"', '\\' and control characters. A byte that does not start a well-formed
 * UTF-8 sequence (a damaged or hostile name) is written as \ufffd, the
 * replacement character, so the output is always valid JSON. Returns 0 or
 * DN_EIO. */
int dn_json_write_string(FILE *f, const char *s);

/* Same for a string of len bytes that may contain NUL (written as \u0000). */
int dn_json_write_string_len(FILE *f, const char *s, size_t len);

/* Writes v compactly (", " and ": " separators, no newlines) so that parsing
 * the output gives back the same tree. Returns 0, DN_EIO, or DN_EINVAL when v
 * is NULL. */
int dn_json_write_value(FILE *f, const dn_json_value_t *v);

#endif
