/* view.c: the dashboard's JSON answers (view.h).
 *
 * The run list filters by walking runs from the newest: 20,000 runs are a
 * fraction of a millisecond, so there is no second index to keep in step.
 * A key's history is one pass over its cells. Metrics count the cells of the
 * continual regime whose label is truth (not an automatic one) against the
 * severity the evaluator's rule gives: bad is positive, as in flags.csv. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "view.h"

static const char *verdict_word(int v) { return v == 1 ? "bad" : "good"; }

/* The worse of the two methods' severities of run r. */
static int worse_severity(const dash_run_t *r)
{
    return r->m[0].severity > r->m[1].severity ? r->m[0].severity : r->m[1].severity;
}

static void assess_json(dn_jw_t *w, const dash_model_t *m, const dash_assess_t *a)
{
    dn_jw_object(w);
    dn_jw_key(w, "severity");
    dn_jw_string(w, dash_severity_word((dn_severity_t)a->severity));
    dn_jw_key(w, "score");
    dn_jw_number(w, a->bins > 0 ? log(a->chi2 / a->bins) : NAN);
    dn_jw_key(w, "scored");
    dn_jw_int(w, a->n_scored);
    dn_jw_key(w, "worst");
    dn_jw_array(w);
    for (int i = 0; i < DASH_WORST && a->worst[i] >= 0; i++) {
        dn_jw_object(w);
        dn_jw_key(w, "key");
        dn_jw_string(w, m->keys[a->worst[i]].name);
        dn_jw_key(w, "excess");
        dn_jw_number(w, a->excess[i]);
        if (a->fired[i] > 0 && a->excess[i] > 0) { /* a lagged horizon fired: a slow drift */
            dn_jw_key(w, "fired");
            dn_jw_string(w, dash_model_hz_name(m, a->worst[i], a->fired[i]));
        }
        dn_jw_end(w);
    }
    dn_jw_end(w);
    dn_jw_end(w);
}

void dash_view_run(dn_jw_t *w, const dash_model_t *m, int seq)
{
    const dash_run_t *r = &m->runs[seq];
    dn_jw_object(w);
    dn_jw_key(w, "seq");
    dn_jw_int(w, seq);
    dn_jw_key(w, "run");
    dn_jw_int(w, r->run_number);
    dn_jw_key(w, "time");
    dn_jw_number(w, r->time);
    dn_jw_key(w, "n_hist");
    dn_jw_int(w, r->n_hist);
    dn_jw_key(w, "detail");
    dn_jw_bool(w, r->detail);
    for (int me = 0; me < DASH_METHODS; me++) {
        dn_jw_key(w, dash_method_name[me]);
        assess_json(w, m, &r->m[me]);
    }
    /* per subsystem, the worst severity of its histograms once the run is judged */
    dn_jw_key(w, "subsystems");
    dn_jw_object(w);
    for (int s = 0; s < m->n_subsystems; s++) {
        int sev[DASH_METHODS] = {0, 0}, any = 0;
        for (int i = 0; i < r->n_hist; i++) {
            int k = r->keys[i];
            if (m->keys[k].subsystem != s)
                continue;
            any = 1;
            for (int me = 0; me < DASH_METHODS; me++) {
                int v = r->m[me].severity == DN_SEV_NONE
                            ? DN_SEV_NONE
                            : (int)dash_model_cell_severity(m, k, (uint64_t)seq, me);
                if (v > sev[me])
                    sev[me] = v;
            }
        }
        if (!any)
            continue;
        dn_jw_key(w, m->subsystems[s]);
        dn_jw_object(w);
        for (int me = 0; me < DASH_METHODS; me++) {
            dn_jw_key(w, dash_method_name[me]);
            dn_jw_string(w, dash_severity_word((dn_severity_t)sev[me]));
        }
        dn_jw_end(w);
    }
    dn_jw_end(w);
    dn_jw_key(w, "label");
    dn_jw_object(w);
    dn_jw_key(w, "state");
    dn_jw_string(w, dash_label_state_word((dash_label_state_t)r->lstate));
    dn_jw_key(w, "verdict");
    if (r->lstate == DASH_LABEL_AWAITING)
        dn_jw_null(w);
    else
        dn_jw_string(w, verdict_word(r->lverdict));
    dn_jw_key(w, "who");
    dn_jw_string(w, r->who);
    dn_jw_key(w, "reason");
    dn_jw_string(w, r->reason);
    dn_jw_key(w, "time");
    dn_jw_number(w, r->ltime);
    dn_jw_end(w);
    dn_jw_end(w);
}

