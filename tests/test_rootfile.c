/* test_rootfile.c: the ROOT file reader against real files written by ROOT
 * 4.00 to 6.28 (../shared/root, 24 files): every key of every file listed as
 * JSROOT lists it, every TH1/TH2 read to the same doubles as JSROOT reads
 * (edges, bins with flow, fSumw2, fEntries); every compressed record of the
 * four HZZ files (zlib, LZMA, LZ4, ZSTD) inflating to its declared length;
 * and hostile input: every file truncated at each 1/64th (with its header
 * as written, and patched to agree with the cut) and with random
 * bytes flipped (fixed seed) opens or fails with an error naming the file,
 * and reads every key or fails naming the file and the key, never crashing
 * or hanging; a broken directory is a problem naming it while the rest of
 * the file is read. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "jsroot.h"
#include "rng.h"
#include "rootfile.h"
#include "rootwrite.h"

#define N_FILES 24
#define N_HISTS 265

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.root files of the shared folder, sorted; *n of them. */
static char **list_files(int *n)
{
    const char *dir = dn_root_files_dir();
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s (the shared ROOT test files)", dir);
    char **v = calloc(64, sizeof *v);
    int count = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".root") && count < 64) {
            v[count] = malloc(strlen(dir) + len + 2);
            sprintf(v[count++], "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    qsort(v, (size_t)count, sizeof *v, cmp_str);
    *n = count;
    return v;
}

static void free_files(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static dn_root_file_t *open_ok(const char *path)
{
    dn_root_file_t *f = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_file_open(path, &f, &err), 0, "%s", err.msg);
    return f;
}

Test(rootfile, every_key_and_histogram_as_jsroot_reads_them, .timeout = 600)
{
    int n_files;
    char **files = list_files(&n_files);
    cr_assert_eq(n_files, N_FILES, "%d ROOT files in %s, expected %d", n_files,
                 dn_root_files_dir(), N_FILES);
    int n_lines;
    dn_json_t **lines = dn_jsroot_dump((const char *const *)files, n_files, &n_lines);
    int hists = 0, keys_js = 0, keys_ours = 0, line = 0;
    for (int i = 0; i < n_files; i++) {
        dn_root_file_t *f = open_ok(files[i]);
        cr_assert_eq(dn_root_file_n_problems(f), 0, "%s", dn_root_file_problem(f, 0));
        keys_ours += dn_root_file_n_keys(f);
        for (; line < n_lines; line++) {
            const dn_json_value_t *l = dn_json_root(lines[line]);
            if (strcmp(dn_json_string(dn_json_get(l, "file")), files[i]))
                break;
            cr_assert_null(dn_json_get(l, "error"), "JSROOT: %s: %s", files[i],
                           dn_json_string(dn_json_get(l, "error")));
            keys_js++;
            const char *path = dn_json_string(dn_json_get(l, "path"));
            int k = dn_root_file_find(f, path);
            cr_assert_geq(k, 0, "%s: JSROOT lists \"%s\", we do not", files[i], path);
            const dn_root_key_t *key = dn_root_file_key(f, k);
            cr_assert_str_eq(key->class_name, dn_json_string(dn_json_get(l, "class")),
                             "%s: %s", files[i], path);
            cr_assert_str_eq(key->title, dn_json_string(dn_json_get(l, "title")), "%s: %s",
                             files[i], path);
            cr_assert_eq(key->cycle, (int)dn_json_number(dn_json_get(l, "cycle")), "%s: %s",
                         files[i], path);
            if (!dn_json_get(l, "nx")) {
                cr_assert_eq(key->kind, DN_ROOT_OTHER, "%s: %s (%s) read as a histogram",
                             files[i], path, key->class_name);
                continue;
            }
            cr_assert_neq(key->kind, DN_ROOT_OTHER, "%s: %s", files[i], path);
            dn_root_hist_t *h = NULL;
            dn_err_t err = {0};
            cr_assert_eq(dn_root_file_read_hist(f, k, &h, &err), 0, "%s", err.msg);
            char why[512] = "";
            cr_assert_eq(dn_jsroot_compare(l, h, why, sizeof why), 0, "%s: %s (%s): %s",
                         files[i], path, key->class_name, why);
            dn_root_hist_destroy(&h);
            hists++;
        }
        dn_root_file_destroy(&f);
    }
    cr_assert_eq(line, n_lines, "JSROOT's lines are not in file order");
    cr_assert_eq(keys_ours, keys_js, "we list %d keys, JSROOT %d", keys_ours, keys_js);
    cr_assert_eq(hists, N_HISTS, "%d histograms compared, expected %d", hists, N_HISTS);
    dn_jsroot_free(lines, n_lines);
    free_files(files, n_files);
}

typedef struct {
    dn_root_file_t *f;
    int compressed, records;
    char first_error[DN_ERRMSG_MAX];
} inflate_ctx_t;

static int inflate_record(void *ctx, const dn_root_key_t *key)
{
    inflate_ctx_t *c = ctx;
    c->records++;
    if (key->objlen <= key->nbytes - key->keylen)
        return 0;
    c->compressed++;
    unsigned char *buf = NULL;
    size_t len = 0;
    dn_err_t err = {0};
    int rc = dn_root_file_payload(c->f, key, &buf, &len, &err);
    if (rc == 0 && len != (size_t)key->objlen) {
        snprintf(err.msg, sizeof err.msg, "record %s at %lld: %zu bytes, the key says %lld",
                 key->name, (long long)key->seek, len, (long long)key->objlen);
        rc = -1;
    }
    free(buf);
    if (rc && !c->first_error[0])
        snprintf(c->first_error, sizeof c->first_error, "%s", err.msg);
    return 0;
}

Test(rootfile, every_compressed_record_of_the_hzz_files_inflates_to_its_length,
     .timeout = 300)
{
    static const struct {
        const char *name;
        int algorithm;
    } hzz[] = {{"uproot-HZZ-zlib.root", 1},
               {"uproot-HZZ-lzma.root", 2},
               {"uproot-HZZ-lz4.root", 4},
               {"uproot-HZZ-zstd.root", 5}};
    for (int i = 0; i < 4; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dn_root_files_dir(), hzz[i].name);
        inflate_ctx_t c = {.f = open_ok(path)};
        cr_assert_eq(dn_root_file_compression(c.f) / 100, hzz[i].algorithm,
                     "%s: compression setting %d", path, dn_root_file_compression(c.f));
        dn_err_t err = {0};
        cr_assert_eq(dn_root_file_scan(c.f, inflate_record, &c, &err), 0, "%s", err.msg);
        cr_assert_eq(c.first_error[0], '\0', "%s", c.first_error);
        cr_assert_gt(c.compressed, 10, "%s: only %d of %d records compressed", path,
                     c.compressed, c.records);
        cr_log_info("%s: %d records, %d compressed, all inflate", hzz[i].name, c.records,
                    c.compressed);
        dn_root_file_destroy(&c.f);
    }
}

