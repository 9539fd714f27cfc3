/* test_team: the fork-join team runs every member exactly once per region,
 * waits for all of them, wakes members that went to sleep, and shuts down. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "team.h"

typedef struct {
    atomic_int runs[8];
    atomic_int total;
    int sizes_seen[8];
    long sum[8];        /* each member's share of a sum over 0..n-1 */
    int n;
} job_t;

static void work(void *arg, int member, int size)
{
    job_t *j = arg;
    atomic_fetch_add(&j->runs[member], 1);
    atomic_fetch_add(&j->total, 1);
    j->sizes_seen[member] = size;
    long s = 0;
    for (int i = member; i < j->n; i += size)
        s += i;
    j->sum[member] = s;
}

static void check_team(int size, int regions, int sleep_us)
{
    dn_team_t *t = dn_team_new(size);
    cr_assert_not_null(t, "team of %d", size);
    cr_assert_eq(dn_team_size(t), size);
    job_t j;
    memset(&j, 0, sizeof j);
    for (int r = 0; r < regions; r++) {
        j.n = 1000 + r;
        dn_team_run(t, work, &j);
        /* every member finished before run returned: the sum is complete */
        long s = 0;
        for (int m = 0; m < size; m++)
            s += j.sum[m];
        cr_assert_eq(s, (long)j.n * (j.n - 1) / 2, "region %d: sum %ld", r, s);
        if (sleep_us) {
            struct timespec ts = {0, sleep_us * 1000L};
            nanosleep(&ts, NULL); /* members stop spinning and sleep */
        }
    }
    for (int m = 0; m < size; m++) {
        cr_assert_eq(atomic_load(&j.runs[m]), regions, "member %d ran %d of %d regions", m,
                     atomic_load(&j.runs[m]), regions);
        cr_assert_eq(j.sizes_seen[m], size);
    }
    cr_assert_eq(atomic_load(&j.total), regions * size);
    dn_team_destroy(&t);
    cr_assert_null(t);
}

Test(team, every_member_once_per_region) { check_team(2, 20000, 0); }
Test(team, sleeping_members_wake) { check_team(2, 50, 2000); }
Test(team, larger_team) { check_team(4, 2000, 0); }
Test(team, single_member_runs_inline) { check_team(1, 100, 0); }

Test(team, null_and_bad_sizes)
{
    cr_assert_null(dn_team_new(0));
    cr_assert_null(dn_team_new(65));
    dn_team_destroy(NULL);
    dn_team_t *none = NULL;
    dn_team_destroy(&none);
    cr_assert_eq(dn_team_size(NULL), 1);
    job_t j;
    memset(&j, 0, sizeof j);
    j.n = 10;
    dn_team_run(NULL, work, &j);
    cr_assert_eq(atomic_load(&j.runs[0]), 1);
    cr_assert_eq(j.sum[0], 45);
}
