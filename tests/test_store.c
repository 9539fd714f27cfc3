/* test_store.c: the LMDB store (lib/store.h) in a fresh mkdtemp directory per
 * test: tables, weights versions and pruning, checkpoints, run logs, batches,
 * map growth, persistence, and a read-only reader in another process. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rng.h"
#include "store.h"
#include "storedigest.h"
#include "tmpdir.h"

static char tmpdir[DN_TEST_TMPDIR_MAX];

static void make_tmp(void) { dn_test_tmpdir(tmpdir, "store"); }

static void remove_tmp(void) { dn_test_rmdir(tmpdir); }

TestSuite(store, .init = make_tmp, .fini = remove_tmp);

static dn_store_t *open_rw(size_t map)
{
    dn_err_t err = {0};
    dn_store_t *s = dn_store_open(tmpdir, 0, map, &err);
    cr_assert_not_null(s, "open %s: %s", tmpdir, err.msg);
    return s;
}

static int collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    char *out = arg;
    strncat(out, key, klen);
    strcat(out, "=");
    strncat(out, val, vlen);
    strcat(out, ";");
    return 0;
}

static int stop_after_two(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    return ++*(int *)arg == 2 ? 1 : 0;
}

static int fail_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    return DN_ERANGE;
}

Test(store, put_get_delete_iterate)
{
    dn_store_t *s = open_rw(0);
    dn_err_t err = {0};
    cr_assert_eq(dn_store_put(s, "t", "b", 1, "2", 1, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_store_put(s, "t", "a", 1, "1", 1, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_store_put(s, "t", "c", 1, "3", 1, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_store_put(s, "t", "b", 1, "22", 2, &err), 0, "%s", err.msg); /* overwrite */
    cr_assert_eq(dn_store_put(s, "other", "a", 1, "x", 1, &err), 0, "%s", err.msg);
    void *v = NULL;
    size_t n = 0;
    cr_assert_eq(dn_store_get(s, "t", "b", 1, &v, &n, &err), 0, "%s", err.msg);
    cr_assert(n == 2 && memcmp(v, "22", 2) == 0 && ((char *)v)[2] == '\0');
    free(v);
    char all[256] = "";
    cr_assert_eq(dn_store_foreach(s, "t", NULL, 0, collect, all, &err), 0);
    cr_assert_str_eq(all, "a=1;b=22;c=3;");
    all[0] = '\0';
    cr_assert_eq(dn_store_foreach(s, "t", "b", 1, collect, all, &err), 0);
    cr_assert_str_eq(all, "b=22;c=3;");
    int seen = 0;
    cr_assert_eq(dn_store_foreach(s, "t", NULL, 0, stop_after_two, &seen, &err), 0);
    cr_assert_eq(seen, 2);
    cr_assert_eq(dn_store_foreach(s, "t", NULL, 0, fail_visit, NULL, &err), DN_ERANGE);
    uint64_t count = 0;
    cr_assert_eq(dn_store_count(s, "t", &count, &err), 0);
    cr_assert_eq(count, 3);
    cr_assert_eq(dn_store_del(s, "t", "b", 1, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_store_del(s, "t", "b", 1, &err), DN_ENOTFOUND);
    cr_assert_eq(dn_store_get(s, "t", "b", 1, &v, &n, &err), DN_ENOTFOUND);
    cr_assert_null(v);
    cr_assert_eq(dn_store_get(s, "missing", "b", 1, &v, &n, &err), DN_ENOTFOUND);
    cr_assert(strstr(err.msg, "no table 'missing'"), "%s", err.msg);
    cr_assert_eq(dn_store_count(s, "missing", &count, &err), 0);
    cr_assert_eq(count, 0);
    /* empty value is fine; empty key, reserved table and oversize key are not */
    cr_assert_eq(dn_store_put(s, "t", "e", 1, NULL, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_store_get(s, "t", "e", 1, &v, &n, &err), 0);
    cr_assert_eq(n, 0);
    free(v);
    cr_assert_eq(dn_store_put(s, "t", "", 0, "x", 1, &err), DN_EINVAL);
    cr_assert_eq(dn_store_put(s, "dn.weights", "k", 1, "x", 1, &err), DN_EINVAL);
    char big[600];
    memset(big, 'k', sizeof big);
    cr_assert_eq(dn_store_put(s, "t", big, sizeof big, "x", 1, &err), DN_EINVAL);
    dn_store_destroy(&s);
    cr_assert_null(s);
    dn_store_destroy(&s);
}

Test(store, weights_versions_pruning_latest)
{
    dn_store_t *s = open_rw(0);
    dn_err_t err = {0};
    uint64_t ver = 0;
    void *blob = NULL;
    size_t len = 0;
    cr_assert_eq(dn_store_weights_latest(s, "h", &ver, &blob, &len, &err), DN_ENOTFOUND);
    /* versions chosen so that little-endian order would differ from numeric */
    const uint64_t versions[] = {1, 255, 256, 2, 65536, 1ull << 40, 3};
    char buf[64];
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        int n = snprintf(buf, sizeof buf, "blob-%llu", (unsigned long long)versions[i]);
        cr_assert_eq(dn_store_weights_put(s, "h", versions[i], buf, (size_t)n, 0, &err), 0,
                     "%s", err.msg);
    }
    /* neighbouring keys that share a prefix must not interfere */
    cr_assert_eq(dn_store_weights_put(s, "h/x", 9999, "other", 5, 0, &err), 0);
    cr_assert_eq(dn_store_weights_put(s, "g", 12345, "g", 1, 0, &err), 0);
    cr_assert_eq(dn_store_weights_latest(s, "h", &ver, &blob, &len, &err), 0, "%s", err.msg);
    cr_assert_eq(ver, 1ull << 40, "latest %llu", (unsigned long long)ver);
    cr_assert_str_eq(blob, "blob-1099511627776");
    free(blob);
    uint64_t got[16];
    size_t n = 0;
    cr_assert_eq(dn_store_weights_versions(s, "h", got, 16, &n, &err), 0);
    cr_assert_eq(n, 7);
    const uint64_t sorted[] = {1, 2, 3, 255, 256, 65536, 1ull << 40};
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], sorted[i], "version %zu: %llu", i, (unsigned long long)got[i]);
    /* a put with keep_last = 3 keeps the three highest, in the same txn */
    cr_assert_eq(dn_store_weights_put(s, "h", 70000, "new", 3, 3, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_store_weights_versions(s, "h", got, 16, &n, &err), 0);
    cr_assert_eq(n, 3, "%zu versions left", n);
    cr_assert(got[0] == 65536 && got[1] == 70000 && got[2] == 1ull << 40, "%llu %llu %llu",
              (unsigned long long)got[0], (unsigned long long)got[1], (unsigned long long)got[2]);
    cr_assert_eq(dn_store_weights_get(s, "h", 2, &blob, &len, &err), DN_ENOTFOUND);
    cr_assert_eq(dn_store_weights_get(s, "h", 70000, &blob, &len, &err), 0);
    cr_assert(len == 3 && memcmp(blob, "new", 3) == 0);
    free(blob);
    /* the neighbours are untouched */
    cr_assert_eq(dn_store_weights_latest(s, "h/x", &ver, NULL, NULL, &err), 0);
    cr_assert_eq(ver, 9999);
    cr_assert_eq(dn_store_weights_latest(s, "g", &ver, NULL, NULL, &err), 0);
    cr_assert_eq(ver, 12345);
    cr_assert_eq(dn_store_weights_latest(s, "f", &ver, NULL, NULL, &err), DN_ENOTFOUND);
    cr_assert_eq(dn_store_weights_latest(s, "zz", &ver, NULL, NULL, &err), DN_ENOTFOUND);
    /* the maximum version itself is found by the exact-match branch */
    cr_assert_eq(dn_store_weights_put(s, "g", UINT64_MAX, "m", 1, 1, &err), 0);
    cr_assert_eq(dn_store_weights_latest(s, "g", &ver, NULL, NULL, &err), 0);
    cr_assert_eq(ver, UINT64_MAX);
    cr_assert_eq(dn_store_weights_versions(s, "g", got, 16, &n, &err), 0);
    cr_assert_eq(n, 1);
    dn_store_destroy(&s);
}