/* Opens len bytes of data as `name` and reads every key's payload and every
 * histogram: errors must name the file (and the key for a read); returns the
 * number of errors. */
static int read_everything(const unsigned char *data, size_t len, const char *name)
{
    dn_root_file_t *f = NULL;
    dn_err_t err = {0};
    if (dn_root_file_open_mem(data, len, name, &f, &err)) {
        cr_assert(strstr(err.msg, name) == err.msg && strlen(err.msg) > strlen(name) + 4,
                  "open error does not name the file and the problem: \"%s\"", err.msg);
        return 1;
    }
    int errors = dn_root_file_n_problems(f);
    for (int p = 0; p < errors; p++)
        cr_assert(strstr(dn_root_file_problem(f, p), name) == dn_root_file_problem(f, p),
                  "problem does not name the file: %s", dn_root_file_problem(f, p));
    for (int i = 0; i < dn_root_file_n_keys(f); i++) {
        const dn_root_key_t *k = dn_root_file_key(f, i);
        dn_err_clear(&err);
        int rc;
        if (k->kind == DN_ROOT_OTHER) {
            unsigned char *buf = NULL;
            size_t n = 0;
            rc = dn_root_file_payload(f, k, &buf, &n, &err);
            free(buf);
        } else {
            dn_root_hist_t *h = NULL;
            rc = dn_root_file_read_hist(f, i, &h, &err);
            dn_root_hist_destroy(&h);
        }
        if (rc) {
            errors++;
            cr_assert(strstr(err.msg, name) == err.msg && strstr(err.msg, "key \""),
                      "read error does not name the file and the key: \"%s\"", err.msg);
        }
    }
    dn_root_file_destroy(&f);
    return errors;
}