static void counts_json(dn_jw_t *w, const dash_model_t *m)
{
    dn_jw_object(w);
    for (int me = 0; me < DASH_METHODS; me++) {
        dn_jw_key(w, dash_method_name[me]);
        dn_jw_object(w);
        for (int s = 0; s < DN_SEV_COUNT; s++) {
            dn_jw_key(w, dash_severity_word((dn_severity_t)s));
            dn_jw_int(w, m->counts[me][s]);
        }
        dn_jw_end(w);
    }
    dn_jw_end(w);
}

int dash_view_counts(FILE *f, const dash_model_t *m)
{
    dn_jw_t w;
    dn_jw_init(&w, f);
    dn_jw_object(&w);
    dn_jw_key(&w, "runs");
    dn_jw_int(&w, m->n_runs);
    dn_jw_key(&w, "awaiting");
    dn_jw_int(&w, m->awaiting);
    dn_jw_key(&w, "counts");
    counts_json(&w, m);
    dn_jw_key(&w, "ended");
    dn_jw_bool(&w, m->ended);
    dn_jw_end(&w);
    return dn_jw_finish(&w);
}

int dash_view_summary(FILE *f, const dash_model_t *m, const char *user, const char *csrf,
                      int login_to_view)
{
    dn_jw_t w;
    dn_jw_init(&w, f);
    dn_jw_object(&w);
    dn_jw_key(&w, "stream");
    dn_jw_string(&w, m->stream);
    dn_jw_key(&w, "runs");
    dn_jw_int(&w, m->n_runs);
    dn_jw_key(&w, "historical_runs");
    if (m->historical_runs < 0)
        dn_jw_null(&w);
    else
        dn_jw_int(&w, m->historical_runs);
    dn_jw_key(&w, "methods");
    dn_jw_array(&w);
    for (int me = 0; me < DASH_METHODS; me++)
        if (m->shown[me])
            dn_jw_string(&w, dash_method_name[me]);
    dn_jw_end(&w);
    dn_jw_key(&w, "subsystems");
    dn_jw_array(&w);
    for (int s = 0; s < m->n_subsystems; s++)
        dn_jw_string(&w, m->subsystems[s]);
    dn_jw_end(&w);
    dn_jw_key(&w, "keys");
    dn_jw_int(&w, m->n_keys);
    dn_jw_key(&w, "counts");
    counts_json(&w, m);
    dn_jw_key(&w, "awaiting");
    dn_jw_int(&w, m->awaiting);
    dn_jw_key(&w, "user");
    dn_jw_string(&w, user);
    dn_jw_key(&w, "csrf");
    dn_jw_string(&w, csrf);
    dn_jw_key(&w, "login_required_to_view");
    dn_jw_bool(&w, login_to_view);
    dn_jw_key(&w, "ended");
    dn_jw_bool(&w, m->ended);
    dn_jw_end(&w);
    return dn_jw_finish(&w);
}

static int run_matches(const dash_model_t *m, int seq, const dash_filter_t *flt)
{
    const dash_run_t *r = &m->runs[seq];
    if (!r->present)
        return 0;
    if (flt->awaiting == 1 && r->lstate != DASH_LABEL_AWAITING)
        return 0;
    if (flt->subsystem < 0 && flt->severity < 0)
        return 1;
    if (flt->subsystem < 0)
        return (flt->method >= 0 ? r->m[flt->method].severity : worse_severity(r)) ==
               flt->severity;
    /* subsystem: the run holds it, and (with severity) its histograms there
     * reach that severity by the method (or by either) */
    int holds = 0, sev = DN_SEV_NONE;
    for (int i = 0; i < r->n_hist; i++) {
        int k = r->keys[i];
        if (m->keys[k].subsystem != flt->subsystem)
            continue;
        holds = 1;
        for (int me = 0; me < DASH_METHODS; me++) {
            if ((flt->method >= 0 && me != flt->method) || r->m[me].severity == DN_SEV_NONE)
                continue;
            int v = (int)dash_model_cell_severity(m, k, (uint64_t)seq, me);
            if (v > sev)
                sev = v;
        }
    }
    return holds && (flt->severity < 0 || sev == flt->severity);
}

