/* dataset_io.c: the dataset directory format (runs.csv, truth.csv, meta.json;
 * see dataset.h) written atomically and read strictly.
 *
 * Reading loads each file whole (dn_read_file: NUL-terminated) and scans it in
 * place: lines are found with memchr, fields are split at ',' and converted
 * without allocation (plain integers of up to 15 digits by hand, exactly; other
 * numbers with strtod after checking that the field holds only number
 * characters, so strtod never skips whitespace or reads hex, "nan" or "inf"
 * unnoticed). The number of rows is known from the line count before any row is
 * parsed, so the dataset is allocated once at its final size. Every rejection
 * names the file, the line, the column and the offending text:
 * "dir/runs.csv:17: column b42: negative count -3". CRLF line endings and a
 * last line without newline are accepted; empty lines are not.
 *
 * meta.json: bin_edges (when present) must hold n_bins + 1 strictly increasing
 * values, and n_bins / n_runs (when present) must agree with runs.csv. A 2-D
 * dataset says n_bins_y (dividing n_bins; runs.csv holds each run flattened,
 * dataset.h) and then gives bin_edges for the nx + 1 edges of x and
 * bin_edges_y for the n_bins_y + 1 of y, both or neither. Every
 * other member is kept, re-serialised compactly, in ds->meta_extra, so a
 * dataset read and written again keeps its producer's metadata (its numbers
 * bit for bit; its layout may change). Without meta.json (or without its
 * bin_edges) the edges are the placeholder 0..n_bins, edges_known 0, and are
 * not written back as bin_edges; without meta.json meta_extra is NULL.
 *
 * truth.csv: its columns are found by header name (truth_layout_t), so any
 * order and extra columns of other names (ignored) are accepted; the truth it
 * does not give is marked as dataset.h says (rapid_split_known 0, events and
 * dead_bins -1) and the writer leaves those columns out again. The slow-anomaly
 * columns slow_kind, slow_size and slow_bad come all three or none; without
 * them the dataset's slow arrays are NULL and none is written. Their values
 * are checked row by row: kind 0..3, size finite >= 0, bad 0/1, a run of
 * kind 0 with size 0 and bad 0, and a slow-bad run not labelled good.
 *
 * Writing validates the dataset first (so whatever is written reads back),
 * writes the three files under temporary names, checks that every byte reached
 * the kernel, and only then renames them into place; a dataset without truth
 * removes a stale truth.csv, which would otherwise be read with the new runs.
 * dn_dataset_write_beside writes the same files but labels.csv in place of
 * runs.csv, for datasets whose runs are ROOT files (rootdata.h). */
#include "dataset.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "json.h"

#define SHOW_MAX 40 /* bytes of an offending field quoted in a message */

/* truth.csv's known columns, by name; the first N_TRUTH_REQUIRED must be there. */
static const char *const truth_columns[] = {"run",         "mu",        "sigma",
                                            "rapid_change", "rapid_mu", "rapid_sigma",
                                            "events",       "dead_bins",
                                            "slow_kind",    "slow_size", "slow_bad"};
enum {
    T_RUN, T_MU, T_SIGMA, T_CHANGE, T_RAPID_MU, T_RAPID_SIGMA, T_EVENTS, T_DEAD_BINS,
    T_SLOW_KIND, T_SLOW_SIZE, T_SLOW_BAD,
    N_TRUTH_COLUMNS,
    N_TRUTH_REQUIRED = T_RAPID_MU
};

/* ------------------------------------------------------------ CSV scanner */

typedef struct {
    const char *path;  /* for messages */
    const char *p;     /* start of the next line */
    const char *end;   /* end of the buffer (a NUL is there) */
    long line;         /* number of the current line, 1-based */
    const char *ls;    /* current line: [ls, le), without "\n" or "\r\n" */
    const char *le;
} csv_t;

/* Advances to the next line; 0 at end of input. */
static int csv_next_line(csv_t *c)
{
    if (c->p >= c->end)
        return 0;
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    c->ls = c->p;
    c->le = nl ? nl : c->end;
    c->p = nl ? nl + 1 : c->end;
    if (c->le > c->ls && c->le[-1] == '\r')
        c->le--;
    c->line++;
    return 1;
}

static size_t count_lines(const char *buf, size_t len)
{
    size_t n = 0;
    for (const char *p = buf, *end = buf + len;
         p < end && (p = memchr(p, '\n', (size_t)(end - p))); p++)
        n++;
    if (len && buf[len - 1] != '\n')
        n++;
    return n;
}

static size_t count_fields(const char *ls, const char *le)
{
    size_t n = 1;
    for (const char *p = ls; p < le && (p = memchr(p, ',', (size_t)(le - p))); p++)
        n++;
    return n;
}

/* End of the field starting at s: the next ',' or the line end. */
static inline const char *field_end(const char *s, const char *le)
{
    const char *comma = memchr(s, ',', (size_t)(le - s));
    return comma ? comma : le;
}

static int show_len(const char *s, const char *fe)
{
    return fe - s > SHOW_MAX ? SHOW_MAX : (int)(fe - s);
}

typedef enum { NUM_OK, NUM_EMPTY, NUM_SYNTAX, NUM_NONFINITE } num_status_t;

/* Converts the field [s, fe) to a double. */
static num_status_t parse_double(const char *s, const char *fe, double *out)
{
    if (s == fe)
        return NUM_EMPTY;
    const char *d = s;
    uint64_t v = 0;
    while (d < fe && (unsigned)(*d - '0') <= 9 && d - s < 15)
        v = v * 10 + (uint64_t)(*d++ - '0');
    if (d == fe) { /* up to 15 digits: below 2^53, exact */
        *out = (double)v;
        return NUM_OK;
    }
    int number_chars = 1;
    for (const char *q = s; q < fe; q++) {
        char ch = *q;
        if (!((unsigned)(ch - '0') <= 9 || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' ||
              ch == '-')) {
            number_chars = 0;
            break;
        }
    }
    /* Only called on a field whose first character is not a space, so strtod
     * cannot skip into the next field or line unnoticed: endp must be fe. */
    if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n' || *s == '\v' || *s == '\f')
        return NUM_SYNTAX;
    char *endp;
    double x = strtod(s, &endp);
    if (endp != fe)
        return NUM_SYNTAX;
    if (!isfinite(x))
        return NUM_NONFINITE; /* "nan", "inf", "1e999" */
    if (!number_chars)
        return NUM_SYNTAX; /* hex floats and the like */
    *out = x;
    return NUM_OK;
}

