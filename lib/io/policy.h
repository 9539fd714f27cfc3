/* policy.h: how each histogram is judged: the minimum number of entries below
 * which it is "insufficient statistics" (no score, no update), and its warning
 * and bad thresholds on the score log(chi2 / N_b), per histogram or subsystem.
 *
 * A policy file is CSV with the header `match,min_entries,warning,bad`; `#`
 * starts a comment line. `match` is one of
 *     *                  every histogram
 *     subsystem:NAME     the histograms of subsystem NAME
 *     PREFIX*            the keys starting with PREFIX (calo/ then a star)
 *     KEY                one key
 * Empty fields say "not set here"; min_entries is a property of a key (its
 * scorers and trainer apply it), so subsystem lines leave it empty. For each
 * field the most specific line that sets it wins: KEY, then the longest
 * PREFIX*, then subsystem:NAME, then *. An
 * unset min_entries is 0 (only empty histograms are insufficient); an unset bad
 * threshold is tuned on the historical regime, an unset warning threshold is
 * the bad one minus the evaluator's warning_margin.
 *
 * Thread rules: a loaded policy is immutable; lookups from any thread. */
#ifndef DN_POLICY_H
#define DN_POLICY_H

#include "error.h"

typedef struct dn_policy_t dn_policy_t;

typedef struct dn_judge_t {
    double min_entries; /* >= 0 */
    double warning;     /* NAN: unset */
    double bad;         /* NAN: unset */
} dn_judge_t;

/* Reads a policy file. Returns a new policy the caller frees with
 * dn_policy_destroy, or NULL with *err set: DN_EIO, DN_EFORMAT ("policy.csv:4:
 * column bad: 'x' is not a number"), DN_ERANGE (negative min_entries, warning
 * above bad on one line), DN_ENOMEM. */
dn_policy_t *dn_policy_load(const char *path, dn_err_t *err);

/* An empty policy (every lookup gives min_entries 0 and unset thresholds), or
 * NULL (memory). */
dn_policy_t *dn_policy_new(void);

/* Frees *self_p; accepts NULL; sets *self_p to NULL. */
void dn_policy_destroy(dn_policy_t **self_p);

/* The judgement of histogram `key` of `subsystem` (either may be NULL or "").
 * self may be NULL (the empty policy). min_entries depends on the key only. */
dn_judge_t dn_policy_lookup(const dn_policy_t *self, const char *key, const char *subsystem);

struct dn_config_t;
/* The policy named by a service's `policy` key (a common key): loaded from the
 * file, or the empty policy when the key is empty. NULL with *err set on
 * failure (as dn_policy_load). Caller owns the result. */
dn_policy_t *dn_policy_from_config(const struct dn_config_t *cfg, dn_err_t *err);

#endif
