/* fuzz_horizon.c: libFuzzer target for the multi-horizon checkpoint
 * (lib/core/horizon.h, dn_hz_load), which scorer_s reads back from its own
 * store at every restart: any bytes must be refused by name or load into a
 * tracker that saves back to the same bytes and scores a run. */
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
    if (!buf || len != size || dn_hz_save(hz, buf, len) != 0 || memcmp(buf, data, size) != 0)
        abort(); /* loaded, but not what was read */
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
