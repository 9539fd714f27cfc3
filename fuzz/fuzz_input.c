/* fuzz_input.c: libFuzzer target for a directory of UHI run files read as one
 * dataset (lib/io/input.h, dn_input_read_dataset), what `dinamo --in DIR` and
 * the feed read: one input is cut at lines "====" into up to four run files
 * (run_000001.json .. run_000004.json: their names give run numbers when the
 * metadata does not) and a labels.csv applied on top, written into a private
 * directory under /dev/shm (else $TMPDIR).
 *
 * Checked beyond "no crash":
 *   - a refusal returns a named error;
 *   - every file or histogram left out is reported once through the warn
 *     callback with a non-empty message, and n_skipped counts them;
 *   - an accepted dataset keeps dataset.h's invariants (2-D: the edges of
 *     each axis), with run numbers strictly increasing (sorted, each read
 *     once). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzzcheck.h"
#include "input.h"

static char dir[256];
static const char *const files[5] = {"run_000001.json", "run_000002.json", "run_000003.json",
                                     "run_000004.json", "labels.csv"};

static void path_of(char *buf, size_t cap, const char *f)
{
    snprintf(buf, cap, "%s/%s", dir, f);
}

static void cleanup(void)
{
    char path[400];
    for (int i = 0; i < 5; i++) {
        path_of(path, sizeof path, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* Writes part i of data (up to the next line "====") as files[i]; an empty
 * part: no such file. Returns whether labels.csv was written. */
static int split(const uint8_t *data, size_t size)
{
    static const char sep[] = "\n====\n";
    const uint8_t *p = data, *end = data + size;
    int labels = 0;
    for (int i = 0; i < 5; i++) {
        char path[400];
        path_of(path, sizeof path, files[i]);
        unlink(path);
        if (!p)
            continue;
        const uint8_t *q;
        size_t n;
        if (end - p >= 5 && !memcmp(p, sep + 1, 5)) {
            q = p - 1;
            n = 0;
        } else {
            q = memmem(p, (size_t)(end - p), sep, sizeof sep - 1);
            n = q ? (size_t)(q - p) + 1 : (size_t)(end - p);
        }
        if (n) {
            FILE *f = fopen(path, "wb");
            FUZZ_CHECK(f && fwrite(p, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
            labels |= i == 4;
        }
        p = q ? q + sizeof sep - 1 : NULL;
    }
    return labels;
}

static int warnings;

static void warn(void *ctx, const char *msg)
{
    (void)ctx;
    FUZZ_CHECK(msg && msg[0], "an empty warning");
    FUZZ_SAY("warning: %s", msg);
    warnings++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        fuzz_dir(dir, sizeof dir, "input");
        atexit(cleanup);
    }
    char labels[400];
    path_of(labels, sizeof labels, files[4]);
    dn_input_opts_t opts = {.key = NULL, .labels_path = split(data, size) ? labels : NULL,
                            .warn = warn};
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    int skipped = -1;
    warnings = 0;
    int rc = dn_input_read_dataset(dir, &opts, &ds, &skipped, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(!ds, "refused dataset returned");
        return 0;
    }
    FUZZ_SAY("dataset: %d runs x %d bins, %d skipped", ds->n_runs, ds->n_bins, skipped);
    FUZZ_CHECK(skipped == warnings, "%d skipped, %d warnings", skipped, warnings);
    FUZZ_CHECK(ds->n_runs >= 1 && ds->n_bins >= 1, "%d runs x %d bins", ds->n_runs, ds->n_bins);
    /* 2-D (a UHI key of two axes): nx + 1 edges of x, ny + 1 of y (dataset.h) */
    FUZZ_CHECK(ds->n_bins_y >= 0 && (!ds->n_bins_y || (ds->n_bins % ds->n_bins_y == 0 &&
                                                        ds->edges_y)),
               "%d bins, %d of y", ds->n_bins, ds->n_bins_y);
    for (int j = 0; j < dn_dataset_nx(ds); j++)
        FUZZ_CHECK(isfinite(ds->edges[j]) && ds->edges[j] < ds->edges[j + 1], "edge %d", j);
    for (int j = 0; j < ds->n_bins_y; j++)
        FUZZ_CHECK(isfinite(ds->edges_y[j]) && ds->edges_y[j] < ds->edges_y[j + 1], "y edge %d",
                   j);
    for (int i = 0; i < ds->n_runs; i++) {
        FUZZ_CHECK(i == 0 || ds->run[i - 1] < ds->run[i], "runs %lld, %lld not increasing",
                   (long long)(i ? ds->run[i - 1] : 0), (long long)ds->run[i]);
        FUZZ_CHECK(ds->label[i] >= -1 && ds->label[i] <= 1, "run %d: label %d", i, ds->label[i]);
        for (int j = 0; j < ds->n_bins; j++) {
            double c = ds->counts[(size_t)i * ds->n_bins + j];
            FUZZ_CHECK(isfinite(c) && c >= 0, "run %d bin %d: count %g", i, j, c);
            FUZZ_CHECK(!ds->variances || (isfinite(ds->variances[(size_t)i * ds->n_bins + j]) &&
                                          ds->variances[(size_t)i * ds->n_bins + j] >= 0),
                       "run %d bin %d: variance", i, j);
        }
    }
    dn_dataset_destroy(&ds);
    return 0;
}