int dash_view_runs(FILE *f, const dash_model_t *m, const dash_filter_t *flt)
{
    dn_jw_t w;
    dn_jw_init(&w, f);
    dn_jw_object(&w);
    dn_jw_key(&w, "runs");
    dn_jw_array(&w);
    long long start = flt->before < 0 || flt->before > m->n_runs ? m->n_runs : flt->before;
    int listed = 0;
    long long seq = start - 1;
    for (; seq >= 0 && listed < flt->limit; seq--)
        if (run_matches(m, (int)seq, flt)) {
            dash_view_run(&w, m, (int)seq);
            listed++;
        }
    dn_jw_end(&w);
    /* another page exists when an older run matches */
    long long more = -1;
    for (long long s = seq; s >= 0 && more < 0; s--)
        if (run_matches(m, (int)s, flt))
            more = s + 1;
    dn_jw_key(&w, "next_before");
    if (more < 0)
        dn_jw_null(&w);
    else
        dn_jw_int(&w, more);
    dn_jw_end(&w);
    return dn_jw_finish(&w);
}

void dash_view_score_fields(dn_jw_t *w, const dash_model_t *m, int k, int seq, int me)
{
    static const char *const status_word[] = {"none", "ok", "insufficient", "rejected"};
    const dash_key_t *hk = &m->keys[k];
    const dash_cell_t *c = dash_model_cell(m, k, (uint64_t)seq);
    double score = dash_model_cell_score(m, k, c, me);
    dn_severity_t sev =
        m->runs[seq].m[me].severity == DN_SEV_NONE
            ? DN_SEV_NONE
            : dash_model_cell_severity(m, k, (uint64_t)seq, me);
    dn_jw_object(w);
    dn_jw_key(w, "severity");
    dn_jw_string(w, dash_severity_word(sev));
    dn_jw_key(w, "score");
    dn_jw_number(w, score);
    dn_jw_key(w, "chi2");
    dn_jw_number(w, c && c->status[me] == DASH_ST_OK ? c->chi2[me] : NAN);
    dn_jw_key(w, "status");
    dn_jw_string(w, status_word[c && c->status[me] < 4 ? c->status[me] : 0]);
    dn_jw_key(w, "threshold_bad");
    dn_jw_number(w, hk->bad[me]);
    dn_jw_key(w, "threshold_warning");
    dn_jw_number(w, hk->warning[me]);
    dn_jw_key(w, "excess");
    dn_jw_number(w, score - hk->bad[me]);
    int fired;
    double margin = dash_model_cell_margin(m, k, (uint64_t)seq, me, &fired);
    dn_jw_key(w, "margin"); /* the combined margin of its horizons (one: excess) */
    dn_jw_number(w, margin);
    dn_jw_key(w, "fired"); /* the lagged horizon that made it bad, else null */
    dn_jw_string(w, sev == DN_SEV_BAD && fired > 0 ? dash_model_hz_name(m, k, fired) : NULL);
    if (me == 0) {
        dn_jw_key(w, "alpha");
        dn_jw_number(w, hk->alpha);
    }
    dn_jw_end(w);
}

/* The largest of a histogram's scores, for the ordering of a run page: both
 * methods', and S's against each lagged horizon that votes (a slow drift
 * shows there, not against now's reference). */
static double order_score(const dash_model_t *m, int k, int seq)
{
    const dash_cell_t *c = dash_model_cell(m, k, (uint64_t)seq);
    const dash_key_t *hk = &m->keys[k];
    double best = -INFINITY;
    for (int me = 0; me < DASH_METHODS; me++) {
        double s = dash_model_cell_score(m, k, c, me);
        if (!isnan(s) && s > best)
            best = s;
    }
    for (int h = 1; hk->hz_tuned && h <= hk->n_lagged; h++) {
        double s = isnan(hk->hz_bad[h - 1]) ? NAN : dash_model_cell_score_hz(m, k, (uint64_t)seq, h);
        if (!isnan(s) && s > best)
            best = s;
    }
    return best;
}