Test(store, map_grows_with_many_large_blobs_and_reopen_persists)
{
    dn_store_t *s = open_rw(1 << 20); /* 1 MiB: far too small */
    dn_err_t err = {0};
    size_t blob_len = 300000;
    int n_blobs = 40;
    uint8_t *blob = malloc(blob_len);
    dn_rng_t rng;
    char key[32];
    for (int i = 0; i < n_blobs; i++) {
        dn_rng_seed(&rng, (uint64_t)i);
        for (size_t j = 0; j < blob_len; j++)
            blob[j] = (uint8_t)dn_rng_next(&rng);
        snprintf(key, sizeof key, "hist-%02d", i);
        cr_assert_eq(dn_store_weights_put(s, key, 1, blob, blob_len, 2, &err), 0, "blob %d: %s",
                     i, err.msg);
    }
    size_t grown = dn_store_map_size(s);
    cr_assert_gt(dn_store_growths(s), 0);
    cr_assert_geq(grown, (size_t)n_blobs * blob_len, "map %zu bytes", grown);
    dn_store_destroy(&s);

    s = open_rw(1 << 20); /* reopen asking for less: keeps the grown size */
    cr_assert_geq(dn_store_map_size(s), (size_t)n_blobs * blob_len);
    for (int i = 0; i < n_blobs; i++) {
        snprintf(key, sizeof key, "hist-%02d", i);
        void *got = NULL;
        size_t len = 0;
        uint64_t ver = 0;
        cr_assert_eq(dn_store_weights_latest(s, key, &ver, &got, &len, &err), 0, "%s", err.msg);
        cr_assert_eq(len, blob_len);
        dn_rng_seed(&rng, (uint64_t)i);
        const uint8_t *g = got;
        size_t bad = 0;
        for (size_t j = 0; j < blob_len; j++)
            bad += g[j] != (uint8_t)dn_rng_next(&rng);
        cr_assert_eq(bad, 0, "blob %d: %zu bytes differ", i, bad);
        free(got);
    }
    dn_store_destroy(&s);
    free(blob);
}