/* Converts the field [s, fe) to an integer in [lo, hi]; 0 or -1. */
static int parse_int(const char *s, const char *fe, int64_t lo, int64_t hi, int64_t *out)
{
    const char *d = s;
    int neg = 0;
    if (d < fe && *d == '-') {
        neg = 1;
        d++;
    }
    if (d == fe)
        return -1;
    uint64_t v = 0;
    for (; d < fe; d++) {
        unsigned digit = (unsigned)(*d - '0');
        if (digit > 9 || v > (UINT64_C(1) << 62) / 10)
            return -1;
        v = v * 10 + digit;
    }
    int64_t x = neg ? -(int64_t)v : (int64_t)v;
    if (x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

/* The column-count error of the current line. */
static int column_count_error(const csv_t *c, size_t expected, dn_err_t *err)
{
    size_t found = count_fields(c->ls, c->le);
    return dn_err_set(err, DN_EFORMAT, "%s:%ld: %zu columns, expected %zu (as in the header)",
                      c->path, c->line, found, expected);
}

/* Checks that the header line holds exactly `names` (n of them). */
static int check_header(const csv_t *c, const char *const *names, size_t n, dn_err_t *err)
{
    const char *s = c->ls;
    for (size_t k = 0; k < n; k++) {
        const char *fe = field_end(s, c->le);
        size_t len = strlen(names[k]);
        if ((size_t)(fe - s) != len || memcmp(s, names[k], len) != 0)
            return dn_err_set(err, DN_EFORMAT, "%s:%ld: header column %zu is \"%.*s\", expected \"%s\"",
                              c->path, c->line, k + 1, show_len(s, fe), s, names[k]);
        if (k + 1 < n && fe == c->le)
            return dn_err_set(err, DN_EFORMAT,
                              "%s:%ld: header has %zu columns, expected %zu (missing \"%s\")",
                              c->path, c->line, k + 1, n, names[k + 1]);
        s = fe + 1;
    }
    if (s <= c->le)
        return dn_err_set(err, DN_EFORMAT, "%s:%ld: header has %zu columns, expected %zu",
                          c->path, c->line, count_fields(c->ls, c->le), n);
    return DN_OK;
}

/* Reads `path` and positions the scanner on its header line. */
static int csv_open(const char *path, char **buf_out, csv_t *c, size_t *n_rows, dn_err_t *err)
{
    size_t len;
    int rc = dn_read_file(path, buf_out, &len, err);
    if (rc)
        return rc;
    *c = (csv_t){.path = path, .p = *buf_out, .end = *buf_out + len};
    if (len == 0 || !csv_next_line(c))
        return dn_err_set(err, DN_EFORMAT, "%s: empty file (expected a header line)", path);
    size_t lines = count_lines(*buf_out, len);
    if (lines - 1 > INT_MAX)
        return dn_err_set(err, DN_EFORMAT, "%s: %zu rows, more than supported", path, lines - 1);
    *n_rows = lines - 1;
    return DN_OK;
}

static int empty_line_error(const csv_t *c, dn_err_t *err)
{
    return dn_err_set(err, DN_EFORMAT, "%s:%ld: empty line", c->path, c->line);
}

/* ---------------------------------------------------------------- runs.csv */

/* `run,label,b0,...` or, for inputs without labels, `run,b0,...`. */
static int parse_runs_header(const csv_t *c, int *n_bins, int *has_label, dn_err_t *err)
{
    static const char *const fixed[] = {"run", "label"};
    const char *s = c->ls;
    {
        const char *fe = field_end(s, c->le);
        *has_label = !(fe < c->le && c->le - (fe + 1) >= 2 && !memcmp(fe + 1, "b0", 2) &&
                       (c->le - (fe + 1) == 2 || fe[3] == ','));
    }
    for (int k = 0; k < 1 + *has_label; k++) {
        const char *fe = field_end(s, c->le);
        size_t len = strlen(fixed[k]);
        if ((size_t)(fe - s) != len || memcmp(s, fixed[k], len) != 0)
            return dn_err_set(err, DN_EFORMAT,
                              "%s:%ld: header column %d is \"%.*s\", expected \"%s\"", c->path,
                              c->line, k + 1, show_len(s, fe), s, fixed[k]);
        if (fe == c->le)
            return dn_err_set(err, DN_EFORMAT, "%s:%ld: header has no bin columns (expected "
                              "run,label,b0,...)", c->path, c->line);
        s = fe + 1;
    }
    size_t n = count_fields(s, c->le);
    if (n > INT_MAX / 2)
        return dn_err_set(err, DN_EFORMAT, "%s:%ld: %zu bin columns, more than supported",
                          c->path, c->line, n);
    for (size_t j = 0; j < n; j++) {
        const char *fe = field_end(s, c->le);
        char want[24];
        int wlen = snprintf(want, sizeof want, "b%zu", j);
        if (fe - s != wlen || memcmp(s, want, (size_t)wlen) != 0)
            return dn_err_set(err, DN_EFORMAT,
                              "%s:%ld: header column %zu is \"%.*s\", expected \"%s\"", c->path,
                              c->line, j + 2 + (size_t)*has_label, show_len(s, fe), s,
                              want);
        s = fe + 1;
    }
    *n_bins = (int)n;
    return DN_OK;
}

static int parse_runs_row(const csv_t *c, dn_dataset_t *ds, int i, int has_label,
                          dn_err_t *err)
{
    const int nb = ds->n_bins;
    const size_t n_cols = (size_t)nb + 1 + (size_t)has_label;
    const char *s = c->ls, *le = c->le, *fe;
    if (s == le)
        return empty_line_error(c, err);

    fe = field_end(s, le);
    int64_t run;
    if (parse_int(s, fe, INT64_MIN + 1, INT64_MAX, &run))
        return dn_err_set(err, DN_EFORMAT, "%s:%ld: column run: not an integer: \"%.*s\"",
                          c->path, c->line, show_len(s, fe), s);
    if (i > 0 && run <= ds->run[i - 1])
        return dn_err_set(err, DN_EFORMAT,
                          "%s:%ld: column run: run %" PRId64 " after run %" PRId64
                          " (run numbers must increase)",
                          c->path, c->line, run, ds->run[i - 1]);
    ds->run[i] = run;
    if (fe == le)
        return column_count_error(c, n_cols, err);

    ds->label[i] = -1;
    if (has_label) {
        s = fe + 1;
        fe = field_end(s, le);
        if (fe - s == 1 && (*s == '0' || *s == '1'))
            ds->label[i] = (int8_t)(*s - '0');
        else if (fe != s)
            return dn_err_set(err, DN_ERANGE,
                              "%s:%ld: column label: \"%.*s\" is not 0, 1 or empty", c->path,
                              c->line, show_len(s, fe), s);
        if (fe == le)
            return column_count_error(c, n_cols, err);
    }

    double *row = ds->counts + (size_t)i * (size_t)nb;
    for (int j = 0; j < nb; j++) {
        s = fe + 1;
        fe = field_end(s, le);
        double x;
        switch (parse_double(s, fe, &x)) {
        case NUM_OK:
            break;
        case NUM_EMPTY:
            return dn_err_set(err, DN_EFORMAT, "%s:%ld: column b%d: empty count", c->path,
                              c->line, j);
        case NUM_NONFINITE:
            return dn_err_set(err, DN_ERANGE, "%s:%ld: column b%d: count %.*s is not finite",
                              c->path, c->line, j, show_len(s, fe), s);
        default:
            return dn_err_set(err, DN_EFORMAT, "%s:%ld: column b%d: not a number: \"%.*s\"",
                              c->path, c->line, j, show_len(s, fe), s);
        }
        if (x < 0)
            return dn_err_set(err, DN_ERANGE, "%s:%ld: column b%d: negative count %.*s",
                              c->path, c->line, j, show_len(s, fe), s);
        row[j] = x;
        if (fe == le && j + 1 < nb)
            return column_count_error(c, n_cols, err);
    }
    if (fe != le)
        return column_count_error(c, n_cols, err);
    return DN_OK;
}

static int read_runs(const char *path, int with_truth, dn_dataset_t **out, dn_err_t *err)
{
    char *buf = NULL;
    csv_t c;
    size_t n_rows = 0;
    int n_bins = 0, has_label = 1;
    dn_dataset_t *ds = NULL;
    int rc = csv_open(path, &buf, &c, &n_rows, err);
    if (rc || (rc = parse_runs_header(&c, &n_bins, &has_label, err)))
        goto fail;
    ds = dn_dataset_new((int)n_rows, n_bins, with_truth);
    if (!ds) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory for %zu runs x %d bins", path,
                        n_rows, n_bins);
        goto fail;
    }
    for (int i = 0; i < ds->n_runs; i++) {
        csv_next_line(&c); /* n_rows counted the lines: there is one */
        if ((rc = parse_runs_row(&c, ds, i, has_label, err)))
            goto fail;
    }
    free(buf);
    *out = ds;
    return DN_OK;
fail:
    free(buf);
    dn_dataset_destroy(&ds);
    return rc;
}