int dash_view_run_page(dn_jw_t *w, const dash_model_t *m, int seq)
{
    if (seq < 0 || seq >= m->n_runs || !m->runs[seq].present)
        return DN_ENOTFOUND;
    const dash_run_t *r = &m->runs[seq];
    dn_jw_object(w);
    dn_jw_key(w, "run");
    dash_view_run(w, m, seq);
    dn_jw_key(w, "histograms");
    dn_jw_array(w);
    /* insertion order by score, highest first (a run holds a few hundred) */
    int *order = malloc((size_t)(r->n_hist + 1) * sizeof *order);
    double *val = malloc((size_t)(r->n_hist + 1) * sizeof *val);
    if (!order || !val) {
        free(order);
        free(val);
        return DN_ENOMEM;
    }
    for (int i = 0; i < r->n_hist; i++) {
        double s = order_score(m, r->keys[i], seq);
        int j = i;
        while (j > 0 && val[j - 1] < s) {
            val[j] = val[j - 1];
            order[j] = order[j - 1];
            j--;
        }
        val[j] = s;
        order[j] = r->keys[i];
    }
    for (int i = 0; i < r->n_hist; i++) {
        int k = order[i];
        const dash_key_t *hk = &m->keys[k];
        dn_jw_object(w);
        dn_jw_key(w, "key");
        dn_jw_string(w, hk->name);
        dn_jw_key(w, "subsystem");
        dn_jw_string(w, hk->subsystem >= 0 ? m->subsystems[hk->subsystem] : NULL);
        dn_jw_key(w, "n_bins");
        dn_jw_int(w, hk->n_bins);
        for (int me = 0; me < DASH_METHODS; me++) {
            dn_jw_key(w, dash_method_name[me]);
            dash_view_score_fields(w, m, k, seq, me);
        }
        dn_jw_end(w);
    }
    dn_jw_end(w);
    free(order);
    free(val);
    return 0;
}

int dash_view_key(FILE *f, const dash_model_t *m, int k)
{
    if (k < 0 || k >= m->n_keys)
        return DN_ENOTFOUND;
    const dash_key_t *hk = &m->keys[k];
    dn_jw_t w;
    dn_jw_init(&w, f);
    dn_jw_object(&w);
    dn_jw_key(&w, "key");
    dn_jw_string(&w, hk->name);
    dn_jw_key(&w, "subsystem");
    dn_jw_string(&w, hk->subsystem >= 0 ? m->subsystems[hk->subsystem] : NULL);
    dn_jw_key(&w, "n_bins");
    dn_jw_int(&w, hk->n_bins);
    dn_jw_key(&w, "n_bins_y");
    if (hk->shape_known)
        dn_jw_int(&w, hk->n_bins_y);
    else
        dn_jw_null(&w);
    dn_jw_key(&w, "historical_runs");
    if (m->historical_runs < 0)
        dn_jw_null(&w);
    else
        dn_jw_int(&w, m->historical_runs);
    dn_jw_key(&w, "thresholds");
    dn_jw_object(&w);
    for (int me = 0; me < DASH_METHODS; me++) {
        dn_jw_key(&w, dash_method_name[me]);
        dn_jw_object(&w);
        dn_jw_key(&w, "bad");
        dn_jw_number(&w, hk->bad[me]);
        dn_jw_key(&w, "warning");
        dn_jw_number(&w, hk->warning[me]);
        dn_jw_key(&w, "origin");
        dn_jw_string(&w, hk->origin[me]);
        dn_jw_key(&w, "alpha");
        dn_jw_number(&w, me == 0 ? hk->alpha : NAN);
        dn_jw_end(&w);
    }
    dn_jw_end(&w);
    /* columns, one entry per run holding the key */
    static const char *const cols[] = {"seq", "run", "s", "ml", "sev_s", "sev_ml", "label"};
    for (int col = 0; col < 7; col++) {
        dn_jw_key(&w, cols[col]);
        dn_jw_array(&w);
        for (int i = 0; i < hk->n_cells; i++) {
            uint64_t seq = hk->first_seq + (uint64_t)i;
            if (seq >= (uint64_t)m->n_runs || !m->runs[seq].present)
                continue;
            const dash_cell_t *c = &hk->cells[i];
            if (!c->held)
                continue;
            switch (col) {
            case 0: dn_jw_int(&w, (long long)seq); break;
            case 1: dn_jw_int(&w, m->runs[seq].run_number); break;
            case 2: case 3: dn_jw_number(&w, dash_model_cell_score(m, k, c, col - 2)); break;
            case 4: case 5: {
                int me = col - 4;
                dn_severity_t s = m->runs[seq].m[me].severity == DN_SEV_NONE
                                      ? DN_SEV_NONE
                                      : dash_model_cell_severity(m, k, seq, me);
                dn_jw_string(&w, dash_severity_word(s));
                break;
            }
            default:
                if (c->label < 0)
                    dn_jw_null(&w);
                else
                    dn_jw_string(&w, verdict_word(c->label));
            }
        }
        dn_jw_end(&w);
    }
    dn_jw_end(&w);
    return dn_jw_finish(&w);
}