Test(store, checkpoint_with_sequence_state)
{
    dn_store_t *s = open_rw(0);
    dn_err_t err = {0};
    dn_seq_tracker_t *t = dn_seq_tracker_new();
    for (uint64_t q = 0; q < 10; q++)
        dn_seq_tracker_feed(t, "gen/runs", 7, q, NULL);
    dn_seq_tracker_feed(t, "gen/labels", 7, 3, NULL);
    void *blob = NULL;
    size_t len = 0;
    cr_assert_eq(dn_store_checkpoint_read(s, "scorer", &blob, &len, NULL, &err), DN_ENOTFOUND);
    cr_assert_eq(dn_store_checkpoint_write(s, "scorer", "state-1", 7, t, &err), 0, "%s", err.msg);
    dn_seq_tracker_t *u = dn_seq_tracker_new();
    cr_assert_eq(dn_store_checkpoint_read(s, "scorer", &blob, &len, u, &err), 0, "%s", err.msg);
    cr_assert(len == 7 && memcmp(blob, "state-1", 7) == 0);
    free(blob);
    uint64_t inc, seq;
    cr_assert_eq(dn_seq_tracker_last(u, "gen/runs", &inc, &seq), 0);
    cr_assert(inc == 7 && seq == 9);
    cr_assert_eq(dn_seq_tracker_last(u, "gen/labels", &inc, &seq), 0);
    cr_assert_eq(seq, 3);
    cr_assert_eq(dn_seq_tracker_feed(u, "gen/runs", 7, 10, NULL), DN_SEQ_NEW);
    /* rewriting without a tracker removes the old sequence state */
    cr_assert_eq(dn_store_checkpoint_write(s, "scorer", "state-2", 7, NULL, &err), 0);
    dn_seq_tracker_t *w = dn_seq_tracker_new();
    cr_assert_eq(dn_store_checkpoint_read(s, "scorer", NULL, NULL, w, &err), 0);
    cr_assert_eq(dn_seq_tracker_last(w, "gen/runs", NULL, NULL), DN_ENOTFOUND);
    dn_seq_tracker_destroy(&t);
    dn_seq_tracker_destroy(&u);
    dn_seq_tracker_destroy(&w);
    dn_store_destroy(&s);
}

typedef struct log_seen_t {
    int n;
    int64_t run[16];
    uint32_t index[16];
    char val[16][8];
} log_seen_t;

static int log_collect(int64_t run, uint32_t index, const void *val, size_t vlen, void *arg)
{
    log_seen_t *ls = arg;
    ls->run[ls->n] = run;
    ls->index[ls->n] = index;
    snprintf(ls->val[ls->n], 8, "%.*s", (int)vlen, (const char *)val);
    ls->n++;
    return 0;
}

Test(store, run_log_order)
{
    dn_store_t *s = open_rw(0);
    dn_err_t err = {0};
    struct { int64_t run; const char *v; uint32_t want_index; } in[] = {
        {5, "a", 0}, {-3, "b", 0}, {5, "c", 1}, {INT64_MIN, "d", 0}, {0, "e", 0},
        {INT64_MAX, "f", 0}, {5, "g", 2}, {-3, "h", 1},
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        uint32_t idx = 99;
        cr_assert_eq(dn_store_log_append(s, "scores", in[i].run, in[i].v, 1, &idx, &err), 0,
                     "%s", err.msg);
        cr_assert_eq(idx, in[i].want_index, "append %zu: index %u", i, idx);
    }
    log_seen_t ls = {0};
    cr_assert_eq(dn_store_log_foreach(s, "scores", INT64_MIN, INT64_MAX, log_collect, &ls, &err),
                 0);
    const char *order = "dbheacgf";
    cr_assert_eq(ls.n, 8);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(ls.val[i][0], order[i], "record %d: %s (run %lld)", i, ls.val[i],
                     (long long)ls.run[i]);
    memset(&ls, 0, sizeof ls);
    cr_assert_eq(dn_store_log_foreach(s, "scores", -3, 5, log_collect, &ls, &err), 0);
    cr_assert_eq(ls.n, 6);
    cr_assert(ls.run[0] == -3 && ls.index[1] == 1 && ls.run[5] == 5 && ls.index[5] == 2);
    memset(&ls, 0, sizeof ls);
    cr_assert_eq(dn_store_log_foreach(s, "nolog", 0, 10, log_collect, &ls, &err), 0);
    cr_assert_eq(ls.n, 0);
    dn_store_destroy(&s);
}

