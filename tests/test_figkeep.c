/* test_figkeep.c: the newest figure sets kept on disk (figkeep.h): beyond
 * `keep` the oldest set's four files go, and its run directory once empty;
 * keep 0 deletes nothing; after a restart the sets found on disk are evicted
 * oldest run first; a set with files missing (a failed drawing) is fine. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "figkeep.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX], runs[128];

static void setup(void)
{
    dn_test_tmpdir(dir, "figkeep");
    snprintf(runs, sizeof runs, "%s/runs", dir);
}

static void teardown(void) { dn_test_rmdir(dir); }

TestSuite(figkeep, .init = setup, .fini = teardown);

static const char *const suffix[4] = {".png", ".svg", "_history.png", "_history.svg"};

/* Draws (touches) the set NAME of run, with its first n_files files; returns its base. */
static const char *draw(long long run, const char *name, int n_files)
{
    static char base[256];
    char d[200], path[300];
    snprintf(d, sizeof d, "%s/run_%lld", runs, run);
    mkdir(runs, 0777);
    mkdir(d, 0777);
    snprintf(base, sizeof base, "%s/%s", d, name);
    for (int k = 0; k < n_files; k++) {
        snprintf(path, sizeof path, "%s%s", base, suffix[k]);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f, "%s", path);
        fputs("x", f);
        fclose(f);
    }
    return base;
}

static int exists(long long run, const char *name, int k)
{
    char path[300];
    if (name)
        snprintf(path, sizeof path, "%s/run_%lld/%s%s", runs, run, name, suffix[k]);
    else
        snprintf(path, sizeof path, "%s/run_%lld", runs, run);
    return access(path, F_OK) == 0;
}

Test(figkeep, the_newest_sets_stay_the_oldest_go)
{
    dn_err_t err = {0};
    dn_figkeep_t *fk = dn_figkeep_new(runs, 3, &err); /* runs/ does not exist yet */
    cr_assert_not_null(fk, "%s", err.msg);
    cr_assert_eq(dn_figkeep_count(fk), 0);
    /* run 10 has two sets, runs 11 and 12 one each: 4 sets, keep 3 */
    cr_assert_eq(dn_figkeep_add(fk, draw(10, "a_s", 4), &err), 0, "%s", err.msg);
    cr_assert_eq(dn_figkeep_add(fk, draw(10, "b_s", 4), &err), 0, "%s", err.msg);
    cr_assert_eq(dn_figkeep_add(fk, draw(11, "a_ml", 2), &err), 0, "%s", err.msg); /* failed */
    cr_assert_eq(dn_figkeep_count(fk), 3);
    cr_assert_eq(dn_figkeep_add(fk, draw(12, "a_s", 4), &err), 0, "%s", err.msg);
    cr_assert_eq(dn_figkeep_count(fk), 3);
    cr_assert_eq(dn_figkeep_evicted(fk), 1);
    for (int k = 0; k < 4; k++) {
        cr_assert(!exists(10, "a_s", k), "evicted set 10/a_s still has %s", suffix[k]);
        cr_assert(exists(10, "b_s", k), "kept set 10/b_s lost %s", suffix[k]);
    }
    cr_assert(exists(10, NULL, 0), "run 10's directory went while a set of it remains");
    cr_assert_eq(dn_figkeep_add(fk, draw(13, "a_s", 4), &err), 0, "%s", err.msg);
    cr_assert(!exists(10, NULL, 0), "run 10's directory stayed after its last set went");
    cr_assert_eq(dn_figkeep_add(fk, draw(14, "a_s", 4), &err), 0, "%s", err.msg);
    cr_assert(!exists(11, NULL, 0), "run 11 (a set with files missing) was not evicted");
    cr_assert(exists(12, "a_s", 0) && exists(13, "a_s", 3) && exists(14, "a_s", 1));
    cr_assert_eq(dn_figkeep_evicted(fk), 3);
    dn_figkeep_destroy(&fk);
    cr_assert_null(fk);
    dn_figkeep_destroy(&fk);

    /* a restart with keep 2: runs 12, 13, 14 on disk, 12 goes (oldest run first,
     * whatever order readdir lists them in), then a new one evicts 13 */
    fk = dn_figkeep_new(runs, 2, &err);
    cr_assert_not_null(fk, "%s", err.msg);
    cr_assert_eq(dn_figkeep_count(fk), 2);
    cr_assert(!exists(12, NULL, 0) && exists(13, "a_s", 0) && exists(14, "a_s", 0));
    cr_assert_eq(dn_figkeep_add(fk, draw(100, "z_s", 4), &err), 0, "%s", err.msg);
    cr_assert(!exists(13, NULL, 0) && exists(14, "a_s", 0) && exists(100, "z_s", 0),
              "after a restart the oldest run was not evicted first");
    dn_figkeep_destroy(&fk);
}

Test(figkeep, keep_zero_deletes_nothing_and_bad_arguments_are_refused)
{
    dn_err_t err = {0};
    cr_assert_null(dn_figkeep_new(runs, -1, &err));
    cr_assert_eq(err.code, DN_EINVAL);
    dn_figkeep_t *fk = dn_figkeep_new(runs, 0, &err);
    cr_assert_not_null(fk, "%s", err.msg);
    for (int r = 0; r < 200; r++)
        cr_assert_eq(dn_figkeep_add(fk, draw(r, "a_s", 4), &err), 0, "%s", err.msg);
    cr_assert_eq(dn_figkeep_count(fk), 200);
    cr_assert_eq(dn_figkeep_evicted(fk), 0);
    for (int r = 0; r < 200; r++)
        cr_assert(exists(r, "a_s", 3), "keep 0 deleted run %d", r);
    dn_figkeep_destroy(&fk);
    /* an unreadable runs directory is an error, not an empty one */
    char f[160];
    snprintf(f, sizeof f, "%s/file", dir);
    FILE *fp = fopen(f, "w");
    fclose(fp);
    cr_assert_null(dn_figkeep_new(f, 3, &err));
    cr_assert_eq(err.code, DN_EIO, "%s", err.msg);
}