int dn_dataset_read_runs_csv(const char *path, dn_dataset_t **out, dn_err_t *err)
{
    if (!path || !out)
        return dn_err_set(err, DN_EINVAL, "dn_dataset_read_runs_csv: NULL argument");
    *out = NULL;
    return read_runs(path, 0, out, err);
}

/* -------------------------------------------------------------- labels.csv */

static int parse_label_row(const csv_t *c, int64_t *run, int8_t *label, dn_err_t *err)
{
    const char *s = c->ls, *le = c->le;
    if (s == le)
        return empty_line_error(c, err);
    const char *fe = field_end(s, le);
    if (parse_int(s, fe, INT64_MIN + 1, INT64_MAX, run))
        return dn_err_set(err, DN_EFORMAT, "%s:%ld: column run: not an integer: \"%.*s\"",
                          c->path, c->line, show_len(s, fe), s);
    if (fe == le)
        return column_count_error(c, 2, err);
    s = fe + 1;
    fe = field_end(s, le);
    if (fe != le)
        return column_count_error(c, 2, err);
    size_t n = (size_t)(fe - s);
    if (n == 0)
        *label = -1;
    else if ((n == 1 && *s == '0') || (n == 4 && !memcmp(s, "good", 4)))
        *label = 0;
    else if ((n == 1 && *s == '1') || (n == 3 && !memcmp(s, "bad", 3)))
        *label = 1;
    else
        return dn_err_set(err, DN_ERANGE,
                          "%s:%ld: column label: \"%.*s\" is not good, bad, 0, 1 or empty",
                          c->path, c->line, show_len(s, fe), s);
    return DN_OK;
}

int dn_labels_read_csv(const char *path, int64_t **runs, int8_t **labels, int *n,
                       dn_err_t *err)
{
    static const char *const header[] = {"run", "label"};
    char *buf = NULL;
    csv_t c;
    size_t n_rows = 0;
    int64_t *r = NULL;
    int8_t *l = NULL;
    *runs = NULL;
    *labels = NULL;
    *n = 0;
    int rc = csv_open(path, &buf, &c, &n_rows, err);
    if (rc || (rc = check_header(&c, header, 2, err)))
        goto fail;
    r = malloc((n_rows ? n_rows : 1) * sizeof *r);
    l = malloc(n_rows ? n_rows : 1);
    if (!r || !l) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory for %zu labels", path, n_rows);
        goto fail;
    }
    for (size_t i = 0; i < n_rows; i++) {
        csv_next_line(&c);
        if ((rc = parse_label_row(&c, &r[i], &l[i], err)))
            goto fail;
    }
    free(buf);
    *runs = r;
    *labels = l;
    *n = (int)n_rows;
    return DN_OK;
fail:
    free(buf);
    free(r);
    free(l);
    return rc;
}

/* --------------------------------------------------------------- truth.csv */

static int parse_flag(const csv_t *c, const char *s, const char *fe, const char *column,
                      uint8_t *out, dn_err_t *err)
{
    if (fe - s == 1 && (*s == '0' || *s == '1')) {
        *out = (uint8_t)(*s - '0');
        return DN_OK;
    }
    return dn_err_set(err, DN_ERANGE, "%s:%ld: column %s: \"%.*s\" is not 0 or 1", c->path,
                      c->line, column, show_len(s, fe), s);
}

/* Where truth.csv's known columns are: col[k] the 0-based column of
 * truth_columns[k] or -1; role[f] which known column column f is, or -1 (a
 * column of another name, ignored). */
typedef struct {
    size_t n_cols;
    int col[N_TRUTH_COLUMNS];
    int *role; /* [n_cols], owned */
} truth_layout_t;

/* Finds the known columns by name in the header line; any order, others
 * ignored. Refuses a known name given twice, a required column missing, and
 * one of rapid_mu / rapid_sigma without the other. */