int dash_view_metrics(FILE *f, const dash_model_t *m)
{
    dn_jw_t w;
    dn_jw_init(&w, f);
    dn_jw_object(&w);
    dn_jw_key(&w, "historical_runs");
    if (m->historical_runs < 0)
        dn_jw_null(&w);
    else
        dn_jw_int(&w, m->historical_runs);
    dn_jw_key(&w, "keys");
    dn_jw_array(&w);
    for (int k = 0; k < m->n_keys; k++) {
        const dash_key_t *hk = &m->keys[k];
        dn_jw_object(&w);
        dn_jw_key(&w, "key");
        dn_jw_string(&w, hk->name);
        dn_jw_key(&w, "subsystem");
        dn_jw_string(&w, hk->subsystem >= 0 ? m->subsystems[hk->subsystem] : NULL);
        for (int me = 0; me < DASH_METHODS; me++) {
            long long tp = 0, fp = 0, tn = 0, fn = 0;
            for (int i = 0; i < hk->n_cells; i++) {
                uint64_t seq = hk->first_seq + (uint64_t)i;
                const dash_cell_t *c = &hk->cells[i];
                if (c->label < 0 || c->label_auto)
                    continue;
                dn_severity_t s = dash_model_cell_severity(m, k, seq, me);
                if (s == DN_SEV_NONE || s == DN_SEV_INSUFFICIENT)
                    continue;
                int flagged = s == DN_SEV_BAD;
                if (c->label == 1)
                    flagged ? tp++ : fn++;
                else
                    flagged ? fp++ : tn++;
            }
            double sens = tp + fn ? (double)tp / (double)(tp + fn) : NAN;
            double spec = tn + fp ? (double)tn / (double)(tn + fp) : NAN;
            dn_jw_key(&w, dash_method_name[me]);
            dn_jw_object(&w);
            dn_jw_key(&w, "threshold_bad");
            dn_jw_number(&w, hk->bad[me]);
            dn_jw_key(&w, "threshold_warning");
            dn_jw_number(&w, hk->warning[me]);
            dn_jw_key(&w, "origin");
            dn_jw_string(&w, hk->origin[me]);
            dn_jw_key(&w, "alpha");
            dn_jw_number(&w, me == 0 ? hk->alpha : NAN);
            dn_jw_key(&w, "tp");
            dn_jw_int(&w, tp);
            dn_jw_key(&w, "fp");
            dn_jw_int(&w, fp);
            dn_jw_key(&w, "tn");
            dn_jw_int(&w, tn);
            dn_jw_key(&w, "fn");
            dn_jw_int(&w, fn);
            dn_jw_key(&w, "sensitivity");
            dn_jw_number(&w, sens);
            dn_jw_key(&w, "specificity");
            dn_jw_number(&w, spec);
            dn_jw_key(&w, "balanced_accuracy");
            dn_jw_number(&w, (sens + spec) / 2);
            dn_jw_end(&w);
        }
        dn_jw_end(&w);
    }
    dn_jw_end(&w);
    dn_jw_key(&w, "counts");
    counts_json(&w, m);
    dn_jw_end(&w);
    return dn_jw_finish(&w);
}
