/* fuzz_horizon.c: libFuzzer target for the multi-horizon checkpoint
 * (lib/core/horizon.h, dn_hz_load), which scorer_s reads back from its own
 * store at every restart: any bytes must be refused by name or load into a
 * tracker that scores a run and saves back to the same bytes. A state of an
 * older format (DINAMO-S state version 1, before debiasing) loads and saves
 * as the current one: then the saved bytes must load and save to themselves. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "horizon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dn_err_t err = {0};
    dn_hz_t *hz = NULL;
    if (dn_hz_load(data, size, &hz, &err) != 0) {
        if (!err.msg[0])
            abort(); /* a refusal must say why */
        return 0;
    }
    size_t len = dn_hz_state_size(hz);
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf || dn_hz_save(hz, buf, len) != 0)
        abort();
    if (len == size) {
        if (memcmp(buf, data, size) != 0)
            abort(); /* loaded, but not what was read */
    } else {
        dn_hz_t *again = NULL;
        unsigned char *buf2 = malloc(len ? len : 1);
        if (len < size || !buf2 || dn_hz_load(buf, len, &again, &err) != 0 ||
            dn_hz_state_size(again) != len || dn_hz_save(again, buf2, len) != 0 ||
            memcmp(buf, buf2, len) != 0)
            abort(); /* an upgraded state that does not read back as itself */
        dn_hz_destroy(&again);
        free(buf2);
    }
    int nb = dn_s_n_bins(dn_hz_now(hz));
    double *x = calloc((size_t)nb, sizeof *x);
    if (x) {
        x[0] = 10.0;
        dn_hz_out_t o = {0};
        dn_hz_score(hz, x, NULL, 1.7e9, &o, NULL);
        dn_hz_update(hz, x, NULL, NULL);
    }
    free(x);
    free(buf);
    dn_hz_destroy(&hz);
    return 0;
}
