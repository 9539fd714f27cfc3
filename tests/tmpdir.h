/* tmpdir.h: one scratch directory per test, for the suites that write files.
 *
 *     static char dir[DN_TEST_TMPDIR_MAX];
 *     static void setup(void) { dn_test_tmpdir(dir, "store"); }
 *     static void teardown(void) { dn_test_rmdir(dir); }
 *     TestSuite(store, .init = setup, .fini = teardown);
 *
 * Criterion runs every test in its own process, so a static buffer per suite
 * is one directory per test. */
#ifndef DN_TEST_TMPDIR_H
#define DN_TEST_TMPDIR_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#define DN_TEST_TMPDIR_MAX 64

/* Creates /tmp/dn_<name>_XXXXXX into dir[DN_TEST_TMPDIR_MAX]; fails the test
 * when it cannot. */
static inline void dn_test_tmpdir(char *dir, const char *name)
{
    snprintf(dir, DN_TEST_TMPDIR_MAX, "/tmp/dn_%s_XXXXXX", name);
    cr_assert_not_null(mkdtemp(dir), "cannot create %s", dir);
}

/* Removes dir and everything in it; says so on stderr when it cannot (a
 * teardown does not fail a test that passed). */
static inline void dn_test_rmdir(const char *dir)
{
    char cmd[DN_TEST_TMPDIR_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

#endif
