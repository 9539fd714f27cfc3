/* test_policy.c: policy files: precedence (key > longest prefix > subsystem >
 * *, per field), comments and blanks, every rejected line with its message. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

static char path[64];

static dn_policy_t *load_text(const char *text, dn_err_t *err)
{
    strcpy(path, "/tmp/dn_policy_XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    dn_policy_t *p = dn_policy_load(path, err);
    unlink(path);
    return p;
}

Test(policy, most_specific_line_wins_per_field)
{
    dn_err_t err = {0};
    dn_policy_t *p = load_text("# thresholds and minima\n"
                               "match, min_entries, warning, bad\n"
                               "\n"
                               "*,100,,2.0\n"
                               "calo/*,300,,\n"
                               "calo/e*,400,,1.5\n"
                               "subsystem:calo,,0.4,1.2\n"
                               "calo/energy,,0.1,\n",
                               &err);
    cr_assert_not_null(p, "%s", err.msg);
    dn_judge_t j = dn_policy_lookup(p, "calo/energy", "calo");
    cr_assert_eq(j.min_entries, 400, "longest prefix: %g", j.min_entries);
    cr_assert_eq(j.warning, 0.1, "key line: %g", j.warning);
    cr_assert_eq(j.bad, 1.5, "prefix beats subsystem: %g", j.bad);
    j = dn_policy_lookup(p, "calo/time", "calo");
    cr_assert_eq(j.min_entries, 300);
    cr_assert_eq(j.warning, 0.4);
    cr_assert_eq(j.bad, 1.2, "subsystem beats *: %g", j.bad);
    j = dn_policy_lookup(p, "muon/x", "muon");
    cr_assert_eq(j.min_entries, 100);
    cr_assert(isnan(j.warning));
    cr_assert_eq(j.bad, 2.0);
    /* min_entries is per key: the subsystem does not change it */
    cr_assert_eq(dn_policy_lookup(p, "calo/time", NULL).min_entries, 300);
    dn_policy_destroy(&p);
    cr_assert_null(p);
    dn_judge_t none = dn_policy_lookup(NULL, "x", "y");
    cr_assert_eq(none.min_entries, 0);
    cr_assert(isnan(none.bad) && isnan(none.warning));
}

Test(policy, bad_files_are_named)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"match,min,warning,bad\n", ":1: header 'match,min,warning,bad'"},
        {"# only a comment\n", "no header line"},
        {"match,min_entries,warning,bad\n*,abc,,\n", ":2: column min_entries: 'abc' is not a number"},
        {"match,min_entries,warning,bad\n*,1,2\n", ":2: 3 columns, expected 4"},
        {"match,min_entries,warning,bad\n*,1,2,3,4\n", ":2: more than 4 columns"},
        {"match,min_entries,warning,bad\n*,-1,,\n", ":2: min_entries is negative"},
        {"match,min_entries,warning,bad\n*,,2,1\n", ":2: warning threshold above the bad one"},
        {"match,min_entries,warning,bad\nsubsystem:calo,10,,\n",
         ":2: min_entries is set per key"},
        {"match,min_entries,warning,bad\n,1,,\n", ":2: empty match"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        dn_err_t err = {0};
        dn_policy_t *p = load_text(cases[c].text, &err);
        cr_assert_null(p, "case %zu accepted", c);
        cr_assert(strstr(err.msg, cases[c].msg), "case %zu: want \"%s\" in: %s", c,
                  cases[c].msg, err.msg);
    }
    dn_err_t err = {0};
    cr_assert_null(dn_policy_load("/nonexistent/policy.csv", &err));
    cr_assert_eq(err.code, DN_EIO);
}