static int parse_truth_header(const csv_t *c, truth_layout_t *t, dn_err_t *err)
{
    t->n_cols = count_fields(c->ls, c->le);
    for (int k = 0; k < N_TRUTH_COLUMNS; k++)
        t->col[k] = -1;
    if (t->n_cols > INT_MAX / 2)
        return dn_err_set(err, DN_EFORMAT, "%s:%ld: %zu columns, more than supported", c->path,
                          c->line, t->n_cols);
    if (!(t->role = malloc(t->n_cols * sizeof *t->role)))
        return dn_err_set(err, DN_ENOMEM, "%s: out of memory for %zu columns", c->path,
                          t->n_cols);
    const char *s = c->ls;
    for (size_t f = 0; f < t->n_cols; f++) {
        const char *fe = field_end(s, c->le);
        t->role[f] = -1;
        for (int k = 0; k < N_TRUTH_COLUMNS; k++) {
            size_t len = strlen(truth_columns[k]);
            if ((size_t)(fe - s) != len || memcmp(s, truth_columns[k], len) != 0)
                continue;
            if (t->col[k] >= 0)
                return dn_err_set(err, DN_EFORMAT, "%s:%ld: column %s appears twice (header "
                                  "columns %d and %zu)", c->path, c->line, truth_columns[k],
                                  t->col[k] + 1, f + 1);
            t->col[k] = (int)f;
            t->role[f] = k;
        }
        s = fe + 1;
    }
    for (int k = 0; k < N_TRUTH_REQUIRED; k++)
        if (t->col[k] < 0)
            return dn_err_set(err, DN_EFORMAT, "%s:%ld: header has no column %s (required: "
                              "run, mu, sigma, rapid_change)", c->path, c->line,
                              truth_columns[k]);
    if ((t->col[T_RAPID_MU] < 0) != (t->col[T_RAPID_SIGMA] < 0))
        return dn_err_set(err, DN_EFORMAT, "%s:%ld: header has column %s but no %s (give both "
                          "or neither)", c->path, c->line,
                          truth_columns[t->col[T_RAPID_MU] >= 0 ? T_RAPID_MU : T_RAPID_SIGMA],
                          truth_columns[t->col[T_RAPID_MU] >= 0 ? T_RAPID_SIGMA : T_RAPID_MU]);
    int n_slow = (t->col[T_SLOW_KIND] >= 0) + (t->col[T_SLOW_SIZE] >= 0) +
                 (t->col[T_SLOW_BAD] >= 0);
    if (n_slow != 0 && n_slow != 3)
        return dn_err_set(err, DN_EFORMAT, "%s:%ld: header has %d of the columns slow_kind, "
                          "slow_size, slow_bad (give all three or none)", c->path, c->line,
                          n_slow);
    return DN_OK;
}

/* The slow-anomaly truth of row i (the columns are there and ds has the
 * arrays); label: the run's label when known here (runs.csv), else -1. */
static int parse_slow_fields(const csv_t *c, const char *const *field, const char *const *fend,
                             dn_dataset_t *ds, int i, int label, dn_err_t *err)
{
    int64_t kind;
    const char *s = field[T_SLOW_KIND], *fe = fend[T_SLOW_KIND];
    if (parse_int(s, fe, 0, 3, &kind))
        return dn_err_set(err, DN_ERANGE, "%s:%ld: column slow_kind: \"%.*s\" is not 0 (none), "
                          "1 (efficiency), 2 (width) or 3 (mean)", c->path, c->line,
                          show_len(s, fe), s);
    double size;
    s = field[T_SLOW_SIZE];
    fe = fend[T_SLOW_SIZE];
    num_status_t st = parse_double(s, fe, &size);
    if (st == NUM_OK && !(size >= 0.0))
        st = NUM_NONFINITE;
    if (st != NUM_OK)
        return dn_err_set(err, st == NUM_NONFINITE ? DN_ERANGE : DN_EFORMAT,
                          "%s:%ld: column slow_size: \"%.*s\" is not a finite number >= 0",
                          c->path, c->line, show_len(s, fe), s);
    uint8_t bad = 0;
    int rc = parse_flag(c, field[T_SLOW_BAD], fend[T_SLOW_BAD], "slow_bad", &bad, err);
    if (rc)
        return rc;
    if (kind == 0 && (size != 0.0 || bad))
        return dn_err_set(err, DN_EFORMAT, "%s:%ld: slow_kind 0 (none) with slow_size %.*s, "
                          "slow_bad %d (a run without a slow defect has size 0 and is not "
                          "slow-bad)", c->path, c->line, show_len(s, fe), s, bad);
    if (bad && label == 0)
        return dn_err_set(err, DN_EFORMAT, "%s:%ld: slow_bad 1 but the run is labelled good",
                          c->path, c->line);
    ds->slow_kind[i] = (uint8_t)kind;
    ds->slow_size[i] = size;
    ds->slow_bad[i] = bad;
    return DN_OK;
}

static int parse_truth_row(const csv_t *c, const truth_layout_t *t, dn_dataset_t *ds, int i,
                           const char *runs_path, dn_err_t *err)
{
    const char *s = c->ls, *le = c->le, *fe = NULL;
    if (s == le)
        return empty_line_error(c, err);
    const char *field[N_TRUTH_COLUMNS] = {0}, *fend[N_TRUTH_COLUMNS] = {0};
    for (size_t f = 0; f < t->n_cols; f++) {
        if (f > 0 && fe == le)
            return column_count_error(c, t->n_cols, err);
        fe = field_end(s, le);
        if (t->role[f] >= 0) {
            field[t->role[f]] = s;
            fend[t->role[f]] = fe;
        }
        s = fe + 1;
    }
    if (fe != le)
        return column_count_error(c, t->n_cols, err);

    int64_t run;
    if (parse_int(field[T_RUN], fend[T_RUN], INT64_MIN + 1, INT64_MAX, &run))
        return dn_err_set(err, DN_EFORMAT, "%s:%ld: column run: not an integer: \"%.*s\"",
                          c->path, c->line, show_len(field[T_RUN], fend[T_RUN]), field[T_RUN]);
    if (!runs_path) /* the runs come from this file (dn_truth_read_by_run) */
        ds->run[i] = run;
    else if (run != ds->run[i])
        return dn_err_set(err, DN_EFORMAT,
                          "%s:%ld: run %" PRId64 " but %s:%ld has run %" PRId64
                          " (the files must match row for row)",
                          c->path, c->line, run, runs_path, c->line, ds->run[i]);
    double *dst[2] = {&ds->true_mu[i], &ds->true_sigma[i]};
    for (int k = T_MU; k <= T_SIGMA; k++) {
        num_status_t st = parse_double(field[k], fend[k], dst[k - T_MU]);
        if (st == NUM_NONFINITE)
            return dn_err_set(err, DN_ERANGE, "%s:%ld: column %s: %.*s is not finite", c->path,
                              c->line, truth_columns[k], show_len(field[k], fend[k]), field[k]);
        if (st != NUM_OK)
            return dn_err_set(err, DN_EFORMAT, "%s:%ld: column %s: not a number: \"%.*s\"",
                              c->path, c->line, truth_columns[k],
                              show_len(field[k], fend[k]), field[k]);
    }
    uint8_t change = 0;
    int rc;
    if ((rc = parse_flag(c, field[T_CHANGE], fend[T_CHANGE], "rapid_change", &change, err)))
        return rc;
    if (!ds->rapid_split_known) {
        ds->rapid_mu[i] = change; /* only the OR is known: dataset.h */
        ds->rapid_sigma[i] = 0;
    } else if ((rc = parse_flag(c, field[T_RAPID_MU], fend[T_RAPID_MU], "rapid_mu",
                                &ds->rapid_mu[i], err)) ||
               (rc = parse_flag(c, field[T_RAPID_SIGMA], fend[T_RAPID_SIGMA], "rapid_sigma",
                                &ds->rapid_sigma[i], err))) {
        return rc;
    } else if (change != (ds->rapid_mu[i] || ds->rapid_sigma[i])) {
        return dn_err_set(err, DN_EFORMAT,
                          "%s:%ld: rapid_change %d disagrees with rapid_mu %d, rapid_sigma %d",
                          c->path, c->line, change, ds->rapid_mu[i], ds->rapid_sigma[i]);
    }
    /* events and dead_bins: -1 where unknown (no such column, or an empty field) */
    int32_t *idst[2] = {&ds->events[i], &ds->dead_bins[i]};
    for (int k = T_EVENTS; k <= T_DEAD_BINS; k++) {
        int64_t v = -1;
        if (field[k] && field[k] != fend[k] && parse_int(field[k], fend[k], 0, INT32_MAX, &v))
            return dn_err_set(err, DN_EFORMAT,
                              "%s:%ld: column %s: \"%.*s\" is not a non-negative integer "
                              "(or empty: unknown)",
                              c->path, c->line, truth_columns[k], show_len(field[k], fend[k]),
                              field[k]);
        *idst[k - T_EVENTS] = (int32_t)v;
    }
    if (t->col[T_SLOW_KIND] >= 0)
        return parse_slow_fields(c, field, fend, ds, i, runs_path ? ds->label[i] : -1, err);
    return DN_OK;
}

