/* fuzz_detail.c: libFuzzer target for the dashboard's summary rows
 * (services/dashboard/detail.h, dash_detail_row: what a restarted dashboard
 * reads back from its LMDB store into the model), then the model's JSON
 * views (view.h) over whatever the rows built.
 *
 * An input is a sequence of rows: a 1-byte table (mod 4: key, thr, runs,
 * meta), a 1-byte key length, a 2-byte little-endian value length, the key,
 * the value. A runs row's run_seq (its 8-byte key) is kept below 1024 by the
 * harness (its high bytes cleared), so the model's arrays stay within the
 * fuzzer's memory limit and each input renders at most 1024 run pages; the
 * store itself accepts run_seq up to 2^30.
 *
 * Checked beyond "no crash":
 *   - a refused row returns a named error (FUZZ_ERR_NAMED);
 *   - every view (summary, run list, every run page, every key's history,
 *     metrics) of the model, whatever the rows held, is valid JSON that the
 *     project's strict parser reads back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detail.h"
#include "fuzzcheck.h"
#include "json.h"
#include "model.h"
#include "view.h"

static void check_json(char *buf, size_t len, const char *what)
{
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    FUZZ_CHECK(dn_json_parse(buf, len, &doc, &err) == 0, "%s is not JSON: %s", what, err.msg);
    dn_json_destroy(&doc);
    free(buf);
}

static void views(dash_model_t *m)
{
    char *buf;
    size_t len;
    FILE *f;
#define VIEW(call, what)                                                                      \
    do {                                                                                      \
        buf = NULL;                                                                           \
        f = open_memstream(&buf, &len);                                                       \
        if (!f)                                                                               \
            return;                                                                           \
        int vrc = call;                                                                       \
        fclose(f);                                                                            \
        if (vrc == 0)                                                                         \
            check_json(buf, len, what);                                                       \
        else                                                                                  \
            free(buf);                                                                        \
    } while (0)
    dash_filter_t all = {.before = -1, .limit = 1000, .severity = -1, .method = -1,
                         .subsystem = -1, .awaiting = 0};
    VIEW(dash_view_summary(f, m, "u", "c", 0), "summary");
    VIEW(dash_view_runs(f, m, &all), "run list");
    VIEW(dash_view_metrics(f, m), "metrics");
    for (int k = 0; k < m->n_keys; k++)
        VIEW(dash_view_key(f, m, k), "key history");
    for (int seq = 0; seq < m->n_runs; seq++) {
        buf = NULL;
        f = open_memstream(&buf, &len);
        if (!f)
            return;
        dn_jw_t w;
        dn_jw_init(&w, f);
        int rc = dash_view_run_page(&w, m, seq);
        if (rc == 0) {
            dn_jw_end(&w);
            rc = dn_jw_finish(&w);
        }
        fclose(f);
        if (rc == 0)
            check_json(buf, len, "run page");
        else
            free(buf);
    }
#undef VIEW
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dash_model_t m;
    if (dash_model_init(&m))
        return 0;
    const uint8_t *p = data, *end = data + size;
    while (end - p >= 4) {
        dash_row_t table = (dash_row_t)(p[0] % DASH_ROW_TABLES);
        size_t klen = p[1], vlen = (size_t)p[2] | (size_t)p[3] << 8;
        p += 4;
        if ((size_t)(end - p) < klen + vlen)
            break;
        uint8_t key[256];
        memcpy(key, p, klen);
        if (table == DASH_ROW_RUN && klen == 8)
            memset(key, 0, 6), key[6] &= 0x03;
        dn_err_t err = {0};
        int rc = dash_detail_row(&m, table, key, klen, p + klen, vlen, &err);
        if (rc) {
            FUZZ_ERR_NAMED(rc, err);
        }
        FUZZ_SAY("table %d, key %zu bytes, value %zu bytes: %s", (int)table, klen, vlen,
                 rc ? err.msg : "applied");
        p += klen + vlen;
    }
    dash_model_settle(&m, NULL, NULL);
    views(&m);
    dash_model_free(&m);
    return 0;
}
