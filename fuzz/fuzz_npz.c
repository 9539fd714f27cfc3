/* fuzz_npz.c: libFuzzer target for NumPy .npz archives (lib/io/npz.h), the
 * reference implementation's datasets a feed or `dinamo` reads: any bytes
 * through dn_npz_read_mem and dn_npz_read_dataset_mem.
 *
 * Checked beyond "no crash":
 *   - a refusal returns a named error that names the archive, and nothing;
 *   - no input makes the reader allocate more than libFuzzer's malloc limit
 *     (run.sh: 1 GiB): a declared size beyond what the data can hold is
 *     refused first (issue 17);
 *   - an accepted archive's arrays have size = the product of their shape
 *     and data exactly when the dtype is numeric; written back as a stored
 *     ZIP of little-endian float64 .npy members, they read back equal: same
 *     names, shapes and values bit for bit (parse -> write -> parse equal);
 *   - an accepted dataset has n_runs x n_bins finite non-negative counts,
 *     labels -1, 0 or 1, and increasing edges. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzzcheck.h"
#include "npz.h"

#define NAME "fuzz.npz"

static void le16(FILE *f, unsigned v)
{
    fputc((int)(v & 0xff), f);
    fputc((int)(v >> 8 & 0xff), f);
}
static void le32(FILE *f, uint32_t v)
{
    le16(f, v & 0xffff);
    le16(f, v >> 16);
}

/* The numeric arrays of z as a stored (uncompressed, no ZIP64) archive; 0, or
 * -1 when it would not fit in 32-bit ZIP fields (then nothing is compared). */
static int write_npz(const dn_npz_t *z, char **out, size_t *len)
{
    FILE *f = open_memstream(out, len);
    if (!f)
        return -1;
    uint32_t *offs = calloc((size_t)z->n + 1, sizeof *offs), *crcs = calloc((size_t)z->n + 1, 4),
             *sizes = calloc((size_t)z->n + 1, 4);
    int rc = offs && crcs && sizes ? 0 : -1;
    for (int i = 0; !rc && i < z->n; i++) {
        const dn_npy_t *a = &z->arrays[i];
        if (!a->data)
            continue;
        char hdr[512];
        int h = snprintf(hdr, sizeof hdr, "{'descr': '<f8', 'fortran_order': False, 'shape': (");
        for (int d = 0; d < a->ndim; d++)
            h += snprintf(hdr + h, sizeof hdr - (size_t)h, "%lld,%s", (long long)a->shape[d],
                          d + 1 < a->ndim ? " " : "");
        h += snprintf(hdr + h, sizeof hdr - (size_t)h, "), }");
        while ((10 + h + 1) % 64)
            hdr[h++] = ' ';
        hdr[h++] = '\n';
        uint64_t body = 10 + (uint64_t)h + 8 * (uint64_t)a->size;
        if (body > UINT32_MAX / 2) {
            rc = -1;
            break;
        }
        unsigned char *npy = malloc(body);
        if (!npy) {
            rc = -1;
            break;
        }
        memcpy(npy, "\x93NUMPY\x01\x00", 8);
        npy[8] = (unsigned char)(h & 0xff);
        npy[9] = (unsigned char)(h >> 8);
        memcpy(npy + 10, hdr, (size_t)h);
        memcpy(npy + 10 + h, a->data, 8 * (size_t)a->size); /* x86-64: little-endian */
        size_t nl = strlen(a->name) + 4;
        offs[i] = (uint32_t)ftell(f);
        crcs[i] = (uint32_t)crc32(0, npy, (uInt)body);
        sizes[i] = (uint32_t)body;
        le32(f, 0x04034b50u);
        le16(f, 20), le16(f, 0), le16(f, 0), le32(f, 0), le32(f, crcs[i]);
        le32(f, sizes[i]), le32(f, sizes[i]), le16(f, (unsigned)nl), le16(f, 0);
        fprintf(f, "%s.npy", a->name);
        fwrite(npy, 1, body, f);
        free(npy);
    }
    long cd = ftell(f);
    int n = 0;
    for (int i = 0; !rc && i < z->n; i++) {
        const dn_npy_t *a = &z->arrays[i];
        if (!a->data)
            continue;
        size_t nl = strlen(a->name) + 4;
        le32(f, 0x02014b50u);
        le16(f, 20), le16(f, 20), le16(f, 0), le16(f, 0), le32(f, 0), le32(f, crcs[i]);
        le32(f, sizes[i]), le32(f, sizes[i]), le16(f, (unsigned)nl), le16(f, 0), le16(f, 0);
        le16(f, 0), le16(f, 0), le32(f, 0), le32(f, offs[i]);
        fprintf(f, "%s.npy", a->name);
        n++;
    }
    long end = ftell(f);
    le32(f, 0x06054b50u);
    le16(f, 0), le16(f, 0), le16(f, (unsigned)n), le16(f, (unsigned)n);
    le32(f, (uint32_t)(end - cd)), le32(f, (uint32_t)cd), le16(f, 0);
    free(offs);
    free(crcs);
    free(sizes);
    if (fclose(f) || end > (long)UINT32_MAX || n > 0xfffe)
        rc = -1;
    return rc;
}