static int read_truth(const char *path, const char *runs_path, dn_dataset_t *ds, dn_err_t *err)
{
    char *buf = NULL;
    csv_t c;
    size_t n_rows;
    truth_layout_t t = {0};
    int rc = csv_open(path, &buf, &c, &n_rows, err);
    if (rc || (rc = parse_truth_header(&c, &t, err)))
        goto done;
    if (n_rows != (size_t)ds->n_runs) {
        rc = dn_err_set(err, DN_EFORMAT, "%s has %zu rows but %s has %d (the files must match "
                        "row for row)", path, n_rows, runs_path, ds->n_runs);
        goto done;
    }
    ds->rapid_split_known = t.col[T_RAPID_MU] >= 0;
    if (t.col[T_SLOW_KIND] >= 0 && dn_dataset_alloc_slow(ds) != DN_OK) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < ds->n_runs; i++) {
        csv_next_line(&c);
        if ((rc = parse_truth_row(&c, &t, ds, i, runs_path, err)))
            goto done;
    }
done:
    free(t.role);
    free(buf);
    return rc;
}

int dn_truth_read_by_run(const char *path, dn_dataset_t *ds, int *n_missing, dn_err_t *err)
{
    char *buf = NULL;
    csv_t c;
    size_t n_rows;
    truth_layout_t t = {0};
    dn_dataset_t *tr = NULL;
    *n_missing = 0;
    int rc = csv_open(path, &buf, &c, &n_rows, err);
    if (rc || (rc = parse_truth_header(&c, &t, err)))
        goto done;
    if (n_rows > INT32_MAX || !(tr = dn_dataset_new((int)n_rows, 1, 1))) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory for %zu rows", path, n_rows);
        goto done;
    }
    tr->rapid_split_known = t.col[T_RAPID_MU] >= 0;
    if (t.col[T_SLOW_KIND] >= 0 && dn_dataset_alloc_slow(tr) != DN_OK) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory for %zu rows", path, n_rows);
        goto done;
    }
    for (int i = 0; i < tr->n_runs; i++) {
        csv_next_line(&c);
        if ((rc = parse_truth_row(&c, &t, tr, i, NULL, err)))
            goto done;
        if (i && tr->run[i] <= tr->run[i - 1]) {
            rc = dn_err_set(err, DN_EFORMAT, "%s:%ld: run %" PRId64 " after run %" PRId64
                            " (runs must increase)", path, c.line, tr->run[i], tr->run[i - 1]);
            goto done;
        }
    }
    /* Both in increasing run order: one merge. */
    int *at = malloc(((size_t)ds->n_runs + 1) * sizeof *at);
    if (!at) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0, k = 0; i < ds->n_runs; i++) {
        while (k < tr->n_runs && tr->run[k] < ds->run[i])
            k++;
        at[i] = k < tr->n_runs && tr->run[k] == ds->run[i] ? k : -1;
        *n_missing += at[i] < 0;
    }
    if (*n_missing) {
        free(at);
        goto done;
    }
    if (dn_dataset_alloc_truth(ds) != DN_OK ||
        (tr->slow_kind && dn_dataset_alloc_slow(ds) != DN_OK)) {
        free(at);
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    if (!tr->slow_kind) /* the truth is this file's: no slow columns, no slow truth */
        dn_dataset_free_slow(ds);
    for (int i = 0; i < ds->n_runs; i++) {
        int k = at[i];
        ds->true_mu[i] = tr->true_mu[k];
        ds->true_sigma[i] = tr->true_sigma[k];
        ds->rapid_mu[i] = tr->rapid_mu[k];
        ds->rapid_sigma[i] = tr->rapid_sigma[k];
        ds->events[i] = tr->events[k];
        ds->dead_bins[i] = tr->dead_bins[k];
        if (tr->slow_kind) {
            ds->slow_kind[i] = tr->slow_kind[k];
            ds->slow_size[i] = tr->slow_size[k];
            ds->slow_bad[i] = tr->slow_bad[k];
        }
    }
    ds->rapid_split_known = tr->rapid_split_known;
    free(at);
done:
    dn_dataset_destroy(&tr);
    free(t.role);
    free(buf);
    return rc;
}

/* --------------------------------------------------------------- meta.json */

/* meta.json's edge list `name` of n bins into out[n + 1]: n + 1 strictly
 * increasing numbers, else DN_EFORMAT naming file, member and element. */
static int read_edges(const dn_json_value_t *root, const char *name, const char *path, int n,
                      double *out, dn_err_t *err)
{
    double *edges = NULL;
    size_t n_edges = 0;
    int rc = dn_json_get_numbers(root, name, &edges, &n_edges, err);
    if (rc) {
        dn_err_prefix(err, "%s", path);
        goto fail;
    }
    if (n_edges != (size_t)n + 1) {
        rc = dn_err_set(err, DN_EFORMAT, "%s: %s has %zu values, expected %d (bins + 1)", path,
                        name, n_edges, n + 1);
        goto fail;
    }
    for (size_t j = 1; j < n_edges; j++)
        if (!(edges[j] > edges[j - 1])) {
            char a[DN_JSON_NUMBER_MAX], b[DN_JSON_NUMBER_MAX];
            dn_json_format_number(a, edges[j - 1]);
            dn_json_format_number(b, edges[j]);
            rc = dn_err_set(err, DN_EFORMAT, "%s: %s not strictly increasing: element %zu is "
                            "%s after %s", path, name, j, b, a);
            goto fail;
        }
    memcpy(out, edges, n_edges * sizeof *edges);
fail:
    free(edges);
    return rc;
}

