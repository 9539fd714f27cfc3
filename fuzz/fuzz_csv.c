/* fuzz_csv.c: libFuzzer target for the CSV readers (lib/io/dataset_io.c via
 * dataset.h): the dataset directory a feed or `dinamo` reads (runs.csv,
 * truth.csv, meta.json), a runs CSV alone, and a labels CSV. One input is
 * cut at lines "====" into up to four files, in this order: runs.csv,
 * truth.csv, meta.json, labels.csv (a missing or empty part: no such file); they are
 * written into a private directory under /dev/shm or $TMPDIR (the readers
 * take paths).
 *
 * Checked beyond "no crash":
 *   - every refusal returns a named error that names the file it is about;
 *   - an accepted dataset keeps dataset.h's invariants (finite non-negative
 *     counts, labels -1/0/1, strictly increasing edges, truth all or none,
 *     unknown truth marked: events and dead_bins >= -1, rapid_sigma 0 when
 *     only rapid_change was given);
 *   - an accepted dataset written with dn_dataset_write_dir reads back equal:
 *     run numbers, labels, counts, edges, edges_known and truth (what is
 *     unknown staying unknown) bit for bit, the same meta.json extras
 *     (parse -> write -> parse equal);
 *   - labels read from labels.csv are -1, 0 or 1. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset.h"
#include "fuzzcheck.h"

static char dir[256], dir2[300];
static const char *const files[4] = {"runs.csv", "truth.csv", "meta.json", "labels.csv"};

static void path_of(char *buf, size_t cap, const char *d, const char *f)
{
    snprintf(buf, cap, "%s/%s", d, f);
}

static void cleanup(void)
{
    char path[400];
    for (int i = 0; i < 4; i++) {
        path_of(path, sizeof path, dir, files[i]);
        unlink(path);
        path_of(path, sizeof path, dir2, files[i]);
        unlink(path);
    }
    rmdir(dir2);
    rmdir(dir);
}

static void setup(void)
{
    if (dir[0])
        return;
    atexit(cleanup);
    fuzz_dir(dir, sizeof dir, "csv");
    snprintf(dir2, sizeof dir2, "%s/again", dir);
}

/* Writes the parts of data into dir: part i up to the next "\n====\n". */
static void split(const uint8_t *data, size_t size)
{
    static const char sep[] = "\n====\n";
    const uint8_t *p = data, *end = data + size;
    for (int i = 0; i < 4; i++) {
        char path[400];
        path_of(path, sizeof path, dir, files[i]);
        unlink(path);
        if (!p)
            continue;
        const uint8_t *q;
        size_t n;
        if (end - p >= 5 && !memcmp(p, sep + 1, 5)) { /* an empty part */
            q = p - 1;
            n = 0;
        } else {
            q = memmem(p, (size_t)(end - p), sep, sizeof sep - 1);
            n = q ? (size_t)(q - p) + 1 : (size_t)(end - p); /* the part keeps its \n */
        }
        if (n) { /* an empty part: no such file */
            FILE *f = fopen(path, "wb");
            FUZZ_CHECK(f && fwrite(p, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
        }
        p = q ? q + sizeof sep - 1 : NULL;
    }
}

static void check_dataset(const dn_dataset_t *ds)
{
    FUZZ_CHECK(ds->n_runs >= 0 && ds->n_bins >= 1, "%d runs x %d bins", ds->n_runs, ds->n_bins);
    for (int j = 0; j < ds->n_bins; j++)
        FUZZ_CHECK(isfinite(ds->edges[j]) && ds->edges[j] < ds->edges[j + 1], "edge %d", j);
    for (int i = 0; i < ds->n_runs; i++) {
        FUZZ_CHECK(ds->label[i] >= -1 && ds->label[i] <= 1, "run %d: label %d", i, ds->label[i]);
        for (int j = 0; j < ds->n_bins; j++) {
            double c = ds->counts[(size_t)i * ds->n_bins + j];
            FUZZ_CHECK(isfinite(c) && c >= 0, "run %d bin %d: count %g", i, j, c);
        }
    }
    int t = !!ds->true_mu;
    FUZZ_CHECK(t == !!ds->true_sigma && t == !!ds->rapid_mu && t == !!ds->rapid_sigma &&
                   t == !!ds->events && t == !!ds->dead_bins,
               "truth arrays partly set");
    for (int i = 0; t && i < ds->n_runs; i++) {
        FUZZ_CHECK(ds->events[i] >= -1 && ds->dead_bins[i] >= -1, "run %d: events %d, dead %d",
                   i, ds->events[i], ds->dead_bins[i]);
        FUZZ_CHECK(ds->rapid_split_known || !ds->rapid_sigma[i],
                   "run %d: rapid_sigma set without the split known", i);
    }
}

#define SAME(a, b, n) (((a) == NULL && (b) == NULL) || ((a) && (b) && !memcmp((a), (b), (n))))

static void check_same(const dn_dataset_t *a, const dn_dataset_t *b)
{
    size_t r = (size_t)a->n_runs, c = r * (size_t)a->n_bins;
    FUZZ_CHECK(a->n_runs == b->n_runs && a->n_bins == b->n_bins, "dimensions changed");
    FUZZ_CHECK(SAME(a->run, b->run, r * 8) && SAME(a->label, b->label, r) &&
                   SAME(a->counts, b->counts, c * 8) && SAME(a->variances, b->variances, c * 8) &&
                   SAME(a->edges, b->edges, ((size_t)a->n_bins + 1) * 8),
               "runs, labels, counts or edges changed");
    FUZZ_CHECK(a->edges_known == b->edges_known, "edges_known %d -> %d", a->edges_known,
               b->edges_known);
    FUZZ_CHECK(!a->true_mu || a->rapid_split_known == b->rapid_split_known,
               "rapid_split_known %d -> %d", a->rapid_split_known, b->rapid_split_known);
    FUZZ_CHECK(SAME(a->true_mu, b->true_mu, r * 8) && SAME(a->true_sigma, b->true_sigma, r * 8) &&
                   SAME(a->rapid_mu, b->rapid_mu, r) && SAME(a->rapid_sigma, b->rapid_sigma, r) &&
                   SAME(a->events, b->events, r * 4) && SAME(a->dead_bins, b->dead_bins, r * 4),
               "truth changed");
    FUZZ_CHECK((!a->meta_extra && !b->meta_extra) ||
                   (a->meta_extra && b->meta_extra && !strcmp(a->meta_extra, b->meta_extra)),
               "meta.json extras changed: %s -> %s", a->meta_extra ? a->meta_extra : "(none)",
               b->meta_extra ? b->meta_extra : "(none)");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    split(data, size);
    dn_dataset_t *ds = NULL, *again = NULL, *runs = NULL;
    dn_err_t err = {0};
    char path[400];

    int rc = dn_dataset_read_dir(dir, &ds, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(!ds && strstr(err.msg, dir), "refusal without the file's name: %s", err.msg);
    } else {
        FUZZ_SAY("dataset: %d runs x %d bins, truth %d", ds->n_runs, ds->n_bins, !!ds->true_mu);
        check_dataset(ds);
        rc = dn_dataset_write_dir(ds, dir2, &err);
        FUZZ_CHECK(rc == 0, "an accepted dataset cannot be written: %s", err.msg);
        rc = dn_dataset_read_dir(dir2, &again, &err);
        FUZZ_CHECK(rc == 0 || rc == DN_ENOMEM, "the dataset written back is refused: %s",
                   err.msg);
        if (again)
            check_same(ds, again);
    }

    path_of(path, sizeof path, dir, files[0]);
    rc = dn_dataset_read_runs_csv(path, &runs, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(!runs && strstr(err.msg, path), "refusal without the file's name: %s",
                   err.msg);
    } else {
        check_dataset(runs);
    }

    int64_t *rn = NULL;
    int8_t *lab = NULL;
    int n = 0;
    path_of(path, sizeof path, dir, files[3]);
    rc = dn_labels_read_csv(path, &rn, &lab, &n, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(strstr(err.msg, path), "refusal without the file's name: %s", err.msg);
    } else {
        FUZZ_SAY("%d labels", n);
        FUZZ_CHECK(n >= 0, "%d labels", n);
        for (int i = 0; i < n; i++)
            FUZZ_CHECK(lab[i] >= -1 && lab[i] <= 1, "label %d: %d", i, lab[i]);
    }
    free(rn);
    free(lab);
    dn_dataset_destroy(&ds);
    dn_dataset_destroy(&again);
    dn_dataset_destroy(&runs);
    return 0;
}
