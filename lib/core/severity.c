/* severity.c: the judgement of a scored histogram (see severity.h). The
 * comparisons are strict (a score equal to a threshold is below it), as the
 * offline evaluation counts a run flagged when its score exceeds the
 * threshold. */
#include <math.h>
#include <string.h>

#include "severity.h"

dn_thresholds_t dn_thresholds(double bad, double policy_warning, double margin)
{
    dn_thresholds_t t = {bad, isnan(policy_warning) ? bad - margin : policy_warning};
    return t;
}

dn_severity_t dn_severity(double score, int insufficient, dn_thresholds_t t)
{
    if (isnan(t.bad))
        return DN_SEV_NONE;
    if (insufficient)
        return DN_SEV_INSUFFICIENT;
    if (isnan(score))
        return DN_SEV_NONE;
    if (score > t.bad)
        return DN_SEV_BAD;
    return score > t.warning ? DN_SEV_WARNING : DN_SEV_GOOD;
}

const char *dn_severity_name(dn_severity_t sev)
{
    static const char *const names[DN_SEV_COUNT] = {"", "insufficient_statistics", "good",
                                                    "warning", "bad"};
    return (int)sev >= 0 && (int)sev < DN_SEV_COUNT ? names[sev] : "?";
}

void dn_severity_worst_insert(int *worst, double *excess, int n, int k, double ex)
{
    for (int w = 0; w < n; w++)
        if (ex > excess[w]) {
            size_t tail = (size_t)(n - 1 - w);
            memmove(worst + w + 1, worst + w, tail * sizeof *worst);
            memmove(excess + w + 1, excess + w, tail * sizeof *excess);
            worst[w] = k;
            excess[w] = ex;
            return;
        }
}