static int read_meta(const char *path, dn_dataset_t *ds, dn_err_t *err)
{
    dn_json_t *doc = NULL;
    char *extra = NULL;
    size_t extra_len = 0;
    FILE *mem = NULL;
    int rc = dn_json_parse_file(path, &doc, err);
    if (rc)
        goto done;
    const dn_json_value_t *root = dn_json_root(doc);
    if (dn_json_type(root) != DN_JSON_OBJECT) {
        rc = dn_err_set(err, DN_EFORMAT, "%s: expected an object, found %s", path,
                        dn_json_type_name(dn_json_type(root)));
        goto done;
    }
    static const char *const dims[] = {"n_bins", "n_runs"};
    const int dim_values[] = {ds->n_bins, ds->n_runs};
    for (int k = 0; k < 2; k++) {
        const dn_json_value_t *v = dn_json_get(root, dims[k]);
        if (v && dn_json_number(v) != dim_values[k]) {
            char shown[DN_JSON_NUMBER_MAX] = "";
            if (dn_json_type(v) == DN_JSON_NUMBER)
                dn_json_format_number(shown, dn_json_number(v));
            rc = dn_err_set(err, DN_EFORMAT, "%s: %s is %s but runs.csv has %d", path, dims[k],
                            dn_json_type(v) == DN_JSON_NUMBER ? shown
                                                              : dn_json_type_name(dn_json_type(v)),
                            dim_values[k]);
            goto done;
        }
    }
    /* A 2-D dataset: n_bins_y bins of y, dividing n_bins (dataset.h). */
    const dn_json_value_t *vy = dn_json_get(root, "n_bins_y");
    if (vy) {
        double ny = dn_json_number(vy);
        if (!(ny >= 1 && ny <= ds->n_bins && ny == floor(ny)) ||
            ds->n_bins % (int)ny != 0) {
            char shown[DN_JSON_NUMBER_MAX] = "";
            if (dn_json_type(vy) == DN_JSON_NUMBER)
                dn_json_format_number(shown, ny);
            rc = dn_err_set(err, DN_EFORMAT, "%s: n_bins_y is %s, not a whole number of bins "
                            "of y dividing the %d bins of runs.csv", path,
                            dn_json_type(vy) == DN_JSON_NUMBER ? shown
                                                               : dn_json_type_name(dn_json_type(vy)),
                            ds->n_bins);
            goto done;
        }
        if ((rc = dn_dataset_set_2d(ds, (int)ny)))
            goto nomem;
    }
    const int n_x = dn_dataset_nx(ds);
    const int has_x = dn_json_get(root, "bin_edges") != NULL,
              has_y = dn_json_get(root, "bin_edges_y") != NULL;
    if (vy ? has_x != has_y : has_y) {
        rc = dn_err_set(err, DN_EFORMAT, vy ? "%s: a 2-D dataset gives bin_edges and "
                        "bin_edges_y, or neither" : "%s: bin_edges_y without n_bins_y", path);
        goto done;
    }
    if (dn_json_get(root, "bin_edges")) {
        if ((rc = read_edges(root, "bin_edges", path, n_x, ds->edges, err)) ||
            (vy && (rc = read_edges(root, "bin_edges_y", path, ds->n_bins_y, ds->edges_y, err))))
            goto done;
        ds->edges_known = 1;
    }
    /* The producer's own members, kept for the next write. */
    mem = open_memstream(&extra, &extra_len);
    if (!mem)
        goto nomem;
    int n_extra = 0;
    for (size_t i = 0; i < dn_json_object_len(root); i++) {
        const char *key = dn_json_object_key_at(root, i);
        if (!strcmp(key, "bin_edges") || !strcmp(key, "n_bins") || !strcmp(key, "n_runs") ||
            !strcmp(key, "n_bins_y") || !strcmp(key, "bin_edges_y"))
            continue;
        if (n_extra++)
            fputs(", ", mem);
        dn_json_write_string(mem, key);
        fputs(": ", mem);
        dn_json_write_value(mem, dn_json_object_value_at(root, i));
    }
    if (ferror(mem)) {
        fclose(mem);
        mem = NULL;
        goto nomem;
    }
    if (fclose(mem) != 0) {
        mem = NULL;
        goto nomem;
    }
    mem = NULL;
    if (n_extra) {
        free(ds->meta_extra);
        ds->meta_extra = extra;
        extra = NULL;
    }
    rc = DN_OK;
    goto done;
nomem:
    rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory", path);
done:
    if (mem)
        fclose(mem);
    free(extra);
    dn_json_destroy(&doc);
    return rc;
}

/* ----------------------------------------------------------------- reading */

static char *join_path(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    int slash = dl > 0 && dir[dl - 1] != '/';
    char *p = malloc(dl + (size_t)slash + nl + 1);
    if (!p)
        return NULL;
    memcpy(p, dir, dl);
    if (slash)
        p[dl] = '/';
    memcpy(p + dl + slash, name, nl + 1);
    return p;
}

/* 1 when path exists, 0 when it does not, DN_EIO otherwise. */
static int file_exists(const char *path, dn_err_t *err)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return 1;
    if (errno == ENOENT)
        return 0;
    return dn_err_set(err, DN_EIO, "cannot access %s: %s", path, strerror(errno));
}

int dn_dataset_read_dir(const char *dir, dn_dataset_t **out, dn_err_t *err)
{
    if (!dir || !out)
        return dn_err_set(err, DN_EINVAL, "dn_dataset_read_dir: NULL argument");
    *out = NULL;
    int rc;
    dn_dataset_t *ds = NULL;
    char *runs = join_path(dir, "runs.csv"), *truth = join_path(dir, "truth.csv"),
         *meta = join_path(dir, "meta.json");
    if (!runs || !truth || !meta) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory reading %s", dir);
        goto done;
    }
    int has_truth = file_exists(truth, err), has_meta;
    if ((rc = has_truth < 0 ? has_truth : 0))
        goto done;
    if ((rc = read_runs(runs, has_truth, &ds, err)))
        goto done;
    if (has_truth && (rc = read_truth(truth, runs, ds, err)))
        goto done;
    has_meta = file_exists(meta, err);
    if ((rc = has_meta < 0 ? has_meta : 0))
        goto done;
    if (has_meta && (rc = read_meta(meta, ds, err)))
        goto done;
    *out = ds;
    ds = NULL;
done:
    dn_dataset_destroy(&ds);
    free(runs);
    free(truth);
    free(meta);
    return rc;
}

/* ----------------------------------------------------------------- writing */

