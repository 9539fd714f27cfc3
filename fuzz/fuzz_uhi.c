/* fuzz_uhi.c: libFuzzer target for UHI JSON run files (lib/io/uhi.h), what a
 * feed reads from a directory of histogram files: any bytes through
 * dn_uhi_parse, named run_000123.json.
 *
 * Checked beyond "no crash":
 *   - a refusal returns a named error that names the file, and no run;
 *   - an accepted run keeps runin.h's invariants for every histogram (key
 *     non-empty and unique, 1 .. bins, finite non-negative counts and
 *     variances, finite strictly increasing edges, subsystem not NULL), with
 *     one non-empty problem message per histogram left out;
 *     (2-D: n_bins a multiple of n_bins_y, edges of both axes);
 *   - the run written back as UHI (variable axes, double or weighted storage,
 *     its run, time, label and subsystem as metadata) parses to the same run:
 *     same keys, binning, bins bit for bit, no problem (parse -> write ->
 *     parse equal), written dense (2-D nested [ix][iy]) and written sparse
 *     (index lists of the non-zero bins): sparse equals dense. Runs of more
 *     than ROUND_TRIP_BINS bins in all skip the round trip: a few bytes of
 *     value-less or sparse storage declare up to 10^6 bins, and writing and
 *     parsing those back twice took the fuzzer 10 to 40 s an input. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzcheck.h"
#include "json.h"
#include "uhi.h"

#define NAME "run_000123.json"
#define ROUND_TRIP_BINS 20000

static void check_run(const dn_runin_t *run)
{
    for (int i = 0; i < run->n_hist; i++) {
        const dn_histin_t *h = &run->hist[i];
        FUZZ_CHECK(h->key && h->key[0] && h->subsystem, "histogram %d: key or subsystem", i);
        FUZZ_CHECK(h->n_bins >= 1 && h->counts, "histogram %s: %d bins", h->key, h->n_bins);
        for (int j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(run->hist[j].key, h->key), "key %s kept twice", h->key);
        for (int b = 0; b < h->n_bins; b++) {
            FUZZ_CHECK(isfinite(h->counts[b]) && h->counts[b] >= 0, "%s: bin %d: count %g",
                       h->key, b, h->counts[b]);
            FUZZ_CHECK(!h->variances || (isfinite(h->variances[b]) && h->variances[b] >= 0),
                       "%s: bin %d: variance %g", h->key, b, h->variances[b]);
        }
        FUZZ_CHECK(h->n_bins_y >= 0 && (!h->n_bins_y || h->n_bins % h->n_bins_y == 0),
                   "%s: %d bins, %d of y", h->key, h->n_bins, h->n_bins_y);
        FUZZ_CHECK(!h->n_bins_y == !h->edges_y, "%s: edges_y for n_bins_y %d", h->key,
                   h->n_bins_y);
        const int nx = h->n_bins_y ? h->n_bins / h->n_bins_y : h->n_bins;
        for (int b = 0; h->edges && b <= nx; b++)
            FUZZ_CHECK(isfinite(h->edges[b]) && (b == 0 || h->edges[b] > h->edges[b - 1]),
                       "%s: edge %d: %g", h->key, b, h->edges[b]);
        for (int b = 0; h->edges_y && b <= h->n_bins_y; b++)
            FUZZ_CHECK(isfinite(h->edges_y[b]) &&
                           (b == 0 || h->edges_y[b] > h->edges_y[b - 1]),
                       "%s: y edge %d: %g", h->key, b, h->edges_y[b]);
    }
    for (int i = 0; i < run->n_problems; i++)
        FUZZ_CHECK(run->problems[i] && run->problems[i][0], "empty problem message %d", i);
}

static void numbers(FILE *f, const double *v, int n)
{
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(", ", f);
        dn_json_write_number(f, v[i]);
    }
    fputc(']', f);
}

/* v[n] nested as [ix][iy] (ny > 0) or flat */
static void grid(FILE *f, const double *v, int n, int ny)
{
    if (!ny) {
        numbers(f, v, n);
        return;
    }
    fputc('[', f);
    for (int ix = 0; ix < n / ny; ix++) {
        fputs(ix ? ", " : "", f);
        numbers(f, v + (size_t)ix * (size_t)ny, ny);
    }
    fputc(']', f);
}

static void axis(FILE *f, const double *edges, int n_bins)
{
    if (edges) {
        fputs("{\"type\": \"variable\", \"edges\": ", f);
        numbers(f, edges, n_bins + 1);
    } else {
        fprintf(f, "{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": %d",
                n_bins);
    }
    fputs(", \"underflow\": false, \"overflow\": false}", f);
}

/* One list of h's sparse storage over the bins whose count or variance is not
 * zero, in reverse order (the order of entries carries no meaning): what 0
 * their ix, 1 their iy, 2 their counts, 3 their variances. */
static void sparse_list(FILE *f, const dn_histin_t *h, int what)
{
    const int ny = h->n_bins_y ? h->n_bins_y : 1;
    fputc('[', f);
    for (int b = h->n_bins - 1, first = 1; b >= 0; b--) {
        if (h->counts[b] == 0 && (!h->variances || h->variances[b] == 0))
            continue;
        fputs(first ? "" : ", ", f);
        first = 0;
        if (what < 2)
            fprintf(f, "%d", what ? b % ny : b / ny);
        else
            dn_json_write_number(f, what == 2 ? h->counts[b] : h->variances[b]);
    }
    fputc(']', f);
}