Test(rootfile, files_cut_at_every_64th_fail_with_named_errors, .timeout = 600)
{
    int n_files, failed = 0, tried = 0;
    char **files = list_files(&n_files);
    for (int i = 0; i < n_files; i++) {
        unsigned char *data = NULL;
        size_t len = 0;
        dn_err_t err = {0};
        cr_assert_eq(dn_read_file(files[i], (char **)&data, &len, &err), 0, "%s", err.msg);
        for (int k = 0; k < 64; k++) {
            size_t cut = len * (size_t)k / 64;
            unsigned char *copy = malloc(cut ? cut : 1); /* exactly cut bytes for ASan */
            memcpy(copy, data, cut);
            failed += read_everything(copy, cut, files[i]) > 0;
            tried++;
            /* The same cut with a header that agrees (fEND = cut), so the
             * reader goes on to the keys lists and payloads that are cut. */
            if (cut >= 20) {
                int wide = copy[4] * 16777216 + copy[5] * 65536 + copy[6] * 256 + copy[7] >=
                           1000000;
                for (int b = 0; b < (wide ? 8 : 4); b++)
                    copy[12 + b] = (unsigned char)((uint64_t)cut >> (8 * ((wide ? 7 : 3) - b)));
                (void)read_everything(copy, cut, files[i]);
            }
            free(copy);
        }
        cr_assert_eq(read_everything(data, len, files[i]), 0, "%s whole", files[i]);
        free(data);
    }
    /* the header says where the file ends: every cut file is refused */
    cr_assert_eq(failed, tried, "%d of %d cut files read without an error", tried - failed,
                 tried);
    free_files(files, n_files);
}

Test(rootfile, random_bytes_flipped_never_crash_and_errors_are_named, .timeout = 900)
{
    int n_files, errors = 0, tried = 0;
    char **files = list_files(&n_files);
    dn_rng_t rng;
    dn_rng_seed(&rng, 20240519);
    for (int i = 0; i < n_files; i++) {
        unsigned char *data = NULL;
        size_t len = 0;
        dn_err_t err = {0};
        cr_assert_eq(dn_read_file(files[i], (char **)&data, &len, &err), 0, "%s", err.msg);
        unsigned char *copy = malloc(len);
        /* Flips land in the first 64 KiB (header, keys lists, histograms) as
         * often as anywhere else: most big files are tree baskets. */
        for (int trial = 0; trial < 40; trial++) {
            memcpy(copy, data, len);
            int flips = 1 + (int)dn_rng_below(&rng, 8);
            size_t span = trial % 2 && len > 65536 ? 65536 : len;
            for (int k = 0; k < flips; k++)
                copy[dn_rng_below(&rng, span)] ^= (unsigned char)(1 + dn_rng_below(&rng, 255));
            errors += read_everything(copy, len, files[i]) > 0;
            tried++;
        }
        free(copy);
        free(data);
    }
    cr_log_info("%d of %d damaged files gave named errors, none crashed", errors, tried);
    cr_assert_gt(errors, 0, "no damaged file gave an error: the flips missed everything");
    free_files(files, n_files);
}

typedef struct {
    dn_root_file_t *f;
    const char *dir;
    int64_t list_at;  /* the keys list record of dir */
    int64_t list_len;
    int keylen;
} find_list_t;

/* The record of a directory's keys list: named as the directory, class
 * TDirectory*, its payload starting with the number of keys. */
static int find_list(void *ctx, const dn_root_key_t *key)
{
    find_list_t *c = ctx;
    if (strcmp(key->name, c->dir) || strncmp(key->class_name, "TDirectory", 10))
        return 0;
    if (key->objlen > c->list_len) { /* the directory's own record is the shorter */
        c->list_at = key->seek;
        c->list_len = key->objlen;
        c->keylen = key->keylen;
    }
    return 0;
}

Test(rootfile, a_broken_directory_is_a_named_problem_and_the_rest_is_read)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/uproot-issue64.root", dn_root_files_dir());
    unsigned char *data = NULL;
    size_t len = 0;
    dn_err_t err = {0};
    cr_assert_eq(dn_read_file(path, (char **)&data, &len, &err), 0, "%s", err.msg);
    dn_root_file_t *f = open_ok(path);
    find_list_t c = {.f = f, .dir = "cryostat"};
    cr_assert_eq(dn_root_file_scan(f, find_list, &c, &err), 0, "%s", err.msg);
    cr_assert_gt(c.list_at, 0, "no keys list of \"cryostat\" found");
    dn_root_file_destroy(&f);
    /* 2^31 - 1 keys in a list of a few hundred bytes */
    unsigned char *count = data + c.list_at + c.keylen;
    count[0] = 0x7f;
    count[1] = count[2] = count[3] = 0xff;
    cr_assert_eq(dn_root_file_open_mem(data, len, "damaged.root", &f, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_root_file_n_problems(f), 1);
    const char *p = dn_root_file_problem(f, 0);
    cr_assert(strstr(p, "damaged.root: directory \"detector/cryostat\": keys list") == p &&
              strstr(p, "2147483647 keys"), "%s", p);
    cr_assert_lt(dn_root_file_find(f, "detector/cryostat/CryostatType"), 0);
    cr_assert_lt(dn_root_file_find(f, "detector/cryostat/inner/InnerCryostatMaterial"), 0);
    int k = dn_root_file_find(f, "generator/_cost_all");
    cr_assert_geq(k, 0, "the other directories are still listed");
    dn_root_hist_t *h = NULL;
    cr_assert_eq(dn_root_file_read_hist(f, k, &h, &err), 0, "%s", err.msg);
    dn_root_hist_destroy(&h);
    dn_root_file_destroy(&f);
    free(data);
}