Test(store, batch_is_all_or_nothing)
{
    dn_store_t *s = open_rw(0);
    dn_err_t err = {0};
    dn_store_batch_t *b = dn_store_batch_new();
    cr_assert_eq(dn_store_batch_weights(b, "h", 1, "w1", 2, 1), 0);
    cr_assert_eq(dn_store_batch_checkpoint(b, "trainer", "ck", 2, NULL), 0);
    cr_assert_eq(dn_store_batch_put(b, "meta", "k", 1, "v", 1), 0);
    cr_assert_eq(dn_store_batch_del(b, "meta", "absent", 6), 0);
    cr_assert_eq(dn_store_batch_log_append(b, "log", 1, "r", 1), 0);
    cr_assert_eq(dn_store_batch_put(b, "", "k", 1, "v", 1), DN_EINVAL);
    cr_assert_eq(dn_store_batch_weights(b, "", 1, "w", 1, 1), DN_EINVAL);
    cr_assert_eq(dn_store_apply(s, b, &err), 0, "%s", err.msg);
    void *v = NULL;
    size_t n;
    cr_assert_eq(dn_store_get(s, "meta", "k", 1, &v, &n, &err), 0);
    free(v);
    cr_assert_eq(dn_store_checkpoint_read(s, "trainer", &v, &n, NULL, &err), 0);
    free(v);
    dn_store_batch_clear(b);

    /* Make the log append of run 7 fail: its index space is exhausted. The put
     * before it in the same batch must not become visible. */
    uint8_t full[12] = {0x80, 0, 0, 0, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(dn_store_put(s, "log", full, 12, "x", 1, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_store_batch_put(b, "meta", "k2", 2, "v2", 2), 0);
    cr_assert_eq(dn_store_batch_weights(b, "h", 2, "w2", 2, 1), 0);
    cr_assert_eq(dn_store_batch_log_append(b, "log", 7, "r", 1), 0);
    int rc = dn_store_apply(s, b, &err);
    cr_assert_eq(rc, DN_EIO, "apply returned %d: %s", rc, err.msg);
    cr_assert(strstr(err.msg, "table 'log'"), "%s", err.msg);
    cr_assert_eq(dn_store_get(s, "meta", "k2", 2, &v, &n, &err), DN_ENOTFOUND);
    uint64_t ver;
    cr_assert_eq(dn_store_weights_latest(s, "h", &ver, NULL, NULL, &err), 0);
    cr_assert_eq(ver, 1, "version %llu visible after a failed batch", (unsigned long long)ver);
    dn_store_batch_destroy(&b);
    cr_assert_null(b);
    dn_store_destroy(&s);
}

Test(store, open_errors)
{
    dn_err_t err = {0};
    char path[128];
    snprintf(path, sizeof path, "%s/does/not/exist", tmpdir);
    dn_store_t *s = dn_store_open(path, DN_STORE_READONLY, 0, &err);
    cr_assert_null(s);
    cr_assert_eq(err.code, DN_EIO);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "No such file"), "%s", err.msg);
    cr_assert_null(dn_store_open("", 0, 0, &err));
    cr_assert_eq(err.code, DN_EINVAL);
}

/* Reader process: opens read-only while the map is small, waits for the
 * writer to grow it, then must read the new data (MDB_MAP_RESIZED path). */
static int reader_child(int go_fd, int ready_fd, size_t blob_len)
{
    dn_err_t err = {0};
    dn_store_t *s = dn_store_open(tmpdir, DN_STORE_READONLY, 0, &err);
    if (!s)
        return 10;
    if (dn_store_put(s, "t", "k", 1, "v", 1, &err) != DN_EINVAL)
        return 11;
    uint64_t ver = 0;
    if (dn_store_weights_latest(s, "h", &ver, NULL, NULL, &err) || ver != 1)
        return 12;
    char c = 'r';
    if (write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1)
        return 13;
    void *blob = NULL;
    size_t len = 0;
    if (dn_store_weights_latest(s, "h", &ver, &blob, &len, &err))
        return 14;
    int rc = (ver == 2 && len == blob_len && ((uint8_t *)blob)[len - 1] == 0xab) ? 0 : 15;
    free(blob);
    dn_store_destroy(&s);
    return rc;
}

Test(store, readonly_reader_in_another_process_sees_grown_map)
{
    dn_store_t *s = open_rw(1 << 20);
    dn_err_t err = {0};
    cr_assert_eq(dn_store_weights_put(s, "h", 1, "w", 1, 0, &err), 0);
    int go[2], ready[2];
    cr_assert_eq(pipe(go), 0);
    cr_assert_eq(pipe(ready), 0);
    size_t blob_len = 8u << 20;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(reader_child(go[0], ready[1], blob_len));
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1);
    uint8_t *blob = malloc(blob_len);
    memset(blob, 0xab, blob_len);
    cr_assert_eq(dn_store_weights_put(s, "h", 2, blob, blob_len, 0, &err), 0, "%s", err.msg);
    cr_assert_gt(dn_store_growths(s), 0);
    free(blob);
    cr_assert_eq(write(go[1], "g", 1), 1);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader failed with status %d",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    dn_store_destroy(&s);
}

/* Two processes claim one lease record with compare-and-swap: exactly one of
 * each round's claims wins, and an expected value that changed meanwhile fails
 * without writing. */
Test(store, compare_and_swap_claims_once)
{
    dn_store_t *s = open_rw(0);
    dn_err_t err = {0};
    const char *k = "slot-0of2";
    cr_assert_eq(dn_store_cas(s, "leases", k, strlen(k), NULL, 0, "a:1", 3, &err), 0, "%s",
                 err.msg);
    /* absent expected, but present: refused */
    cr_assert_eq(dn_store_cas(s, "leases", k, strlen(k), NULL, 0, "b:1", 3, &err), DN_ESTATE);
    cr_assert(strstr(err.msg, "compare-and-swap"), "error does not name the operation: %s",
              err.msg);
    /* stale expected value: refused, value unchanged */
    cr_assert_eq(dn_store_cas(s, "leases", k, strlen(k), "a:0", 3, "b:2", 3, &err), DN_ESTATE);
    /* right expected value: swapped */
    cr_assert_eq(dn_store_cas(s, "leases", k, strlen(k), "a:1", 3, "b:2", 3, &err), 0, "%s",
                 err.msg);
    void *v = NULL;
    size_t n = 0;
    cr_assert_eq(dn_store_get(s, "leases", k, strlen(k), &v, &n, &err), 0, "%s", err.msg);
    cr_assert(n == 3 && !memcmp(v, "b:2", 3), "value %.*s, want b:2", (int)n, (char *)v);
    free(v);
    dn_store_destroy(&s);
    /* Racing processes: each of 2 children tries 200 claims of fresh keys. */
    pid_t kids[2];
    for (int c = 0; c < 2; c++) {
        kids[c] = fork();
        cr_assert_geq(kids[c], 0);
        if (kids[c] == 0) {
            dn_err_t e = {0};
            dn_store_t *cs = dn_store_open(tmpdir, 0, 0, &e);
            if (!cs)
                _exit(2);
            char key[32], me[2] = {(char)('0' + c), 0};
            for (int i = 0; i < 200; i++) {
                snprintf(key, sizeof key, "race-%d", i);
                int rc = dn_store_cas(cs, "leases", key, strlen(key), NULL, 0, me, 1, &e);
                if (rc && rc != DN_ESTATE)
                    _exit(3);
            }
            dn_store_destroy(&cs);
            _exit(0);
        }
    }
    for (int c = 0; c < 2; c++) {
        int st = 0;
        waitpid(kids[c], &st, 0);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (%d)", c, st);
    }
    s = open_rw(0);
    for (int i = 0; i < 200; i++) {
        char key[32];
        snprintf(key, sizeof key, "race-%d", i);
        cr_assert_eq(dn_store_get(s, "leases", key, strlen(key), &v, &n, &err), 0, "%s", err.msg);
        cr_assert(n == 1 && (*(char *)v == '0' || *(char *)v == '1'), "key %s: bad owner", key);
        free(v);
    }
    dn_store_destroy(&s);
}