/* allow_variances: the runs go to files that hold them (ROOT's fSumw2). */
static int validate(const dn_dataset_t *ds, int allow_variances, dn_err_t *err)
{
    if (!ds)
        return dn_err_set(err, DN_EINVAL, "dataset is NULL");
    if (ds->n_runs < 0 || ds->n_bins < 1)
        return dn_err_set(err, DN_EINVAL, "dataset has %d runs x %d bins", ds->n_runs,
                          ds->n_bins);
    if (!ds->edges || !ds->run || !ds->label || !ds->counts)
        return dn_err_set(err, DN_EINVAL, "dataset has a NULL array");
    if (ds->variances && !allow_variances)
        return dn_err_set(err, DN_EINVAL, "dataset has per-bin variances, which the directory "
                          "format (runs.csv) cannot hold; score it from its source instead");
    int truth = ds->true_mu != NULL;
    if (truth != (ds->true_sigma != NULL) || truth != (ds->rapid_mu != NULL) ||
        truth != (ds->rapid_sigma != NULL) || truth != (ds->events != NULL) ||
        truth != (ds->dead_bins != NULL))
        return dn_err_set(err, DN_EINVAL, "dataset truth arrays are partly NULL");
    int slow = ds->slow_kind != NULL;
    if (slow != (ds->slow_size != NULL) || slow != (ds->slow_bad != NULL) || (slow && !truth))
        return dn_err_set(err, DN_EINVAL, "dataset slow-anomaly truth arrays are partly NULL, "
                          "or set without the other truth");
    if (ds->n_bins_y < 0 || (ds->n_bins_y > 0 && (!ds->edges_y || ds->n_bins % ds->n_bins_y)))
        return dn_err_set(err, DN_EINVAL, "dataset has %d bins of y for %d bins", ds->n_bins_y,
                          ds->n_bins);
    for (int j = 0; j <= dn_dataset_nx(ds); j++)
        if (!isfinite(ds->edges[j]) || (j && !(ds->edges[j] > ds->edges[j - 1])))
            return dn_err_set(err, DN_EINVAL, "bin edge %d (%g) is not finite and above the "
                              "previous one", j, ds->edges[j]);
    for (int j = 0; ds->n_bins_y > 0 && j <= ds->n_bins_y; j++)
        if (!isfinite(ds->edges_y[j]) || (j && !(ds->edges_y[j] > ds->edges_y[j - 1])))
            return dn_err_set(err, DN_EINVAL, "bin edge %d of y (%g) is not finite and above "
                              "the previous one", j, ds->edges_y[j]);
    for (int i = 0; i < ds->n_runs; i++) {
        if (i && ds->run[i] <= ds->run[i - 1])
            return dn_err_set(err, DN_EINVAL, "run %" PRId64 " at position %d follows run %"
                              PRId64 " (run numbers must increase)", ds->run[i], i,
                              ds->run[i - 1]);
        if (ds->run[i] == INT64_MIN)
            return dn_err_set(err, DN_EINVAL, "run number at position %d out of range", i);
        if (ds->label[i] < -1 || ds->label[i] > 1)
            return dn_err_set(err, DN_EINVAL, "run %" PRId64 ": label %d not -1, 0 or 1",
                              ds->run[i], ds->label[i]);
        const double *row = dn_dataset_row(ds, i);
        for (int j = 0; j < ds->n_bins; j++)
            if (!isfinite(row[j]) || row[j] < 0)
                return dn_err_set(err, DN_EINVAL, "run %" PRId64 ": bin %d: count %g is not "
                                  "finite and non-negative", ds->run[i], j, row[j]);
        if (truth) {
            if (!isfinite(ds->true_mu[i]) || !isfinite(ds->true_sigma[i]))
                return dn_err_set(err, DN_EINVAL, "run %" PRId64 ": truth mu %g, sigma %g not "
                                  "finite", ds->run[i], ds->true_mu[i], ds->true_sigma[i]);
            if (ds->rapid_mu[i] > 1 || ds->rapid_sigma[i] > 1 || ds->events[i] < -1 ||
                ds->dead_bins[i] < -1)
                return dn_err_set(err, DN_EINVAL, "run %" PRId64 ": truth flags %d, %d or "
                                  "counts %d, %d out of range", ds->run[i], ds->rapid_mu[i],
                                  ds->rapid_sigma[i], ds->events[i], ds->dead_bins[i]);
            if (!ds->rapid_split_known && ds->rapid_sigma[i])
                return dn_err_set(err, DN_EINVAL, "run %" PRId64 ": rapid_sigma set but "
                                  "rapid_split_known is 0 (only rapid_mu holds the change)",
                                  ds->run[i]);
        }
        if (slow && (ds->slow_kind[i] > 3 || !isfinite(ds->slow_size[i]) ||
                     ds->slow_size[i] < 0 || ds->slow_bad[i] > 1 ||
                     (ds->slow_kind[i] == 0 && (ds->slow_size[i] != 0 || ds->slow_bad[i])) ||
                     (ds->slow_bad[i] && ds->label[i] == 0)))
            return dn_err_set(err, DN_EINVAL, "run %" PRId64 ": slow truth kind %d, size %g, "
                              "bad %d (label %d) inconsistent (dataset.h)", ds->run[i],
                              ds->slow_kind[i], ds->slow_size[i], ds->slow_bad[i],
                              ds->label[i]);
    }
    if (ds->meta_extra) {
        /* must be object members, and none we write ourselves */
        size_t n = strlen(ds->meta_extra);
        char *wrapped = malloc(n + 3);
        if (!wrapped)
            return dn_err_set(err, DN_ENOMEM, "out of memory checking meta_extra");
        wrapped[0] = '{';
        memcpy(wrapped + 1, ds->meta_extra, n);
        memcpy(wrapped + 1 + n, "}", 2);
        dn_json_t *doc = NULL;
        dn_err_t jerr = {0};
        int rc = dn_json_parse(wrapped, n + 2, &doc, &jerr);
        free(wrapped);
        if (rc)
            return dn_err_set(err, DN_EINVAL, "meta_extra is not valid JSON object members: %s",
                              jerr.msg);
        const dn_json_value_t *root = dn_json_root(doc);
        rc = dn_json_get(root, "bin_edges") || dn_json_get(root, "n_bins") ||
             dn_json_get(root, "n_runs") || dn_json_get(root, "n_bins_y") ||
             dn_json_get(root, "bin_edges_y");
        dn_json_destroy(&doc);
        if (rc)
            return dn_err_set(err, DN_EINVAL, "meta_extra repeats bin_edges, n_bins or n_runs");
    }
    return DN_OK;
}

static void put_i64(FILE *f, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%" PRId64, v);
    fwrite(buf, 1, (size_t)n, f);
}

static void put_number(FILE *f, double x)
{
    char buf[DN_JSON_NUMBER_MAX];
    int n = dn_json_format_number(buf, x);
    fwrite(buf, 1, (size_t)n, f);
}

static void write_runs(const dn_dataset_t *ds, FILE *f)
{
    fputs("run,label", f);
    for (int j = 0; j < ds->n_bins; j++)
        fprintf(f, ",b%d", j);
    putc('\n', f);
    for (int i = 0; i < ds->n_runs; i++) {
        put_i64(f, ds->run[i]);
        putc(',', f);
        if (ds->label[i] >= 0)
            putc('0' + ds->label[i], f);
        const double *row = dn_dataset_row(ds, i);
        for (int j = 0; j < ds->n_bins; j++) {
            putc(',', f);
            put_number(f, row[j]);
        }
        putc('\n', f);
    }
}

/* An int32 truth value, or nothing when unknown (-1). */
static void put_known_i32(FILE *f, int32_t v)
{
    putc(',', f);
    if (v >= 0)
        fprintf(f, "%" PRId32, v);
}

