/* test_severity.c: the judgement rule the evaluator and `dinamo report`
 * share (severity.h): the warning threshold is the policy's or bad minus the
 * margin (ln 2 by default, the same double as the configuration text), the
 * comparisons are strict, insufficient statistics and missing thresholds or
 * scores are told apart, and the names are the reports' words. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "severity.h"

TestSuite(severity);

Test(severity, the_default_margin_is_ln2_as_number_and_text)
{
    cr_assert_eq(DN_WARNING_MARGIN, log(2.0), "margin %.17g, ln 2 %.17g", DN_WARNING_MARGIN,
                 log(2.0));
    cr_assert_eq(strtod(DN_WARNING_MARGIN_TEXT, NULL), DN_WARNING_MARGIN);
}

Test(severity, warning_is_the_policys_else_bad_minus_the_margin)
{
    dn_thresholds_t t = dn_thresholds(1.5, NAN, DN_WARNING_MARGIN);
    cr_assert_eq(t.bad, 1.5);
    cr_assert_eq(t.warning, 1.5 - log(2.0), "warning %.17g", t.warning);
    t = dn_thresholds(1.5, 0.25, DN_WARNING_MARGIN);
    cr_assert_eq(t.warning, 0.25, "the policy's warning wins");
    t = dn_thresholds(1.5, NAN, 0.0);
    cr_assert_eq(t.warning, 1.5, "margin 0: no warning band");
    t = dn_thresholds(NAN, NAN, DN_WARNING_MARGIN);
    cr_assert(isnan(t.bad) && isnan(t.warning));
    t = dn_thresholds(INFINITY, NAN, DN_WARNING_MARGIN);
    cr_assert(isinf(t.warning), "a threshold that never flags never warns either");
}

Test(severity, strict_comparisons_and_every_case)
{
    dn_thresholds_t t = {1.0, 0.5};
    cr_assert_eq(dn_severity(1.0000001, 0, t), DN_SEV_BAD);
    cr_assert_eq(dn_severity(1.0, 0, t), DN_SEV_WARNING, "equal to bad is not bad");
    cr_assert_eq(dn_severity(0.5000001, 0, t), DN_SEV_WARNING);
    cr_assert_eq(dn_severity(0.5, 0, t), DN_SEV_GOOD, "equal to warning is good");
    cr_assert_eq(dn_severity(-3.0, 0, t), DN_SEV_GOOD);
    cr_assert_eq(dn_severity(INFINITY, 0, t), DN_SEV_BAD);
    cr_assert_eq(dn_severity(NAN, 0, t), DN_SEV_NONE, "no usable score: not judged");
    cr_assert_eq(dn_severity(NAN, 1, t), DN_SEV_INSUFFICIENT);
    cr_assert_eq(dn_severity(9.0, 1, t), DN_SEV_INSUFFICIENT, "insufficient ignores the score");
    dn_thresholds_t unknown = {NAN, NAN};
    cr_assert_eq(dn_severity(9.0, 0, unknown), DN_SEV_NONE, "no threshold yet: not judged");
    cr_assert_eq(dn_severity(9.0, 1, unknown), DN_SEV_NONE);
    dn_thresholds_t never = dn_thresholds(INFINITY, NAN, DN_WARNING_MARGIN);
    cr_assert_eq(dn_severity(1e300, 0, never), DN_SEV_GOOD, "an untunable key never flags");
    dn_thresholds_t odd = {1.0, 2.0}; /* a policy may set warning above a tuned bad */
    cr_assert_eq(dn_severity(1.5, 0, odd), DN_SEV_BAD);
    cr_assert_eq(dn_severity(0.9, 0, odd), DN_SEV_GOOD);
}

Test(severity, names_and_order)
{
    cr_assert_str_eq(dn_severity_name(DN_SEV_NONE), "");
    cr_assert_str_eq(dn_severity_name(DN_SEV_INSUFFICIENT), "insufficient_statistics");
    cr_assert_str_eq(dn_severity_name(DN_SEV_GOOD), "good");
    cr_assert_str_eq(dn_severity_name(DN_SEV_WARNING), "warning");
    cr_assert_str_eq(dn_severity_name(DN_SEV_BAD), "bad");
    cr_assert_str_eq(dn_severity_name((dn_severity_t)7), "?");
    cr_assert_str_eq(dn_severity_name((dn_severity_t)-1), "?");
    cr_assert(DN_SEV_NONE < DN_SEV_INSUFFICIENT && DN_SEV_INSUFFICIENT < DN_SEV_GOOD &&
              DN_SEV_GOOD < DN_SEV_WARNING && DN_SEV_WARNING < DN_SEV_BAD,
              "a run takes its worst histogram's severity: the order is the ranking");
}

Test(severity, worst_insert_keeps_the_largest_excess_first)
{
    int worst[3] = {-1, -1, -1};
    double ex[3] = {-INFINITY, -INFINITY, -INFINITY};
    const int keys[6] = {10, 11, 12, 13, 14, 15};
    const double excess[6] = {0.5, 2.0, -0.3, 2.0, 1.0, -1.0};
    for (int i = 0; i < 6; i++)
        dn_severity_worst_insert(worst, ex, 3, keys[i], excess[i]);
    /* 2.0 (11), then the tie 2.0 (13) after it, then 1.0 (14); 0.5 fell off */
    const int want[3] = {11, 13, 14};
    for (int w = 0; w < 3; w++)
        cr_expect_eq(worst[w], want[w], "slot %d: key %d (excess %g), want %d", w, worst[w], ex[w],
                     want[w]);
    int one[1] = {-1};
    double one_ex[1] = {-INFINITY};
    dn_severity_worst_insert(one, one_ex, 1, 7, -5.0);
    cr_expect_eq(one[0], 7, "a negative excess still fills an empty slot");
}