/* ---- out of space --------------------------------------------------------- */

/* A commit as a service makes it: n_blobs random blobs of blob_len bytes
 * (seeded by `seed`) in table "blobs", a run log entry and a checkpoint. */
static dn_store_batch_t *space_batch(uint64_t seed, int n_blobs, size_t blob_len)
{
    dn_store_batch_t *b = dn_store_batch_new();
    cr_assert_not_null(b);
    dn_rng_t rng;
    dn_rng_seed(&rng, seed);
    uint8_t *blob = malloc(blob_len);
    cr_assert_not_null(blob);
    for (int i = 0; i < n_blobs; i++) {
        for (size_t j = 0; j < blob_len; j += 8) {
            uint64_t r = dn_rng_next(&rng);
            memcpy(blob + j, &r, blob_len - j < 8 ? blob_len - j : 8);
        }
        char key[32];
        snprintf(key, sizeof key, "b%llu.%03d", (unsigned long long)seed, i);
        cr_assert_eq(dn_store_batch_put(b, "blobs", key, strlen(key), blob, blob_len), 0);
    }
    free(blob);
    char ck[32];
    snprintf(ck, sizeof ck, "after %llu", (unsigned long long)seed);
    cr_assert_eq(dn_store_batch_log_append(b, "runs", (int64_t)seed, ck, strlen(ck)), 0);
    cr_assert_eq(dn_store_batch_checkpoint(b, "svc", ck, strlen(ck), NULL), 0);
    return b;
}

/* What a store holds in the tables space_batch writes. */
static dn_test_digest_t digest(dn_store_t *s)
{
    static const char *const tables[] = {"blobs", "runs", "dn.checkpoint"};
    return dn_test_digest(s, tables, 3);
}

static void assert_same(dn_test_digest_t got, dn_test_digest_t want, const char *what)
{
    cr_assert(got.entries == want.entries && got.hash == want.hash,
              "%s: %llu entries hash %016llx, the undisturbed store %llu entries hash %016llx",
              what, (unsigned long long)got.entries, (unsigned long long)got.hash,
              (unsigned long long)want.entries, (unsigned long long)want.hash);
}