/* Only what the dataset knows: no rapid_mu/rapid_sigma when only their OR
 * was given, no events or dead_bins column when no run has one, the slow
 * columns only with the slow-anomaly truth. */
static void write_truth(const dn_dataset_t *ds, FILE *f)
{
    const int slow = ds->slow_kind != NULL;
    int with[N_TRUTH_COLUMNS] = {1, 1, 1, 1, ds->rapid_split_known, ds->rapid_split_known, 0, 0,
                                 slow, slow, slow};
    for (int i = 0; i < ds->n_runs; i++) {
        with[T_EVENTS] |= ds->events[i] >= 0;
        with[T_DEAD_BINS] |= ds->dead_bins[i] >= 0;
    }
    for (int k = 0, n = 0; k < N_TRUTH_COLUMNS; k++)
        if (with[k])
            fprintf(f, "%s%s", n++ ? "," : "", truth_columns[k]);
    putc('\n', f);
    for (int i = 0; i < ds->n_runs; i++) {
        put_i64(f, ds->run[i]);
        putc(',', f);
        put_number(f, ds->true_mu[i]);
        putc(',', f);
        put_number(f, ds->true_sigma[i]);
        fprintf(f, ",%d", ds->rapid_mu[i] || ds->rapid_sigma[i]);
        if (ds->rapid_split_known)
            fprintf(f, ",%d,%d", ds->rapid_mu[i], ds->rapid_sigma[i]);
        if (with[T_EVENTS])
            put_known_i32(f, ds->events[i]);
        if (with[T_DEAD_BINS])
            put_known_i32(f, ds->dead_bins[i]);
        if (slow) {
            fprintf(f, ",%d,", ds->slow_kind[i]);
            put_number(f, ds->slow_size[i]);
            fprintf(f, ",%d", ds->slow_bad[i]);
        }
        putc('\n', f);
    }
}

static void put_edges(FILE *f, const char *name, const double *e, int n)
{
    fprintf(f, "\"%s\": [", name);
    for (int j = 0; j <= n; j++) {
        if (j)
            fputs(", ", f);
        put_number(f, e[j]);
    }
    fputs("],\n ", f);
}

/* bin_edges only when known: the placeholder numbering written there would
 * read back as real edges. */
static void write_meta(const dn_dataset_t *ds, FILE *f)
{
    putc('{', f);
    if (ds->edges_known) {
        put_edges(f, "bin_edges", ds->edges, dn_dataset_nx(ds));
        if (ds->n_bins_y > 0)
            put_edges(f, "bin_edges_y", ds->edges_y, ds->n_bins_y);
    }
    fprintf(f, "\"n_bins\": %d,\n \"n_runs\": %d", ds->n_bins, ds->n_runs);
    if (ds->n_bins_y > 0)
        fprintf(f, ",\n \"n_bins_y\": %d", ds->n_bins_y);
    if (ds->meta_extra && ds->meta_extra[strspn(ds->meta_extra, " \t\r\n")])
        fprintf(f, ",\n %s", ds->meta_extra);
    fputs("}\n", f);
}

/* labels.csv: run,label with good, bad or empty (dn_labels_read_csv). */
static void write_labels(const dn_dataset_t *ds, FILE *f)
{
    fputs("run,label\n", f);
    for (int i = 0; i < ds->n_runs; i++) {
        put_i64(f, ds->run[i]);
        fputs(ds->label[i] == 0 ? ",good\n" : ds->label[i] == 1 ? ",bad\n" : ",\n", f);
    }
}

enum { F_RUNS, F_LABELS, F_TRUTH, F_META, N_FILES };

/* Writes the files of `want` (bits 1 << F_x; truth.csv only with truth, a
 * stale one removed) into dir, all or none replaced. */
static int write_files(const dn_dataset_t *ds, const char *dir, unsigned want, dn_err_t *err)
{
    static const char *const names[N_FILES] = {"runs.csv", "labels.csv", "truth.csv",
                                               "meta.json"};
    char *paths[N_FILES] = {0};
    dn_outfile_t *files[N_FILES] = {0};
    int rc;
    if (!dir || !*dir)
        return dn_err_set(err, DN_EINVAL, "dataset directory name is empty");
    if ((rc = validate(ds, !(want & 1u << F_RUNS), err)))
        return rc;
    if ((rc = dn_mkdirs(dir, err)))
        return rc;
    int has_truth = ds->true_mu != NULL;
    for (int k = 0; k < N_FILES; k++)
        if (!(paths[k] = join_path(dir, names[k]))) {
            rc = dn_err_set(err, DN_ENOMEM, "out of memory writing %s", dir);
            goto done;
        }
    for (int k = 0; k < N_FILES; k++) {
        if (!(want & 1u << k) || (k == F_TRUTH && !has_truth))
            continue;
        if (!(files[k] = dn_outfile_open(paths[k], err))) {
            rc = err ? err->code : DN_EIO;
            goto done;
        }
    }
    if (files[F_RUNS])
        write_runs(ds, dn_outfile_stream(files[F_RUNS]));
    if (files[F_LABELS])
        write_labels(ds, dn_outfile_stream(files[F_LABELS]));
    if (files[F_TRUTH])
        write_truth(ds, dn_outfile_stream(files[F_TRUTH]));
    write_meta(ds, dn_outfile_stream(files[F_META]));
    /* Everything must have reached the kernel before any file is replaced, so
     * that a full disk leaves the old dataset whole. */
    for (int k = 0; k < N_FILES; k++) {
        FILE *f = dn_outfile_stream(files[k]);
        errno = 0;
        if (f && (fflush(f) != 0 || ferror(f))) {
            rc = dn_err_set(err, DN_EIO, "error writing %s: %s", paths[k],
                            errno ? strerror(errno) : "write error");
            goto done;
        }
    }
    for (int k = 0; k < N_FILES; k++)
        if (files[k] && (rc = dn_outfile_commit(&files[k], err)))
            goto done;
    if (!has_truth && unlink(paths[F_TRUTH]) != 0 && errno != ENOENT) {
        rc = dn_err_set(err, DN_EIO, "cannot remove stale %s: %s", paths[F_TRUTH],
                        strerror(errno));
        goto done;
    }
    rc = DN_OK;
done:
    for (int k = 0; k < N_FILES; k++) {
        dn_outfile_abort(&files[k]);
        free(paths[k]);
    }
    return rc;
}

int dn_dataset_write_dir(const dn_dataset_t *ds, const char *dir, dn_err_t *err)
{
    return write_files(ds, dir, 1u << F_RUNS | 1u << F_TRUTH | 1u << F_META, err);
}

int dn_dataset_write_beside(const dn_dataset_t *ds, const char *dir, dn_err_t *err)
{
    return write_files(ds, dir, 1u << F_LABELS | 1u << F_TRUTH | 1u << F_META, err);
}
