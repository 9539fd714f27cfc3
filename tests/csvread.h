/* csvread.h: a strict RFC 4180 reader for the tests that check dinamo's CSV
 * files parse back (test_writer, test_evaluator): fields separated by
 * commas, rows ended by LF or CRLF, a field either plain (no quote, comma or
 * line break in it) or in double quotes with quotes inside doubled and
 * anything else, line breaks included, kept as it is. A quote inside a plain
 * field, text after a closing quote or an unterminated quote is an error.
 *
 *     csv_doc_t doc;
 *     cr_assert_eq(csv_parse(text, len, &doc), 0, "%s", doc.error);
 *     ... doc.rows[r].fields[c], doc.rows[r].n ...
 *     csv_free(&doc);
 *
 * Everything is allocated; csv_free releases it. */
#ifndef DN_TEST_CSVREAD_H
#define DN_TEST_CSVREAD_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct csv_row_t {
    char **fields;
    int n;
} csv_row_t;

typedef struct csv_doc_t {
    csv_row_t *rows;
    int n_rows;
    char error[128];
} csv_doc_t;

static inline void csv_free(csv_doc_t *doc)
{
    for (int r = 0; r < doc->n_rows; r++) {
        for (int c = 0; c < doc->rows[r].n; c++)
            free(doc->rows[r].fields[c]);
        free(doc->rows[r].fields);
    }
    free(doc->rows);
    doc->rows = NULL;
    doc->n_rows = 0;
}

static inline void csv_push_field(csv_doc_t *doc, const char *text, size_t n)
{
    csv_row_t *row = &doc->rows[doc->n_rows - 1];
    row->fields = realloc(row->fields, sizeof(char *) * (size_t)(row->n + 1));
    row->fields[row->n] = malloc(n + 1);
    memcpy(row->fields[row->n], text, n);
    row->fields[row->n++][n] = '\0';
}

static inline void csv_push_row(csv_doc_t *doc)
{
    doc->rows = realloc(doc->rows, sizeof(csv_row_t) * (size_t)(doc->n_rows + 1));
    doc->rows[doc->n_rows++] = (csv_row_t){NULL, 0};
}

/* Reads a quoted field starting after its opening quote at *i; 0 or -1. */
static inline int csv_quoted(csv_doc_t *doc, const char *t, size_t len, size_t *i)
{
    char *buf = malloc(len + 1);
    size_t n = 0;
    for (;;) {
        if (*i >= len) {
            free(buf);
            snprintf(doc->error, sizeof doc->error, "unterminated quote");
            return -1;
        }
        char c = t[(*i)++];
        if (c != '"') {
            buf[n++] = c;
        } else if (*i < len && t[*i] == '"') {
            buf[n++] = '"';
            (*i)++;
        } else {
            break;
        }
    }
    csv_push_field(doc, buf, n);
    free(buf);
    return 0;
}

/* Parses text (len bytes) into *doc. Returns 0, or -1 with doc->error set
 * (the rows read so far stay in doc for csv_free). */
static inline int csv_parse(const char *t, size_t len, csv_doc_t *doc)
{
    memset(doc, 0, sizeof *doc);
    size_t i = 0;
    while (i < len) {
        csv_push_row(doc);
        for (;;) { /* one field, then a comma or the end of the row */
            if (i < len && t[i] == '"') {
                i++;
                if (csv_quoted(doc, t, len, &i))
                    return -1;
            } else {
                size_t s = i;
                while (i < len && t[i] != ',' && t[i] != '\n' && t[i] != '\r') {
                    if (t[i++] == '"') {
                        snprintf(doc->error, sizeof doc->error, "row %d: quote in a plain "
                                 "field", doc->n_rows);
                        return -1;
                    }
                }
                csv_push_field(doc, t + s, i - s);
            }
            if (i < len && t[i] == ',') {
                i++;
                continue;
            }
            if (i + 1 < len && t[i] == '\r' && t[i + 1] == '\n')
                i++;
            if (i < len && t[i] != '\n') {
                snprintf(doc->error, sizeof doc->error, "row %d: text after a field",
                         doc->n_rows);
                return -1;
            }
            i++;
            break;
        }
    }
    return 0;
}

#endif
