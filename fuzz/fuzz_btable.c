/* fuzz_btable.c: libFuzzer target for the numeric CSV tables
 * (lib/io/btable.h) that `dinamo report --bench` reads: metrics_<method>.csv
 * and alpha_scan_summary.csv as `dinamo bench` wrote them, or as a person
 * edited or a copy cut them. Any bytes as the file.
 *
 * Checked beyond "no crash":
 *   - a refusal returns a named error that names the file, and no table;
 *   - an accepted table has at least one column, names that are non-empty,
 *     distinct, found again by dn_btable_find and free of commas, quotes and
 *     line ends; every value a number or NaN;
 *   - written back (names, values as %.17g, NaN empty; in a one-column table
 *     "nan", since an empty field would be an empty line, which the reader
 *     refuses as damage) it parses again to the same names and values (NaN
 *     where NaN). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btable.h"
#include "fuzzcheck.h"

static char *write_back(const dn_btable_t *t, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    for (int c = 0; c < dn_btable_cols(t); c++)
        fprintf(f, "%s%s", c ? "," : "", dn_btable_name(t, c));
    fputc('\n', f);
    for (int r = 0; r < dn_btable_rows(t); r++) {
        for (int c = 0; c < dn_btable_cols(t); c++) {
            double x = dn_btable_column(t, c)[r];
            if (c)
                fputc(',', f);
            if (!isnan(x))
                fprintf(f, "%.17g", x);
            else if (dn_btable_cols(t) == 1)
                fputs("nan", f);
        }
        fputc('\n', f);
    }
    fclose(f);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dn_err_t err = {0};
    dn_btable_t *t = (dn_btable_t *)&err; /* must come back NULL on refusal */
    int rc = dn_btable_parse((const char *)data, size, "fz.csv", &t, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(!t, "a refusal left a table");
        FUZZ_CHECK(strstr(err.msg, "fz.csv"), "refusal without the file's name: %s", err.msg);
        return 0;
    }
    FUZZ_SAY("accepted: %d columns, %d rows", dn_btable_cols(t), dn_btable_rows(t));
    FUZZ_CHECK(dn_btable_cols(t) >= 1 && dn_btable_rows(t) >= 0, "%d x %d", dn_btable_cols(t),
               dn_btable_rows(t));
    for (int c = 0; c < dn_btable_cols(t); c++) {
        const char *n = dn_btable_name(t, c);
        FUZZ_CHECK(n && n[0] && !strpbrk(n, ",\"\r\n"), "column %d name '%s'", c, n ? n : "");
        FUZZ_CHECK(dn_btable_find(t, n) == c, "column %d '%s' found at %d", c, n,
                   dn_btable_find(t, n));
    }
    size_t len = 0;
    char *again = write_back(t, &len);
    if (again) {
        dn_btable_t *u = NULL;
        rc = dn_btable_parse(again, len, "back.csv", &u, &err);
        FUZZ_CHECK(!rc, "written back, refused: %s", err.msg);
        FUZZ_CHECK(dn_btable_cols(u) == dn_btable_cols(t) && dn_btable_rows(u) == dn_btable_rows(t),
                   "shape changed");
        for (int c = 0; c < dn_btable_cols(t); c++) {
            FUZZ_CHECK(!strcmp(dn_btable_name(t, c), dn_btable_name(u, c)), "name %d", c);
            const double *a = dn_btable_column(t, c), *b = dn_btable_column(u, c);
            for (int r = 0; r < dn_btable_rows(t); r++)
                FUZZ_CHECK(isnan(a[r]) ? isnan(b[r]) : a[r] == b[r], "row %d col %d: %.17g %.17g",
                           r, c, a[r], b[r]);
        }
        dn_btable_destroy(&u);
        free(again);
    }
    dn_btable_destroy(&t);
    return 0;
}
