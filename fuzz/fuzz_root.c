/* fuzz_root.c: libFuzzer target for the ROOT reader (rootfile.h, roothist.h,
 * rootzip.h, rootrun.h): any bytes opened as a ROOT file, read as the feed
 * reads it (rootrun.h: every histogram decoded, named, its monitored bins
 * checked, the run collected), every other key's payload read, every record
 * of the file walked and its payload inflated; and the same bytes decoded
 * directly as a TH1D and a TH2F payload, which reaches the streamers without
 * a valid container.
 * Errors are expected; a crash, a hang, a leak or a sanitizer report is a
 * finding. Build with `make fuzz`, run with fuzz/run-root.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "rootfile.h"
#include "roothist.h"
#include "rootrun.h"
#include "runin.h"

/* Records of any size are walked; only those up to 64 KiB decompressed, so
 * that one input (tree baskets of a 1.6 MB seed) costs milliseconds. */
static int read_record(void *ctx, const dn_root_key_t *key)
{
    if (key->objlen > 65536)
        return 0;
    unsigned char *buf = NULL;
    size_t len = 0;
    (void)dn_root_file_payload(ctx, key, &buf, &len, NULL);
    free(buf);
    return 0;
}

static void read_file(const uint8_t *data, size_t size)
{
    dn_root_file_t *f = NULL;
    dn_err_t err;
    /* a name with a run number, so that a file outside the DQM layout is a run */
    if (dn_root_file_open_mem(data, size, "fuzz_1.root", &f, &err))
        return;
    dn_runin_t *run = NULL;
    (void)dn_root_run_from_file(f, NULL, &run, &err); /* every histogram, as the feed */
    dn_runin_destroy(&run);
    for (int i = 0; i < dn_root_file_n_keys(f); i++) {
        const dn_root_key_t *k = dn_root_file_key(f, i);
        if (k->kind == DN_ROOT_OTHER)
            read_record(f, k); /* trees, profiles...: their payloads, decompressed */
    }
    (void)dn_root_file_scan(f, read_record, f, &err);
    dn_root_file_destroy(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_file(data, size);
    static const char *const classes[] = {"TH1D", "TH2F"};
    for (int c = 0; c < 2; c++) {
        dn_root_hist_t *h = NULL;
        (void)dn_root_hist_decode(data, size, classes[c], &h, NULL);
        dn_root_hist_destroy(&h);
    }
    return 0;
}