/* The two batches applied to a store in sub-directory `sub` with no fault. */
static dn_test_digest_t undisturbed(const char *sub, dn_store_batch_t *first, dn_store_batch_t *second)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, sub);
    dn_err_t err = {0};
    dn_store_t *s = dn_store_open(path, 0, 0, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(dn_store_apply(s, first, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_store_apply(s, second, &err), 0, "%s", err.msg);
    dn_test_digest_t d = digest(s);
    dn_store_destroy(&s);
    return d;
}

Test(store, a_full_map_refuses_the_whole_batch_and_takes_it_once_raised)
{
    dn_store_batch_t *first = space_batch(1, 4, 10000), *second = space_batch(2, 40, 50000);
    dn_test_digest_t want = undisturbed("ref", first, second);
    dn_store_t *s = open_rw(1 << 20);
    dn_store_set_map_max(s, 1 << 20);
    dn_err_t err = {0};
    cr_assert_eq(dn_store_apply(s, first, &err), 0, "%s", err.msg);
    dn_test_digest_t before = digest(s);
    int rc = dn_store_apply(s, second, &err);
    cr_assert_eq(rc, DN_ENOSPACE, "apply returned %d (%s): %s", rc, dn_strerror(rc), err.msg);
    cr_assert(strstr(err.msg, tmpdir) && strstr(err.msg, "map full (1048576 bytes") &&
                  strstr(err.msg, "while committing"), "%s", err.msg);
    assert_same(digest(s), before, "after the refused batch (nothing of it may be written)");
    cr_assert_eq(dn_store_growths(s), 0);
    /* Again: still refused, still nothing written. */
    cr_assert_eq(dn_store_apply(s, second, &err), DN_ENOSPACE, "%s", err.msg);
    assert_same(digest(s), before, "after the second refusal");
    dn_store_set_map_max(s, 8 << 20);
    cr_assert_eq(dn_store_apply(s, second, &err), 0, "%s", err.msg);
    cr_assert_leq(dn_store_map_size(s), 8u << 20);
    assert_same(digest(s), want, "after raising the limit");
    dn_store_destroy(&s);
    s = open_rw(0);
    assert_same(digest(s), want, "reopened");
    dn_store_destroy(&s);
    dn_store_batch_destroy(&first);
    dn_store_batch_destroy(&second);
}

/* Fills the filesystem of dir with dir/filler until a write fails. */
static void fill_disk(const char *dir)
{
    char path[160];
    snprintf(path, sizeof path, "%s/filler", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    static char block[4096];
    while (fwrite(block, 1, sizeof block, f) == sizeof block)
        ;
    fclose(f);
}

/* A tmpfs of `mb` MiB mounted at tmpdir/mnt (unmounted by umount_tmpfs), or
 * the test skipped with the reason when this process may not mount. */
static void mount_tmpfs(char *mnt, size_t cap, int mb)
{
    snprintf(mnt, cap, "%s/mnt", tmpdir);
    if (geteuid() != 0)
        cr_skip_test("needs root to mount a tmpfs (running as uid %d)", (int)geteuid());
    cr_assert_eq(mkdir(mnt, 0755), 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=%dm tmpfs '%s'", mb, mnt);
    cr_assert_eq(system(cmd), 0, "%s failed although running as root", cmd);
}

static void umount_tmpfs(const char *mnt)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "umount '%s'", mnt);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(store, a_full_disk_refuses_the_whole_batch_and_takes_it_once_freed)
{
    dn_store_batch_t *first = space_batch(1, 4, 10000), *second = space_batch(2, 40, 50000);
    dn_test_digest_t want = undisturbed("ref", first, second);
    char mnt[128], path[160], filler[192];
    mount_tmpfs(mnt, sizeof mnt, 4);
    snprintf(path, sizeof path, "%s/store", mnt);
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    dn_err_t err = {0};
    dn_store_t *s = dn_store_open(path, DN_STORE_NOSYNC, 0, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(dn_store_apply(s, first, &err), 0, "%s", err.msg);
    dn_test_digest_t before = digest(s);
    fill_disk(mnt);
    int rc = dn_store_apply(s, second, &err);
    cr_assert_eq(rc, DN_ENOSPACE, "apply returned %d (%s): %s", rc, dn_strerror(rc), err.msg);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "disk full (") &&
                  strstr(err.msg, "while committing"), "%s", err.msg);
    fprintf(stderr, "full tmpfs: %s\n", err.msg);
    assert_same(digest(s), before, "after the refused batch (nothing of it may be written)");
    cr_assert_eq(dn_store_sync(s, &err), 0, "%s", err.msg);
    cr_assert_eq(unlink(filler), 0);
    cr_assert_eq(dn_store_apply(s, second, &err), 0, "%s", err.msg);
    assert_same(digest(s), want, "after freeing space");
    dn_store_destroy(&s);
    s = dn_store_open(path, 0, 0, &err);
    cr_assert_not_null(s, "reopen: %s", err.msg);
    assert_same(digest(s), want, "reopened");
    dn_store_destroy(&s);
    umount_tmpfs(mnt);
    dn_store_batch_destroy(&first);
    dn_store_batch_destroy(&second);
}

/* Child: the same with a file size limit instead of a full disk (SIGXFSZ
 * ignored, so writes past the limit fail with EFBIG or come up short). Exit
 * status 0 when every check held, else the number of the failed check. */
static int fsize_child(dn_store_batch_t *first, dn_store_batch_t *second, dn_test_digest_t want)
{
    dn_err_t err = {0};
    signal(SIGXFSZ, SIG_IGN);
    dn_store_t *s = dn_store_open(tmpdir, 0, 0, &err);
    if (!s || dn_store_apply(s, first, &err))
        return 1;
    struct rlimit lim;
    if (getrlimit(RLIMIT_FSIZE, &lim))
        return 2;
    struct rlimit low = {512 << 10, lim.rlim_max};
    if (setrlimit(RLIMIT_FSIZE, &low))
        return 3;
    dn_test_digest_t before = digest(s);
    int rc = dn_store_apply(s, second, &err);
    fprintf(stderr, "file size limit: %s\n", err.msg);
    if (rc != DN_ENOSPACE || !strstr(err.msg, "file size limit reached (") ||
        !strstr(err.msg, "while committing"))
        return 4;
    dn_test_digest_t after = digest(s);
    if (after.entries != before.entries || after.hash != before.hash)
        return 5;
    if (setrlimit(RLIMIT_FSIZE, &lim) || dn_store_apply(s, second, &err))
        return 6;
    after = digest(s);
    dn_store_destroy(&s);
    return after.entries == want.entries && after.hash == want.hash ? 0 : 7;
}

Test(store, a_file_size_limit_refuses_the_whole_batch_and_takes_it_once_raised)
{
    dn_store_batch_t *first = space_batch(1, 4, 10000), *second = space_batch(2, 40, 50000);
    dn_test_digest_t want = undisturbed("ref", first, second);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(fsize_child(first, second, want));
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child died of signal %d", WTERMSIG(status));
    cr_assert_eq(WEXITSTATUS(status), 0, "check %d failed (see its stderr)",
                 WEXITSTATUS(status));
    dn_store_batch_destroy(&first);
    dn_store_batch_destroy(&second);
}

/* Child: with the address space limited so the map cannot double, the batch
 * is refused as "map full" (no attempt that would leave the map unmapped);
 * with the limit lifted it goes through. */
static int address_space_child(dn_store_batch_t *second, dn_test_digest_t want_entries)
{
    dn_err_t err = {0};
    dn_store_t *s = dn_store_open(tmpdir, 0, 1 << 20, &err);
    if (!s)
        return 1;
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim))
        return 2;
    /* What the process maps now, plus 1.5 MiB: the map may not reach 2 MiB. */
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f || fscanf(f, "%lu", &pages) != 1)
        return 3;
    fclose(f);
    struct rlimit low = {pages * (unsigned long)sysconf(_SC_PAGESIZE) + (3u << 19), lim.rlim_max};
    if (setrlimit(RLIMIT_AS, &low))
        return 4;
    int rc = dn_store_apply(s, second, &err);
    fprintf(stderr, "address space limit: %s\n", err.msg);
    if (rc != DN_ENOSPACE || !strstr(err.msg, "map full (") || !strstr(err.msg, "no address space"))
        return 5;
    if (setrlimit(RLIMIT_AS, &lim) || dn_store_apply(s, second, &err))
        return 6;
    dn_test_digest_t d = digest(s);
    dn_store_destroy(&s);
    return d.entries == want_entries.entries && d.hash == want_entries.hash ? 0 : 7;
}