static void sparse(FILE *f, const dn_histin_t *h)
{
    fputs("\"index\": [", f);
    sparse_list(f, h, 0);
    if (h->n_bins_y) {
        fputs(", ", f);
        sparse_list(f, h, 1);
    }
    fputs("], \"values\": ", f);
    sparse_list(f, h, 2);
    if (h->variances) {
        fputs(", \"variances\": ", f);
        sparse_list(f, h, 3);
    }
}

/* The run as a UHI document, dense or sparse. */
static void write_uhi(FILE *f, const dn_runin_t *run, int as_sparse)
{
    fputc('{', f);
    for (int i = 0; i < run->n_hist; i++) {
        const dn_histin_t *h = &run->hist[i];
        fputs(i ? ", " : "", f);
        dn_json_write_string(f, h->key);
        fputs(": {\"uhi_schema\": 1, \"axes\": [", f);
        axis(f, h->edges, h->n_bins_y ? h->n_bins / h->n_bins_y : h->n_bins);
        if (h->n_bins_y) {
            fputs(", ", f);
            axis(f, h->edges_y, h->n_bins_y);
        }
        fprintf(f, "], \"storage\": {\"type\": \"%s\", ",
                h->variances ? "weighted" : "double");
        if (as_sparse) {
            sparse(f, h);
        } else {
            fputs("\"values\": ", f);
            grid(f, h->counts, h->n_bins, h->n_bins_y);
            if (h->variances) {
                fputs(", \"variances\": ", f);
                grid(f, h->variances, h->n_bins, h->n_bins_y);
            }
        }
        fprintf(f, "}, \"metadata\": {\"run\": %lld", (long long)run->run_number);
        if (isfinite(run->time)) {
            fputs(", \"time\": ", f);
            dn_json_write_number(f, run->time);
        }
        if (run->label >= 0)
            fprintf(f, ", \"label\": \"%s\"", run->label ? "bad" : "good");
        fputs(", \"subsystem\": ", f);
        dn_json_write_string(f, h->subsystem);
        fputs("}}", f);
    }
    fputc('}', f);
}

static int same_doubles(const double *a, const double *b, int n)
{
    return (!a && !b) || (a && b && !memcmp(a, b, sizeof *a * (size_t)n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dn_runin_t *run = NULL, *again = NULL;
    char *text = NULL;
    size_t len = 0;
    dn_err_t err = {0};
    int rc = dn_uhi_parse((const char *)data, size, NAME, &run, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(!run, "refused run returned");
        FUZZ_CHECK(strstr(err.msg, NAME), "the error does not name the file: %s", err.msg);
        return 0;
    }
    FUZZ_SAY("run %lld: %d histograms, %d left out", (long long)run->run_number, run->n_hist,
             run->n_problems);
    check_run(run);
    long total = 0;
    for (int i = 0; i < run->n_hist; i++)
        total += run->hist[i].n_bins;
    for (int as_sparse = 0; as_sparse < 2 && total <= ROUND_TRIP_BINS; as_sparse++) {
        free(text);
        text = NULL;
        dn_runin_destroy(&again);
        FILE *f = open_memstream(&text, &len);
        if (!f)
            goto done;
        write_uhi(f, run, as_sparse);
        if (fclose(f))
            goto done;
        rc = dn_uhi_parse(text, len, NAME, &again, &err);
        FUZZ_CHECK(rc == 0 || rc == DN_ENOMEM, "the run written back (%s) is refused: %s\n%s",
                   as_sparse ? "sparse" : "dense", err.msg, text);
        if (rc)
            goto done;
        FUZZ_CHECK(again->n_hist == run->n_hist && again->n_problems == 0,
                   "written back (%s): %d histograms and %d problems (first: %s), was %d",
                   as_sparse ? "sparse" : "dense", again->n_hist, again->n_problems,
                   again->n_problems ? again->problems[0] : "", run->n_hist);
        if (run->n_hist)
            FUZZ_CHECK(again->run_number == run->run_number && again->label == run->label &&
                           (again->time == run->time || (isnan(again->time) && isnan(run->time))),
                       "run, time or label changed");
        for (int i = 0; i < run->n_hist; i++) {
            const dn_histin_t *a = &run->hist[i], *b = &again->hist[i];
            const int nx = a->n_bins_y ? a->n_bins / a->n_bins_y : a->n_bins;
            FUZZ_CHECK(!strcmp(a->key, b->key) && !strcmp(a->subsystem, b->subsystem) &&
                           a->n_bins == b->n_bins && a->n_bins_y == b->n_bins_y,
                       "histogram %d: key, subsystem or bins changed", i);
            FUZZ_CHECK(same_doubles(a->counts, b->counts, a->n_bins) &&
                           same_doubles(a->variances, b->variances, a->n_bins) &&
                           (!a->edges || same_doubles(a->edges, b->edges, nx + 1)) &&
                           (!a->edges_y || same_doubles(a->edges_y, b->edges_y, a->n_bins_y + 1)),
                       "histogram %s (%s): counts, variances or edges changed", a->key,
                       as_sparse ? "sparse" : "dense");
        }
    }
done:
    free(text);
    dn_runin_destroy(&run);
    dn_runin_destroy(&again);
    return 0;
}
