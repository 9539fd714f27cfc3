/* fuzz_mlstate.c: libFuzzer target for DINAMO-ML's stored forms
 * (lib/core/mlmodel.h, dinamo_ml.h, lib/io/mlfile.h): a weights file (DNML
 * blob or SPEC 3 raw float32, what the trainer and scorer_ml load at start),
 * the raw weights blob of a ModelWeights message (what scorer_ml imports from
 * the bus or the registry), a model's training state (DNMS) and a whole
 * tracker's state (DNMt, inside the trainer's key states and scorer_ml's
 * checkpoints). Each input is tried as it is and, when it starts with one of
 * the magics, once more with its FNV-1a hash recomputed, so that mutations
 * reach the fields behind the hash. The model they load into is a small one
 * (4 bins, d_model 4, 2 heads, 1 layer, d_ff 4, context 2), made once.
 *
 * Checked beyond "no crash":
 *   - a refusal returns a named error, and leaves the model's parameters as
 *     they were (import is all or nothing);
 *   - an accepted raw file or model state exports again to the same bytes,
 *     an accepted blob to the same architecture and parameters (its header's
 *     AdamW step and dropout are information a weights import does not
 *     take); an accepted tracker state saves again to the same bytes
 *     (parse -> write equal: the formats are canonical);
 *   - a DNML header read alone (dn_mlblob_config) gives a configuration that
 *     passes dn_mlconfig_check or is refused by name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "dinamo_ml.h"
#include "fuzzcheck.h"
#include "mlfile.h"
#include "mlmodel.h"

static dn_mlmodel_t *model;
static unsigned char *before, *after;
static size_t raw_n;

static void setup(void)
{
    if (model)
        return;
    dn_mlconfig_t c;
    dn_mlconfig_default(&c);
    c.n_bins = 4, c.d_model = 4, c.n_heads = 2, c.n_layers = 1, c.d_ff = 4, c.context = 2;
    c.max_batch = 2;
    model = dn_mlmodel_new(&c, 1);
    FUZZ_CHECK(model, "cannot make the model");
    raw_n = dn_mlmodel_raw_size(model);
    before = malloc(dn_mlmodel_state_size(model));
    after = malloc(dn_mlmodel_state_size(model));
    FUZZ_CHECK(before && after, "memory");
}

/* The model's whole state into buf. */
static void snapshot(unsigned char *buf)
{
    FUZZ_CHECK(dn_mlmodel_save_state(model, buf, dn_mlmodel_state_size(model)) == 0, "save");
}

static void unchanged_on_refusal(int rc, dn_err_t *err, const char *what)
{
    if (!rc)
        return;
    FUZZ_ERR_NAMED(rc, *err);
    snapshot(after);
    FUZZ_CHECK(!memcmp(before, after, dn_mlmodel_state_size(model)),
               "%s refused (%s) but the model changed", what, err->msg);
}

/* Export with fn into a new buffer of n bytes; equal to data? */
static void exports_same(int (*fn)(const dn_mlmodel_t *, void *, size_t), size_t n,
                         const uint8_t *data, size_t size, const char *what)
{
    unsigned char *b = malloc(n ? n : 1);
    if (!b)
        return;
    FUZZ_CHECK(fn(model, b, n) == 0, "%s: export failed", what);
    size_t at = 0;
    while (at < n && at < size && b[at] == data[at])
        at++;
    FUZZ_CHECK(n == size && at == n, "%s: accepted, exported differently (%zu bytes, was %zu; "
               "first difference at byte %zu: %02x, was %02x)", what, n, size, at,
               at < n ? b[at] : 0, at < size ? data[at] : 0);
    free(b);
}

/* A blob's header also carries the AdamW step and the dropout it was saved
 * with, which importing weights does not take: the architecture, the
 * parameter count and the parameters must come back, those two need not. */
static void blob_exports_same(const uint8_t *data, size_t size)
{
    size_t n = dn_mlmodel_blob_size(model);
    unsigned char *b = malloc(n);
    if (!b)
        return;
    FUZZ_CHECK(dn_mlmodel_export_blob(model, b, n) == 0, "blob: export failed");
    FUZZ_CHECK(n == size && !memcmp(b, data, 36) && !memcmp(b + 40, data + 40, 8) &&
                   !memcmp(b + DN_MLBLOB_HEADER, data + DN_MLBLOB_HEADER,
                           n - DN_MLBLOB_HEADER),
               "blob: accepted, exported with other parameters or architecture");
    free(b);
}

static void try_all(const uint8_t *data, size_t size)
{
    dn_err_t err = {0};
    snapshot(before);
    int rc = dn_mlmodel_import_any(model, data, size, &err);
    unchanged_on_refusal(rc, &err, "import_any");
    if (!rc) {
        FUZZ_SAY("imported (%s)", size >= 4 && !memcmp(data, "DNML", 4) ? "blob" : "raw");
        if (size >= 4 && !memcmp(data, "DNML", 4))
            blob_exports_same(data, size);
        else
            exports_same(dn_mlmodel_export_raw, raw_n, data, size, "raw");
    }
    snapshot(before);
    rc = dn_mlmodel_load_state(model, data, size, &err);
    unchanged_on_refusal(rc, &err, "load_state");
    if (!rc) {
        FUZZ_SAY("model state loaded");
        exports_same(dn_mlmodel_save_state, dn_mlmodel_state_size(model), data, size, "state");
    }
    dn_mlconfig_t cfg;
    rc = dn_mlblob_config(data, size, &cfg, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
    } else {
        dn_err_t e2 = {0};
        rc = dn_mlconfig_check(&cfg, &e2);
        FUZZ_CHECK(rc == 0 || e2.msg[0], "a blob header's config refused without a name");
    }
    dn_ml_t *ml = NULL;
    rc = dn_ml_load(data, size, &ml, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(!ml, "refused tracker returned");
    } else {
        FUZZ_SAY("tracker state loaded");
        size_t n = dn_ml_state_size(ml);
        unsigned char *b = malloc(n ? n : 1);
        if (b) {
            FUZZ_CHECK(dn_ml_save(ml, b, n) == 0, "tracker: save failed");
            FUZZ_CHECK(n == size && !memcmp(b, data, n), "tracker: loaded, saved differently "
                       "(%zu bytes, was %zu)", n, size);
            free(b);
        }
        dn_ml_destroy(&ml);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    try_all(data, size);
    /* the same with the hash made right, when there is one */
    static const struct {
        const char magic[5];
        size_t hash_at, from;
    } forms[] = {{"DNML", 56, 64}, {"DNMS", 88, 96}, {"DNMt", 12, 16}};
    for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
        if (size < forms[k].from || memcmp(data, forms[k].magic, 4))
            continue;
        unsigned char *copy = malloc(size);
        if (!copy)
            return 0;
        memcpy(copy, data, size);
        dn_put_u32(copy + forms[k].hash_at,
                   dn_fnv1a32(copy + forms[k].from, size - forms[k].from));
        try_all(copy, size);
        free(copy);
    }
    return 0;
}