Test(store, no_address_space_for_a_bigger_map_is_a_full_map_not_a_crash)
{
#ifdef __SANITIZE_ADDRESS__
    cr_skip_test("AddressSanitizer reserves terabytes of shadow memory: no RLIMIT_AS test");
#endif
    dn_store_batch_t *empty = dn_store_batch_new(), *second = space_batch(2, 40, 50000);
    dn_test_digest_t want = undisturbed("ref", empty, second);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(address_space_child(second, want));
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child died of signal %d", WTERMSIG(status));
    cr_assert_eq(WEXITSTATUS(status), 0, "check %d failed (see its stderr)",
                 WEXITSTATUS(status));
    dn_store_batch_destroy(&empty);
    dn_store_batch_destroy(&second);
}

/* ---- damaged files ------------------------------------------------------------ */

/* A store in tmpdir/good after several commits (pages beyond the meta pages,
 * a two-level main table); its data.mdb size into *size. */
static void make_good_store(size_t *size)
{
    char path[128];
    snprintf(path, sizeof path, "%s/good", tmpdir);
    dn_err_t err = {0};
    dn_store_t *s = dn_store_open(path, 0, 0, &err);
    cr_assert_not_null(s, "%s", err.msg);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        dn_store_batch_t *b = space_batch(seed, 30, 1000);
        cr_assert_eq(dn_store_apply(s, b, &err), 0, "%s", err.msg);
        dn_store_batch_destroy(&b);
    }
    dn_store_destroy(&s);
    snprintf(path, sizeof path, "%s/good/data.mdb", tmpdir);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    *size = (size_t)st.st_size;
}

/* Copies tmpdir/good to tmpdir/NAME; the copy's FILE path into path. */
static void copy_store(const char *name, const char *file, char *path, size_t cap)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cp -a '%s/good' '%s/%s'", tmpdir, tmpdir, name);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(path, cap, "%s/%s/%s", tmpdir, name, file);
}

static void overwrite(const char *path, long off, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fseek(f, off, SEEK_SET), 0);
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

static uint64_t read_u64(const char *path, long off)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    uint64_t v = 0;
    cr_assert_eq(fseek(f, off, SEEK_SET), 0);
    cr_assert_eq(fread(&v, 8, 1, f), 1);
    fclose(f);
    return v;
}

/* The store NAME refused, read-write and read-only, with DN_EFORMAT and a
 * message naming its directory and holding every one of the texts given. */
static void assert_refused(const char *name, const char *text1, const char *text2)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    for (int ro = 0; ro < 2; ro++) {
        dn_err_t err = {0};
        dn_store_t *s = dn_store_open(dir, ro ? DN_STORE_READONLY : 0, 0, &err);
        cr_assert_null(s, "%s: the damaged store was opened%s", name, ro ? " read-only" : "");
        cr_assert_eq(err.code, DN_EFORMAT, "%s: code %d: %s", name, err.code, err.msg);
        cr_assert(strstr(err.msg, dir) && strstr(err.msg, text1) &&
                      (!text2 || strstr(err.msg, text2)),
                  "%s: the message does not say \"%s\"%s%s: %s", name, text1,
                  text2 ? " and " : "", text2 ? text2 : "", err.msg);
        if (!ro)
            fprintf(stderr, "%s: %s\n", name, err.msg);
    }
}

