/* fuzz_good.c: libFuzzer target for scorer_ml's good-run table
 * (services/scorer_ml/good.h, ml_good_row: what ml_good_restore does for each
 * row), from which a restarted scorer_ml rebuilds its trackers' contexts. An
 * input is a sequence of rows: a 1-byte key length, the key, a 2-byte
 * little-endian value length, the value.
 *
 * Checked beyond "no crash":
 *   - a refused row returns a named error naming its key, and never reaches
 *     the callback;
 *   - an accepted row reaches the callback with a key of 1 ..
 *     DN_MSG_KEY_MAX bytes and 1 .. DN_MSG_BINS_MAX bins, and written again
 *     as ml_good_record writes it (key NUL run_seq; n_bins, has_variances,
 *     counts, variances) is the key and value it came from (decode -> encode
 *     equal). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "fuzzcheck.h"
#include "good.h"
#include "msg.h"

typedef struct {
    const uint8_t *key, *val;
    size_t klen, vlen;
    int calls;
} row_t;

static int check_row(void *arg, const char *key, uint64_t seq, int n_bins, const double *counts,
                     const double *variances, dn_err_t *err)
{
    (void)err;
    row_t *r = arg;
    r->calls++;
    size_t kl = strlen(key);
    FUZZ_CHECK(kl >= 1 && kl <= DN_MSG_KEY_MAX && n_bins >= 1 && n_bins <= DN_MSG_BINS_MAX,
               "key of %zu bytes, %d bins", kl, n_bins);
    unsigned char kb[DN_MSG_KEY_MAX + 9];
    memcpy(kb, key, kl);
    kb[kl] = 0;
    dn_put_be64(kb + kl + 1, seq);
    FUZZ_CHECK(kl + 9 == r->klen && !memcmp(kb, r->key, r->klen), "key written differently");
    dn_wbuf_t w = {0};
    dn_wb_u32(&w, (uint32_t)n_bins);
    dn_wb_u32(&w, variances ? 1u : 0u);
    for (int b = 0; b < n_bins; b++)
        dn_wb_f64(&w, counts[b]);
    for (int b = 0; variances && b < n_bins; b++)
        dn_wb_f64(&w, variances[b]);
    FUZZ_CHECK(w.oom || (w.len == r->vlen && !memcmp(w.p, r->val, w.len)),
               "value written differently");
    free(w.p);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    while (end - p >= 3) {
        row_t r = {.klen = p[0]};
        r.key = p + 1;
        if (r.klen > (size_t)(end - r.key) - 2)
            break;
        const uint8_t *v = r.key + r.klen;
        r.vlen = (size_t)(v[0] | v[1] << 8);
        r.val = v + 2;
        if (r.vlen > (size_t)(end - r.val))
            r.vlen = (size_t)(end - r.val);
        p = r.val + r.vlen;
        dn_err_t err = {0};
        int rc = ml_good_row(r.key, r.klen, r.val, r.vlen, check_row, &r, &err);
        if (rc) {
            FUZZ_ERR_NAMED(rc, err);
            FUZZ_CHECK(r.calls == 0, "a refused row reached the callback");
        } else {
            FUZZ_SAY("row accepted");
            FUZZ_CHECK(r.calls == 1, "an accepted row reached the callback %d times", r.calls);
        }
    }
    return 0;
}
