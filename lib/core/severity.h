/* severity.h: how a scored histogram is judged, the one rule the evaluator
 * service and `dinamo report` share.
 *
 * A histogram's score s = log(chi2 / N_b) is compared with two thresholds:
 *   - bad: the policy's, else the one tuned on the historical regime;
 *   - warning: the policy's, else bad - warning_margin. The margin is ln 2 by
 *     default (DN_WARNING_MARGIN): a run warns once its reduced chi2 is above
 *     half of what makes it bad.
 * s > bad is bad, else s > warning is a warning, else good. A histogram with
 * too few entries to be scored is insufficient_statistics; one whose bad
 * threshold is not known yet, or whose score is undefined (a rejected run),
 * is not judged. The severities are ordered from "not judged" to "bad", so a
 * subsystem or a run takes the largest severity of its histograms.
 *
 * The rule lives in core because it is arithmetic on thresholds and scores:
 * no file, no policy lookup. Callers pass the policy's thresholds (NAN when
 * the policy does not set one).
 *
 * Thread rules: none (pure functions; the names are static strings). */
#ifndef DN_SEVERITY_H
#define DN_SEVERITY_H

/* The default warning margin, ln 2, as a number and as the text of the
 * evaluator's configuration default (the same double). */
#define DN_WARNING_MARGIN 0.6931471805599453
#define DN_WARNING_MARGIN_TEXT "0.6931471805599453"

/* Worse is larger. */
typedef enum dn_severity_t {
    DN_SEV_NONE = 0,     /* not judged: no score or no bad threshold yet */
    DN_SEV_INSUFFICIENT, /* too few entries to be scored */
    DN_SEV_GOOD,
    DN_SEV_WARNING,
    DN_SEV_BAD,
} dn_severity_t;

#define DN_SEV_COUNT 5

typedef struct dn_thresholds_t {
    double bad;     /* NAN: not known yet (nothing is judged); INFINITY: never bad */
    double warning; /* <= bad unless the policy says otherwise */
} dn_thresholds_t;

/* The thresholds of a histogram whose bad threshold is `bad` (NAN: not known
 * yet): warning = policy_warning unless it is NAN, else bad - margin
 * (margin >= 0; DN_WARNING_MARGIN by default). */
dn_thresholds_t dn_thresholds(double bad, double policy_warning, double margin);

/* The severity of a scored histogram: insufficient nonzero when the scorer
 * found too few entries (score is then ignored); score NAN otherwise means
 * no usable score. Returns DN_SEV_NONE when t.bad is NAN. */
dn_severity_t dn_severity(double score, int insufficient, dn_thresholds_t t);

/* Keeps the n histograms furthest above their bad threshold: inserts key k
 * with excess ex (score - bad) into worst[n] / excess[n], ordered by excess,
 * largest first (an entry ties after those equal to it), when it beats the
 * last. Empty slots hold excess -INFINITY. The evaluator's and the
 * dashboard's "worst histograms" of a run. */
void dn_severity_worst_insert(int *worst, double *excess, int n, int k, double ex);

/* The name written in reports: "" (DN_SEV_NONE), "insufficient_statistics",
 * "good", "warning", "bad"; "?" for a value out of range. Static storage. */
const char *dn_severity_name(dn_severity_t sev);

#endif