Test(store, damaged_files_are_refused_by_name_before_lmdb_maps_them)
{
    size_t size;
    make_good_store(&size);
    const long psize = 4096;
    cr_assert_geq(size, 6 * psize, "the good store has %zu bytes: too small to damage", size);
    char path[192];

    /* The classic: the tail cut off (a copy that stopped short). LMDB alone
     * maps the missing pages and dies of SIGBUS at the first read. */
    copy_store("tail_cut", "data.mdb", path, sizeof path);
    cr_assert_eq(truncate(path, (off_t)(size - 3 * psize)), 0);
    assert_refused("tail_cut", "data.mdb: truncated: ", "its last commit (transaction 3) needs");

    copy_store("meta_cut", "data.mdb", path, sizeof path);
    cr_assert_eq(truncate(path, 6000), 0);
    assert_refused("meta_cut", "data.mdb: truncated: 6000 bytes, less than its two meta pages",
                   NULL);

    copy_store("header_cut", "data.mdb", path, sizeof path);
    cr_assert_eq(truncate(path, 100), 0);
    assert_refused("header_cut", "data.mdb: cannot read meta page 0: truncated", NULL);

    copy_store("garbage", "data.mdb", path, sizeof path);
    uint8_t junk[2 * 4096];
    dn_rng_t rng;
    dn_rng_seed(&rng, 17);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)dn_rng_next(&rng);
    overwrite(path, 0, junk, sizeof junk);
    assert_refused("garbage", "data.mdb: not an LMDB data file (meta page 0", NULL);

    copy_store("magic", "data.mdb", path, sizeof path);
    overwrite(path, psize + 16, "\xef\xbe\xad\xde", 4);
    assert_refused("magic", "data.mdb: not an LMDB data file (meta page 1",
                   "magic 0xdeadbeef, want 0xbeefc0de");

    copy_store("version", "data.mdb", path, sizeof path);
    overwrite(path, 20, "\x02\0\0\0", 4);
    assert_refused("version", "data.mdb: LMDB data format 2 (meta page 0), this build reads 1",
                   NULL);

    /* The root of the main table zeroed (a hole from a crash of the disk). */
    copy_store("root", "data.mdb", path, sizeof path);
    int cur = read_u64(path, 144) < read_u64(path, psize + 144);
    uint64_t root = read_u64(path, cur * psize + 128);
    cr_assert(root >= 2 && (root + 1) * (uint64_t)psize <= size, "main root page %llu",
              (unsigned long long)root);
    static const uint8_t zero[4096];
    overwrite(path, (long)root * psize, zero, sizeof zero);
    assert_refused("root", "data.mdb: damaged: the root of its main table", "is not a tree page");

    copy_store("lock", "lock.mdb", path, sizeof path);
    overwrite(path, 0, "GARBAGE!", 8);
    assert_refused("lock", "lock.mdb: not an LMDB lock file (magic 0x42524147", NULL);

    /* The good store itself still opens and reads. */
    snprintf(path, sizeof path, "%s/good", tmpdir);
    dn_err_t err = {0};
    dn_store_t *s = dn_store_open(path, DN_STORE_READONLY, 0, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(digest(s).entries, 3 * 30 + 3 + 1);
    dn_store_destroy(&s);
}

/* Child: holds a read transaction on tmpdir/good (its pid in lock.mdb's
 * reader table) until its stdin closes. */
static int holding_reader(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    int *fds = arg;
    char c = 'r';
    if (write(fds[1], &c, 1) != 1)
        return -1;
    return read(fds[0], &c, 1) < 0 ? -1 : 1;
}

Test(store, a_lock_file_from_another_host_does_not_block_or_crash)
{
    size_t size;
    make_good_store(&size);
    int go[2], ready[2];
    cr_assert_eq(pipe(go), 0);
    cr_assert_eq(pipe(ready), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(go[1]);
        close(ready[0]);
        char path[128];
        snprintf(path, sizeof path, "%s/good", tmpdir);
        dn_err_t err = {0};
        dn_store_t *s = dn_store_open(path, DN_STORE_READONLY, 0, &err);
        int fds[2] = {go[0], ready[1]};
        int rc = s ? dn_store_foreach(s, "blobs", NULL, 0, holding_reader, fds, &err) : 1;
        dn_store_destroy(&s);
        _exit(rc ? 1 : 0);
    }
    close(go[0]);
    close(ready[1]);
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1);
    /* The directory as it would come from a host where a reader was live:
     * lock.mdb lists a reader (pid alive here, but not of this store). */
    char path[192];
    copy_store("moved", "lock.mdb", path, sizeof path);
    snprintf(path, sizeof path, "%s/moved", tmpdir);
    dn_err_t err = {0};
    dn_store_t *s = dn_store_open(path, 0, 0, &err);
    cr_assert_not_null(s, "%s", err.msg);
    dn_test_digest_t before = digest(s);
    dn_store_batch_t *b = space_batch(9, 30, 1000);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(dn_store_apply(s, b, &err), 0, "%s", err.msg);
    dn_test_digest_t after = digest(s);
    /* 30 new blobs, 20 log entries; the checkpoint replaced. */
    cr_assert_eq(after.entries, before.entries + 30 + 20, "entries %llu then %llu",
                 (unsigned long long)before.entries, (unsigned long long)after.entries);
    dn_store_batch_destroy(&b);
    dn_store_destroy(&s);
    /* A lock file in use by a process of another LMDB build (its layout
     * number differs): LMDB cannot share it; refused by name. */
    snprintf(path, sizeof path, "%s/good/lock.mdb", tmpdir);
    uint64_t head = read_u64(path, 0);
    overwrite(path, 4, "\x77\x77\x77\x77", 4);
    snprintf(path, sizeof path, "%s/good", tmpdir);
    s = dn_store_open(path, 0, 0, &err);
    cr_assert_null(s, "a lock file of another layout in use was shared");
    cr_assert(err.code == DN_EFORMAT && strstr(err.msg, "lock.mdb: in use by a process with "
                                                        "another lock layout"), "%s", err.msg);
    fprintf(stderr, "lock layout: %s\n", err.msg);
    snprintf(path, sizeof path, "%s/good/lock.mdb", tmpdir);
    overwrite(path, 0, &head, 8);
    cr_assert_eq(write(go[1], "g", 1), 1);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader child status %d", status);
}
