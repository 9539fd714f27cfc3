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
 *   - the run written back as UHI (variable axis, double or weighted storage,
 *     its run, time, label and subsystem as metadata) parses to the same run:
 *     same keys, bins bit for bit, no problem (parse -> write -> parse equal). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzcheck.h"
#include "json.h"
#include "uhi.h"

#define NAME "run_000123.json"

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
        for (int b = 0; h->edges && b <= h->n_bins; b++)
            FUZZ_CHECK(isfinite(h->edges[b]) && (b == 0 || h->edges[b] > h->edges[b - 1]),
                       "%s: edge %d: %g", h->key, b, h->edges[b]);
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

/* The run as a UHI document. */
static void write_uhi(FILE *f, const dn_runin_t *run)
{
    fputc('{', f);
    for (int i = 0; i < run->n_hist; i++) {
        const dn_histin_t *h = &run->hist[i];
        fputs(i ? ", " : "", f);
        dn_json_write_string(f, h->key);
        fputs(": {\"uhi_schema\": 1, \"axes\": [", f);
        if (h->edges) {
            fputs("{\"type\": \"variable\", \"edges\": ", f);
            numbers(f, h->edges, h->n_bins + 1);
        } else {
            fprintf(f, "{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": %d",
                    h->n_bins);
        }
        fprintf(f, ", \"underflow\": false, \"overflow\": false}], \"storage\": {\"type\": "
                   "\"%s\", \"values\": ", h->variances ? "weighted" : "double");
        numbers(f, h->counts, h->n_bins);
        if (h->variances) {
            fputs(", \"variances\": ", f);
            numbers(f, h->variances, h->n_bins);
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
    FILE *f = open_memstream(&text, &len);
    if (!f)
        goto done;
    write_uhi(f, run);
    if (fclose(f))
        goto done;
    rc = dn_uhi_parse(text, len, NAME, &again, &err);
    FUZZ_CHECK(rc == 0 || rc == DN_ENOMEM, "the run written back is refused: %s\n%s", err.msg,
               text);
    if (rc)
        goto done;
    FUZZ_CHECK(again->n_hist == run->n_hist && again->n_problems == 0,
               "written back: %d histograms and %d problems (first: %s), was %d",
               again->n_hist, again->n_problems, again->n_problems ? again->problems[0] : "",
               run->n_hist);
    if (run->n_hist)
        FUZZ_CHECK(again->run_number == run->run_number && again->label == run->label &&
                       (again->time == run->time || (isnan(again->time) && isnan(run->time))),
                   "run, time or label changed");
    for (int i = 0; i < run->n_hist; i++) {
        const dn_histin_t *a = &run->hist[i], *b = &again->hist[i];
        FUZZ_CHECK(!strcmp(a->key, b->key) && !strcmp(a->subsystem, b->subsystem) &&
                       a->n_bins == b->n_bins,
                   "histogram %d: key, subsystem or bins changed", i);
        FUZZ_CHECK(same_doubles(a->counts, b->counts, a->n_bins) &&
                       same_doubles(a->variances, b->variances, a->n_bins) &&
                       (!a->edges || same_doubles(a->edges, b->edges, a->n_bins + 1)),
                   "histogram %s: counts, variances or edges changed", a->key);
    }
done:
    free(text);
    dn_runin_destroy(&run);
    dn_runin_destroy(&again);
    return 0;
}