static void check_arrays(const dn_npz_t *z)
{
    for (int i = 0; i < z->n; i++) {
        const dn_npy_t *a = &z->arrays[i];
        FUZZ_CHECK(a->name && a->ndim >= 0 && a->ndim <= DN_NPY_MAX_DIMS, "array %d", i);
        int64_t p = 1;
        for (int d = 0; d < a->ndim; d++) {
            FUZZ_CHECK(a->shape[d] >= 0, "%s: dimension %d: %lld", a->name, d,
                       (long long)a->shape[d]);
            p *= a->shape[d];
        }
        FUZZ_CHECK(p == a->size, "%s: size %lld, shape product %lld", a->name,
                   (long long)a->size, (long long)p);
        FUZZ_CHECK((a->data == NULL) == (strcmp(a->dtype + 1, "O") == 0),
                   "%s: dtype %s with data %p", a->name, a->dtype, (void *)a->data);
    }
}

static void check_dataset(const dn_dataset_t *ds)
{
    FUZZ_CHECK(ds->n_runs >= 0 && ds->n_bins >= 1, "%d runs x %d bins", ds->n_runs, ds->n_bins);
    for (int j = 0; j < ds->n_bins; j++)
        FUZZ_CHECK(ds->edges[j] < ds->edges[j + 1], "edge %d", j);
    for (int i = 0; i < ds->n_runs; i++) {
        FUZZ_CHECK(ds->label[i] >= -1 && ds->label[i] <= 1, "run %d: label %d", i, ds->label[i]);
        for (int j = 0; j < ds->n_bins; j++) {
            double c = ds->counts[(size_t)i * ds->n_bins + j];
            FUZZ_CHECK(isfinite(c) && c >= 0, "run %d bin %d: count %g", i, j, c);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dn_npz_t *z = NULL, *again = NULL;
    dn_dataset_t *ds = NULL;
    char *w = NULL;
    size_t wn = 0;
    dn_err_t err = {0};
    int rc = dn_npz_read_mem(data, size, NAME, &z, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(!z && strstr(err.msg, NAME), "refusal without the archive's name: %s",
                   err.msg);
        return 0;
    }
    FUZZ_SAY("%d arrays", z->n);
    check_arrays(z);
    rc = dn_npz_read_dataset_mem(data, size, NAME, &ds, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(!ds, "refused dataset returned");
    } else {
        FUZZ_SAY("dataset of %d runs x %d bins", ds->n_runs, ds->n_bins);
        check_dataset(ds);
    }
    if (write_npz(z, &w, &wn))
        goto done;
    rc = dn_npz_read_mem(w, wn, "again.npz", &again, &err);
    FUZZ_CHECK(rc == 0 || rc == DN_ENOMEM, "the arrays written back are refused: %s", err.msg);
    if (rc)
        goto done;
    int k = 0;
    for (int i = 0; i < z->n; i++) {
        const dn_npy_t *a = &z->arrays[i];
        if (!a->data)
            continue;
        FUZZ_CHECK(k < again->n, "array %s lost", a->name);
        const dn_npy_t *b = &again->arrays[k++];
        FUZZ_CHECK(!strcmp(a->name, b->name) && a->ndim == b->ndim && a->size == b->size &&
                       !memcmp(a->shape, b->shape, sizeof a->shape[0] * (size_t)a->ndim) &&
                       !memcmp(a->data, b->data, sizeof *a->data * (size_t)a->size),
                   "array %s changed when written back", a->name);
    }
    FUZZ_CHECK(k == again->n, "%d arrays written back, %d read", k, again->n);
done:
    free(w);
    dn_npz_destroy(&z);
    dn_npz_destroy(&again);
    dn_dataset_destroy(&ds);
    return 0;
}