Test(rootfile, not_a_root_file_and_missing_files_are_named)
{
    dn_root_file_t *f = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_file_open("/nonexistent/x.root", &f, &err), DN_EIO);
    cr_assert(strstr(err.msg, "/nonexistent/x.root: "), "%s", err.msg);
    const char text[] = "run,label,b0\n1,0,3\n";
    cr_assert_eq(dn_root_file_open_mem(text, sizeof text - 1, "runs.csv", &f, &err),
                 DN_EFORMAT);
    cr_assert_str_eq(err.msg, "runs.csv: not a ROOT file (it does not start with \"root\")");
    cr_assert_null(f);
}

Test(rootfile, keys_that_are_not_histograms_say_why)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/uproot-hepdata-example.root", dn_root_files_dir());
    dn_root_file_t *f = open_ok(path);
    int k = dn_root_file_find(f, "hprof");
    cr_assert_geq(k, 0);
    const dn_root_key_t *key = dn_root_file_key(f, k);
    cr_assert_eq(key->kind, DN_ROOT_OTHER);
    cr_assert_str_eq(key->reason, "a profile: its bins are means, not counts");
    dn_root_hist_t *h = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_file_read_hist(f, k, &h, &err), DN_ENOTFOUND);
    cr_assert(strstr(err.msg, "key \"hprof;1\" (TProfile): a profile"), "%s", err.msg);
    k = dn_root_file_find(f, "ntuple");
    cr_assert_geq(k, 0);
    cr_assert_str_eq(dn_root_file_key(f, k)->reason, "not a histogram");
    k = dn_root_file_find(f, "hpxpy");
    cr_assert_eq(dn_root_file_key(f, k)->kind, DN_ROOT_TH2);
    dn_root_file_destroy(&f);
}

typedef struct {
    const char *name;
    int64_t seek;
    int keylen;
} find_dir_t;

/* The key record of directory `name` (its payload is the directory record). */
static int find_dir(void *ctx, const dn_root_key_t *key)
{
    find_dir_t *c = ctx;
    if (!strcmp(key->name, c->name) && !strcmp(key->class_name, "TDirectory") &&
        key->objlen == 60) {
        c->seek = key->seek;
        c->keylen = key->keylen;
    }
    return 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

Test(rootfile, a_directory_pointing_back_at_its_parent_is_a_loop_not_a_hang)
{
    char path[] = "/tmp/dn_rootloop_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    double e[] = {0, 1, 2};
    dn_root_hist_t *h = dn_root_hist_new(1, "h", "", 2, e, 0, NULL, 0);
    dn_root_writer_t *w = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_writer_open(path, NULL, &w, &err), 0);
    cr_assert_eq(dn_root_writer_add(w, "d", h, &err), 0);
    cr_assert_eq(dn_root_writer_add(w, "", h, &err), 0);
    cr_assert_eq(dn_root_writer_close(&w, &err), 0, "%s", err.msg);
    dn_root_hist_destroy(&h);
    unsigned char *data = NULL;
    size_t len = 0;
    cr_assert_eq(dn_read_file(path, (char **)&data, &len, &err), 0);
    unlink(path);
    dn_root_file_t *f = NULL;
    cr_assert_eq(dn_root_file_open_mem(data, len, "loop.root", &f, &err), 0, "%s", err.msg);
    find_dir_t c = {.name = "d"};
    cr_assert_eq(dn_root_file_scan(f, find_dir, &c, &err), 0, "%s", err.msg);
    cr_assert_gt(c.seek, 0);
    dn_root_file_destroy(&f);
    /* d's record gets the top directory's keys list (offset and length) */
    const unsigned char *top = data + be32(data + 8) + be32(data + 28);
    unsigned char *rec = data + c.seek + c.keylen;
    memcpy(rec + 10, top + 10, 4); /* fNbytesKeys */
    memcpy(rec + 26, top + 26, 4); /* fSeekKeys */
    cr_assert_eq(dn_root_file_open_mem(data, len, "loop.root", &f, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_root_file_n_problems(f), 1);
    cr_assert(strstr(dn_root_file_problem(f, 0), "loop.root: directory \"d\": its keys list "
                     "at offset") && strstr(dn_root_file_problem(f, 0), "(a directory loop)"),
              "%s", dn_root_file_problem(f, 0));
    cr_assert_eq(dn_root_file_n_keys(f), 1, "the top histogram is still listed");
    cr_assert_eq(dn_root_file_find(f, "h"), 0);
    dn_root_file_destroy(&f);
    free(data);
}
