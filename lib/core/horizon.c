/* horizon.c: multi-horizon references (see horizon.h for what and why).
 *
 * Layout: the current tracker, and per lagged horizon a ring of frozen copies
 * (dn_s_copy into preallocated trackers, so the hot path never allocates)
 * with the position or time each was taken at. The ring of horizon h holds
 * cap = lag / step + 2 trackers, step = lag / resolution (runs: at least 1,
 * whole): between the newest snapshot at least lag old and the run, at most
 * lag / step more are taken, plus the one being added.
 *
 * Which snapshot a run uses: the newest at or before (position - lag) or
 * (time - lag). Runs: positions only grow, so every snapshot older than the
 * one used is never needed again and is dropped then. Seconds: times need
 * not grow (a late run), so nothing is dropped on use; a full ring drops its
 * oldest when it takes a new one, which for growing times is the one no run
 * can need any more.
 *
 * Invariants: ring n <= cap; at[] of a ring increases from oldest to newest;
 * position counts every dn_hz_score call since dn_hz_new. */
#include "horizon.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "histo.h"
#include "metrics.h"

typedef struct hz_ring_t {
    dn_hz_kind_t kind;
    double lag, step;
    int cap, n, head;   /* head: index of the oldest held */
    dn_s_t **snap;      /* [cap], all allocated */
    double *at;         /* [cap] position or time each was taken at */
} hz_ring_t;

struct dn_hz_t {
    dn_hz_spec_t spec;
    int n_bins;
    uint64_t position;
    double accept_level;  /* a good run scored above it is an accepted change; NAN: off */
    uint64_t n_accepted;  /* accepted changes the snapshots followed */
    uint32_t following;   /* updates the snapshots still follow after one */
    double *delta;        /* [n_bins] scratch: mu before, then the change */
    dn_s_t *now;
    hz_ring_t ring[DN_HZ_MAX]; /* [1 .. spec.n) used */
};

/* ---- specs ----------------------------------------------------------------------- */

void dn_hz_spec_single(dn_hz_spec_t *out)
{
    memset(out, 0, sizeof *out);
    out->n = 1;
    out->kind[0] = DN_HZ_NOW;
    out->resolution = DN_HZ_RESOLUTION;
}

int dn_hz_spec_check(const dn_hz_spec_t *spec, dn_err_t *err)
{
    if (!spec || spec->n < 1 || spec->n > DN_HZ_MAX)
        return dn_err_set(err, DN_EINVAL, "horizons: %d of them, want 1 to %d",
                          spec ? spec->n : 0, DN_HZ_MAX);
    if (spec->resolution < 1 || spec->resolution > 64)
        return dn_err_set(err, DN_EINVAL, "horizon resolution %d: want 1 to 64",
                          spec->resolution);
    if (spec->kind[0] != DN_HZ_NOW || spec->lag[0] != 0.0)
        return dn_err_set(err, DN_EINVAL, "horizons: the first must be 'now'");
    for (int h = 1; h < spec->n; h++) {
        double lag = spec->lag[h];
        if (spec->kind[h] == DN_HZ_RUNS) {
            if (!(lag >= 1.0 && lag <= 1e9 && lag == floor(lag)))
                return dn_err_set(err, DN_EINVAL, "horizon %d: a lag of %g runs: want a whole "
                                  "number from 1 to 1e9", h, lag);
        } else if (spec->kind[h] == DN_HZ_SECONDS) {
            /* at least 1 ms: a subnormal lag would make its step 0 and its ring
             * unbounded (fuzz_horizon found it in a checkpoint) */
            if (!(lag >= 1e-3 && lag <= 1e10))
                return dn_err_set(err, DN_EINVAL, "horizon %d: a lag of %g s: want at least "
                                  "0.001 and at most 1e10", h, lag);
        } else {
            return dn_err_set(err, DN_EINVAL, "horizon %d: 'now' may come only first", h);
        }
        const dn_hz_spec_t *s = spec;
        if (s->kind[h] < s->kind[h - 1] ||
            (s->kind[h] == s->kind[h - 1] && !(s->lag[h] > s->lag[h - 1])))
            return dn_err_set(err, DN_EINVAL, "horizons: not sorted and distinct (runs first, "
                              "then seconds, each increasing)");
    }
    return 0;
}

static int unit_seconds(const char *u, double *mult)
{
    static const struct { const char *name; double s; } units[] = {
        {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 604800},
    };
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (strcmp(u, units[i].name) == 0) {
            *mult = units[i].s;
            return 1;
        }
    return 0;
}

/* One item of the list (not "now") into *kind, *lag. */
static int parse_item(const char *item, dn_hz_kind_t *kind, double *lag, dn_err_t *err)
{
    char *end;
    double v = strtod(item, &end);
    if (end == item || !isfinite(v))
        return dn_err_set(err, DN_EINVAL, "horizon '%s': not a number of runs or a time "
                          "such as 12h or 7d", item);
    if (*end == '\0') {
        if (!(v >= 1.0 && v == floor(v) && v <= 1e9))
            return dn_err_set(err, DN_EINVAL, "horizon '%s': a lag in runs must be a whole "
                              "number from 1 to 1e9", item);
        *kind = DN_HZ_RUNS;
        *lag = v;
        return 0;
    }
    double mult;
    if (!unit_seconds(end, &mult))
        return dn_err_set(err, DN_EINVAL, "horizon '%s': unknown unit '%s' (s, m, h, d or w; "
                          "none for runs)", item, end);
    if (!(v > 0.0 && v * mult <= 1e10))
        return dn_err_set(err, DN_EINVAL, "horizon '%s': a time lag must be more than 0 and "
                          "at most 1e10 s", item);
    *kind = DN_HZ_SECONDS;
    *lag = v * mult;
    return 0;
}

int dn_hz_spec_parse(const char *text, int resolution, dn_hz_spec_t *out, dn_err_t *err)
{
    dn_hz_spec_t s;
    dn_hz_spec_single(&s);
    s.resolution = resolution;
    char item[64];
    const char *p = text ? text : "";
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0 || len >= sizeof item)
            return dn_err_set(err, DN_EINVAL, "horizons '%s': %s item", text,
                              len ? "an overlong" : "an empty");
        memcpy(item, p, len);
        item[len] = '\0';
        if (strcmp(item, "now") != 0) {
            if (s.n == DN_HZ_MAX)
                return dn_err_set(err, DN_EINVAL, "horizons '%s': more than %d lagged "
                                  "horizons", text, DN_HZ_MAX - 1);
            int rc = parse_item(item, &s.kind[s.n], &s.lag[s.n], err);
            if (rc)
                return rc;
            s.n++;
        }
        p += len;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == ',' && !*++p)
            return dn_err_set(err, DN_EINVAL, "horizons '%s': an empty item at the end", text);
    }
    /* sort (insertion: at most 7), runs before seconds */
    for (int i = 2; i < s.n; i++)
        for (int j = i; j > 1; j--) {
            int later = s.kind[j - 1] > s.kind[j] ||
                        (s.kind[j - 1] == s.kind[j] && s.lag[j - 1] > s.lag[j]);
            if (!later)
                break;
            dn_hz_kind_t k = s.kind[j];
            double l = s.lag[j];
            s.kind[j] = s.kind[j - 1], s.lag[j] = s.lag[j - 1];
            s.kind[j - 1] = k, s.lag[j - 1] = l;
        }
    for (int h = 2; h < s.n; h++)
        if (s.kind[h] == s.kind[h - 1] && s.lag[h] == s.lag[h - 1]) {
            char name[DN_HZ_NAME_MAX];
            return dn_err_set(err, DN_EINVAL, "horizons '%s': %s given twice", text,
                              dn_hz_name(&s, h, name, sizeof name));
        }
    int rc = dn_hz_spec_check(&s, err);
    if (rc)
        return rc;
    *out = s;
    return 0;
}

const char *dn_hz_name(const dn_hz_spec_t *spec, int h, char *buf, size_t len)
{
    if (h == 0 || spec->kind[h] == DN_HZ_NOW) {
        snprintf(buf, len, "now");
    } else if (spec->kind[h] == DN_HZ_RUNS) {
        snprintf(buf, len, "%.0fr", spec->lag[h]);
    } else {
        static const struct { char unit; double s; } units[] = {
            {'d', 86400}, {'h', 3600}, {'m', 60},
        };
        double lag = spec->lag[h];
        for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
            double q = lag / units[i].s;
            if (q >= 1.0 && q == floor(q) && q < 1e9) {
                snprintf(buf, len, "%.0f%c", q, units[i].unit);
                return buf;
            }
        }
        snprintf(buf, len, "%.17gs", lag);
    }
    return buf;
}

int dn_hz_spec_format(const dn_hz_spec_t *spec, char *buf, size_t len)
{
    size_t used = 0;
    if (spec->n == 1) {
        if (len < 4)
            return DN_EINVAL;
        memcpy(buf, "now", 4);
        return 0;
    }
    for (int h = 1; h < spec->n; h++) {
        char name[DN_HZ_NAME_MAX];
        dn_hz_name(spec, h, name, sizeof name);
        size_t nl = strlen(name);
        if (spec->kind[h] == DN_HZ_RUNS)
            nl--; /* "500r" is written "500" */
        if (used + nl + 2 > len)
            return DN_EINVAL;
        if (h > 1)
            buf[used++] = ',';
        memcpy(buf + used, name, nl);
        used += nl;
    }
    buf[used] = '\0';
    return 0;
}

int dn_hz_spec_has_time(const dn_hz_spec_t *spec)
{
    for (int h = 1; h < spec->n; h++)
        if (spec->kind[h] == DN_HZ_SECONDS)
            return 1;
    return 0;
}

int dn_hz_spec_equal(const dn_hz_spec_t *a, const dn_hz_spec_t *b)
{
    if (a->n != b->n || a->resolution != b->resolution)
        return 0;
    for (int h = 0; h < a->n; h++)
        if (a->kind[h] != b->kind[h] || a->lag[h] != b->lag[h])
            return 0;
    return 1;
}

/* ---- the tracker ----------------------------------------------------------------- */

static void ring_free(hz_ring_t *r)
{
    if (r->snap)
        for (int i = 0; i < r->cap; i++)
            dn_s_destroy(&r->snap[i]);
    free(r->snap);
    free(r->at);
    memset(r, 0, sizeof *r);
}

static int ring_init(hz_ring_t *r, dn_hz_kind_t kind, double lag, int resolution, int n_bins,
                     double alpha)
{
    r->kind = kind;
    r->lag = lag;
    if (kind == DN_HZ_RUNS) {
        r->step = floor(lag / resolution);
        if (r->step < 1.0)
            r->step = 1.0;
    } else {
        r->step = lag / resolution;
    }
    r->cap = (int)floor(lag / r->step) + 2;
    r->snap = calloc((size_t)r->cap, sizeof *r->snap);
    r->at = calloc((size_t)r->cap, sizeof *r->at);
    if (!r->snap || !r->at)
        return DN_ENOMEM;
    for (int i = 0; i < r->cap; i++)
        if (!(r->snap[i] = dn_s_new(n_bins, alpha)))
            return DN_ENOMEM;
    return 0;
}

static int ring_index(const hz_ring_t *r, int k) { return (r->head + k) % r->cap; }

void dn_hz_destroy(dn_hz_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_hz_t *self = *self_p;
    dn_s_destroy(&self->now);
    free(self->delta);
    for (int h = 1; h < DN_HZ_MAX; h++)
        ring_free(&self->ring[h]);
    free(self);
    *self_p = NULL;
}

dn_hz_t *dn_hz_new(const dn_hz_spec_t *spec, int n_bins, double alpha)
{
    if (dn_hz_spec_check(spec, NULL))
        return NULL;
    dn_hz_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->spec = *spec;
    self->n_bins = n_bins;
    self->accept_level = NAN;
    if (!(self->now = dn_s_new(n_bins, alpha)) ||
        !(self->delta = malloc((size_t)n_bins * sizeof *self->delta)))
        goto fail;
    for (int h = 1; h < spec->n; h++)
        if (ring_init(&self->ring[h], spec->kind[h], spec->lag[h], spec->resolution, n_bins,
                      alpha))
            goto fail;
    return self;
fail:
    dn_hz_destroy(&self);
    return NULL;
}

int dn_hz_respec(dn_hz_t *self, const dn_hz_spec_t *spec, dn_err_t *err)
{
    int rc = dn_hz_spec_check(spec, err);
    if (rc || dn_hz_spec_equal(&self->spec, spec))
        return rc;
    hz_ring_t ring[DN_HZ_MAX];
    memset(ring, 0, sizeof ring);
    double alpha = dn_s_alpha(self->now);
    for (int h = 1; h < spec->n; h++)
        if (ring_init(&ring[h], spec->kind[h], spec->lag[h], spec->resolution, self->n_bins,
                      alpha)) {
            rc = dn_err_set(err, DN_ENOMEM, "out of memory for the snapshots of %d horizons",
                            spec->n);
            goto fail;
        }
    for (int h = 1; h < spec->n; h++) {
        hz_ring_t *to = &ring[h];
        for (int g = 1; g < self->spec.n; g++) {
            const hz_ring_t *from = &self->ring[g];
            if (from->kind != to->kind || from->lag != to->lag)
                continue;
            int keep = from->n < to->cap ? from->n : to->cap;
            for (int k = 0; k < keep; k++) {
                int i = ring_index(from, from->n - keep + k);
                dn_s_copy(to->snap[k], from->snap[i]); /* same bins: cannot fail */
                to->at[k] = from->at[i];
            }
            to->n = keep;
            break;
        }
    }
    for (int h = 1; h < DN_HZ_MAX; h++)
        ring_free(&self->ring[h]);
    memcpy(self->ring, ring, sizeof ring);
    self->spec = *spec;
    return 0;
fail:
    for (int h = 1; h < DN_HZ_MAX; h++)
        ring_free(&ring[h]);
    return rc;
}

const dn_hz_spec_t *dn_hz_spec(const dn_hz_t *self) { return &self->spec; }
dn_s_t *dn_hz_now(dn_hz_t *self) { return self->now; }
uint64_t dn_hz_position(const dn_hz_t *self) { return self->position; }

void dn_hz_set_min_entries(dn_hz_t *self, double min_entries)
{
    dn_s_set_min_entries(self->now, min_entries);
    for (int h = 1; h < self->spec.n; h++)
        for (int i = 0; i < self->ring[h].cap; i++)
            dn_s_set_min_entries(self->ring[h].snap[i], min_entries);
}

int dn_hz_snapshot_count(const dn_hz_t *self)
{
    int n = 0;
    for (int h = 1; h < self->spec.n; h++)
        n += self->ring[h].n;
    return n;
}

int dn_hz_snapshot_bound(const dn_hz_t *self)
{
    int n = 0;
    for (int h = 1; h < self->spec.n; h++)
        n += self->ring[h].cap;
    return n;
}

/* The clock of ring r for a run at position pos and time t (NAN: none). */
static double ring_clock(const hz_ring_t *r, uint64_t pos, double t)
{
    return r->kind == DN_HZ_RUNS ? (double)pos : t;
}

/* Updates after which the initial reference (flat, SPEC 2) weighs less than
 * 1% in the EWMA: alpha^k <= 0.01. */
static uint64_t warmup_updates(double alpha)
{
    if (!(alpha > 0.0))
        return 1;
    return (uint64_t)ceil(log(0.01) / log(alpha));
}

/* Takes the snapshot due at clock c (before the run is scored). A reference
 * still dominated by its flat start is not one to compare with: no snapshot
 * until it has learned warmup_updates good runs. */
static void ring_take(hz_ring_t *r, const dn_s_t *now, double c)
{
    if (isnan(c) || dn_s_n_updates(now) < warmup_updates(dn_s_alpha(now)))
        return;
    if (r->kind == DN_HZ_RUNS) {
        if (fmod(c, r->step) != 0.0)
            return;
    } else if (r->n && !(c >= r->at[ring_index(r, r->n - 1)] + r->step)) {
        return;
    }
    if (r->n == r->cap) { /* drop the oldest (see the top of the file) */
        r->head = (r->head + 1) % r->cap;
        r->n--;
    }
    int i = ring_index(r, r->n);
    dn_s_copy(r->snap[i], now); /* same bins: cannot fail */
    r->at[i] = c;
    r->n++;
}

/* The snapshot for clock c, or NULL; runs drop what is older than it. */
static const dn_s_t *ring_pick(hz_ring_t *r, double c, double *age)
{
    if (isnan(c))
        return NULL;
    int best = -1;
    for (int k = r->n - 1; k >= 0; k--)
        if (r->at[ring_index(r, k)] <= c - r->lag) {
            best = k;
            break;
        }
    if (best < 0)
        return NULL;
    int i = ring_index(r, best);
    *age = c - r->at[i];
    if (r->kind == DN_HZ_RUNS && best > 0) {
        r->head = i;
        r->n -= best;
    }
    return r->snap[i];
}

static void fill_nan(double *v, int n)
{
    if (v)
        for (int j = 0; j < n; j++)
            v[j] = NAN;
}

int dn_hz_score(dn_hz_t *self, const double *x, const double *var, double t, dn_hz_out_t *out,
                dn_err_t *err)
{
    uint64_t pos = self->position++;
    int rc = dn_s_score(self->now, x, var, &out->chi2[0], out->pulls[0], out->ref_mu[0],
                        out->ref_sigma[0], err);
    out->age[0] = 0.0;
    for (int h = 1; h < self->spec.n; h++) {
        hz_ring_t *r = &self->ring[h];
        double c = ring_clock(r, pos, t), age = NAN;
        ring_take(r, self->now, c);
        const dn_s_t *ref = ring_pick(r, c, &age);
        out->age[h] = ref ? age : NAN;
        if (ref && rc == 0) {
            /* the run was valid against now, so it is against any reference */
            dn_s_score(ref, x, var, &out->chi2[h], out->pulls[h], out->ref_mu[h],
                       out->ref_sigma[h], NULL);
        } else {
            out->chi2[h] = NAN;
            fill_nan(out->pulls[h], self->n_bins);
            fill_nan(out->ref_mu[h], self->n_bins);
            fill_nan(out->ref_sigma[h], self->n_bins);
        }
    }
    return rc;
}

/* Updates after an accepted change until the EWMA has taken 99% of it:
 * alpha^F <= 0.01 (at most 100). */
static uint32_t follow_updates(double alpha)
{
    if (!(alpha > 0.0))
        return 0;
    double f = ceil(log(0.01) / log(alpha));
    return f > 100.0 ? 100 : (uint32_t)f;
}

void dn_hz_set_accept_level(dn_hz_t *self, double level) { self->accept_level = level; }
double dn_hz_accept_level(const dn_hz_t *self) { return self->accept_level; }
uint64_t dn_hz_accepted(const dn_hz_t *self) { return self->n_accepted; }

int dn_hz_update(dn_hz_t *self, const double *x, const double *var, dn_err_t *err)
{
    if (self->spec.n == 1 || isnan(self->accept_level))
        return dn_s_update(self->now, x, var, err);
    const int nb = self->n_bins;
    double *dmu = self->delta;
    memcpy(dmu, dn_s_mu(self->now), (size_t)nb * sizeof *dmu);
    double chi2;
    int rc = dn_s_step(self->now, x, var, 1, &chi2, NULL, NULL, NULL, err);
    if (rc)
        return rc;
    if (dn_score_from_chi2(chi2, nb) > self->accept_level) {
        self->n_accepted++;
        self->following = follow_updates(dn_s_alpha(self->now));
    } else if (self->following) {
        self->following--;
    } else {
        return 0;
    }
    /* An accepted change, or the updates after one while the reference is
     * still settling on it: every snapshot moves with it. */
    /* mu only: moving the snapshots' sigma_mu^2 by the current one's change
     * too made the older horizons worse (its step transient is in it) */
    const double *mu = dn_s_mu(self->now);
    for (int j = 0; j < nb; j++)
        dmu[j] = mu[j] - dmu[j];
    for (int h = 1; h < self->spec.n; h++) {
        hz_ring_t *r = &self->ring[h];
        for (int k = 0; k < r->n; k++)
            dn_s_shift(r->snap[ring_index(r, k)], dmu, NULL);
    }
    return 0;
}

int dn_hz_level_from_runs(const double *counts, const double *variances, const int8_t *labels,
                          int n_hist, int n_bins, double alpha, double min_entries, double q,
                          double *level, dn_err_t *err)
{
    *level = NAN;
    if (!(q > 0.0) || n_hist < 1)
        return 0;
    dn_s_t *s = dn_s_new(n_bins, alpha);
    double *score = malloc(((size_t)n_hist + 1) * sizeof *score);
    int rc = 0;
    if (!s || !score) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory for the acceptance level");
        goto fail;
    }
    dn_s_set_min_entries(s, min_entries);
    dn_s_run(s, counts, variances, labels, n_hist, score, NULL, NULL, NULL, NULL);
    for (int i = 0; i < n_hist; i++)
        score[i] = dn_score_from_chi2(score[i], n_bins);
    *level = dn_hz_level_from_history(score, labels, n_hist, q > 1.0 ? 1.0 : q);
fail:
    dn_s_destroy(&s);
    free(score);
    return rc;
}

double dn_hz_level_from_history(const double *score, const int8_t *label, int n_hist, double q)
{
    double *good = malloc(((size_t)n_hist + 1) * sizeof *good);
    if (!good)
        return NAN;
    int m = 0;
    for (int i = 0; i < n_hist; i++)
        if (label[i] == 0 && !isnan(score[i]))
            good[m++] = score[i];
    double level = m ? dn_percentile(good, m, 100.0 * q) : NAN;
    free(good);
    return level;
}

int dn_hz_run(dn_hz_t *self, const double *counts, const double *variances,
              const double *times, const int8_t *labels, int n_runs, double *chi2_out,
              double *pulls_out, double *ref_mu_out, double *ref_sigma_out, dn_err_t *err)
{
    if (!self || n_runs < 0 || (n_runs && (!counts || !labels || !chi2_out)))
        return dn_err_set(err, DN_EINVAL, "dn_hz_run: bad arguments");
    const int nb = self->n_bins, n_hz = self->spec.n;
    const size_t plane = (size_t)n_runs * nb;
    int first = 0;
    for (int i = 0; i < n_runs; i++) {
        dn_hz_out_t o;
        for (int h = 0; h < n_hz; h++) {
            size_t at = h * plane + (size_t)i * nb;
            o.pulls[h] = pulls_out ? pulls_out + at : NULL;
            o.ref_mu[h] = ref_mu_out ? ref_mu_out + at : NULL;
            o.ref_sigma[h] = ref_sigma_out ? ref_sigma_out + at : NULL;
        }
        const double *x = counts + (size_t)i * nb;
        const double *v = variances ? variances + (size_t)i * nb : NULL;
        dn_err_t why = {0};
        int rc = dn_hz_score(self, x, v, times ? times[i] : NAN, &o, &why);
        for (int h = 0; h < n_hz; h++)
            chi2_out[(size_t)h * n_runs + i] = o.chi2[h];
        if (rc == 0 && labels[i] == 0)
            dn_hz_update(self, x, v, NULL);
        if (rc == DN_ERANGE && !first)
            first = dn_err_set(err, rc, "run %d: %s", i, why.msg);
    }
    return first;
}

/* ---- checkpoint ------------------------------------------------------------------ */

enum { HZ_VERSION = 1 };
static const unsigned char HZ_MAGIC[4] = {'D', 'N', 'H', 'z'};

size_t dn_hz_state_size(const dn_hz_t *self)
{
    size_t one = dn_s_state_size(self->now);
    size_t n = 4 + 4 + 4 + 4 + (size_t)self->spec.n * 12 + 8 + 8 + 8 + 4 + 4 + one;
    for (int h = 1; h < self->spec.n; h++)
        n += 4 + (size_t)self->ring[h].n * (8 + one);
    return n;
}

int dn_hz_save(const dn_hz_t *self, void *buf, size_t len)
{
    if (!self || !buf || len < dn_hz_state_size(self))
        return DN_EINVAL;
    unsigned char *p = buf;
    size_t one = dn_s_state_size(self->now);
    memcpy(p, HZ_MAGIC, 4);
    dn_put_u32(p + 4, HZ_VERSION);
    dn_put_u32(p + 8, (uint32_t)self->spec.n);
    dn_put_u32(p + 12, (uint32_t)self->spec.resolution);
    p += 16;
    for (int h = 0; h < self->spec.n; h++, p += 12) {
        dn_put_u32(p, (uint32_t)self->spec.kind[h]);
        dn_put_f64(p + 4, self->spec.lag[h]);
    }
    dn_put_u64(p, self->position);
    dn_put_f64(p + 8, self->accept_level);
    dn_put_u64(p + 16, self->n_accepted);
    dn_put_u32(p + 24, self->following);
    dn_put_u32(p + 28, (uint32_t)one);
    p += 32;
    dn_s_save(self->now, p, one);
    p += one;
    for (int h = 1; h < self->spec.n; h++) {
        const hz_ring_t *r = &self->ring[h];
        dn_put_u32(p, (uint32_t)r->n);
        p += 4;
        for (int k = 0; k < r->n; k++) {
            int i = ring_index(r, k);
            dn_put_f64(p, r->at[i]);
            dn_s_save(r->snap[i], p + 8, one);
            p += 8 + one;
        }
    }
    return DN_OK;
}

int dn_hz_load(const void *buf, size_t len, dn_hz_t **out, dn_err_t *err)
{
    const unsigned char *p = buf, *end = p + len;
    dn_hz_t *self = NULL;
    dn_s_t *tmp = NULL;
    int rc;
    if (!buf || !out) {
        rc = dn_err_set(err, DN_EINVAL, "dn_hz_load: NULL argument");
        goto fail;
    }
    if (len < 16 || memcmp(p, HZ_MAGIC, 4) != 0) {
        rc = dn_err_set(err, DN_EFORMAT, "horizon state: %s", len < 16 ? "truncated header"
                                                                         : "bad magic");
        goto fail;
    }
    if (dn_get_u32(p + 4) != HZ_VERSION) {
        rc = dn_err_set(err, DN_EFORMAT, "horizon state: unsupported version %u",
                        (unsigned)dn_get_u32(p + 4));
        goto fail;
    }
    dn_hz_spec_t spec;
    memset(&spec, 0, sizeof spec);
    uint32_t n = dn_get_u32(p + 8);
    if (n < 1 || n > DN_HZ_MAX || (size_t)(end - p) < 16 + (size_t)n * 12 + 32) {
        rc = dn_err_set(err, DN_EFORMAT, "horizon state: %u horizons, or truncated", (unsigned)n);
        goto fail;
    }
    spec.n = (int)n;
    spec.resolution = (int)dn_get_u32(p + 12);
    p += 16;
    for (uint32_t h = 0; h < n; h++, p += 12) {
        uint32_t kind = dn_get_u32(p);
        spec.kind[h] = kind <= DN_HZ_SECONDS ? (dn_hz_kind_t)kind : DN_HZ_NOW;
        spec.lag[h] = dn_get_f64(p + 4);
        if (kind > DN_HZ_SECONDS) {
            rc = dn_err_set(err, DN_EFORMAT, "horizon state: horizon %u of kind %u", h,
                            (unsigned)kind);
            goto fail;
        }
    }
    dn_err_t why = {0};
    if (dn_hz_spec_check(&spec, &why)) {
        rc = dn_err_set(err, DN_EFORMAT, "horizon state: %s", why.msg);
        goto fail;
    }
    uint64_t position = dn_get_u64(p);
    double level = dn_get_f64(p + 8);
    uint64_t accepted = dn_get_u64(p + 16);
    uint32_t following = dn_get_u32(p + 24);
    size_t one = dn_get_u32(p + 28);
    p += 32;
    if (isinf(level)) {
        rc = dn_err_set(err, DN_EFORMAT, "horizon state: acceptance level %g", level);
        goto fail;
    }
    if ((size_t)(end - p) < one) {
        rc = dn_err_set(err, DN_EFORMAT, "horizon state: truncated current reference");
        goto fail;
    }
    if ((rc = dn_s_load(p, one, &tmp, err)))
        goto fail;
    p += one;
    if (!(self = dn_hz_new(&spec, dn_s_n_bins(tmp), dn_s_alpha(tmp)))) {
        rc = dn_err_set(err, DN_ENOMEM, "horizon state: out of memory");
        goto fail;
    }
    dn_s_copy(self->now, tmp);
    dn_s_destroy(&tmp);
    self->position = position;
    self->accept_level = level;
    self->n_accepted = accepted;
    self->following = following;
    if (following > 100) {
        rc = dn_err_set(err, DN_EFORMAT, "horizon state: following %u updates (at most 100)",
                        (unsigned)following);
        goto fail;
    }
    for (int h = 1; h < spec.n; h++) {
        hz_ring_t *r = &self->ring[h];
        if (end - p < 4) {
            rc = dn_err_set(err, DN_EFORMAT, "horizon state: truncated at horizon %d", h);
            goto fail;
        }
        uint32_t cnt = dn_get_u32(p);
        p += 4;
        if (cnt > (uint32_t)r->cap || (size_t)(end - p) < (size_t)cnt * (8 + one)) {
            rc = dn_err_set(err, DN_EFORMAT, "horizon state: horizon %d: %u snapshots (at most "
                            "%d), or truncated", h, (unsigned)cnt, r->cap);
            goto fail;
        }
        for (uint32_t k = 0; k < cnt; k++) {
            double at = dn_get_f64(p);
            if (!isfinite(at) || (k && !(at > r->at[k - 1])) ||
                (r->kind == DN_HZ_RUNS && !(at >= 0 && at < (double)position + 1))) {
                rc = dn_err_set(err, DN_EFORMAT, "horizon state: horizon %d: snapshot %u taken "
                                "at %g, out of order or range", h, (unsigned)k, at);
                goto fail;
            }
            if ((rc = dn_s_load(p + 8, one, &tmp, err)))
                goto fail;
            if (dn_s_copy(r->snap[k], tmp)) {
                rc = dn_err_set(err, DN_EFORMAT, "horizon state: horizon %d: a snapshot of %d "
                                "bins, the reference has %d", h, dn_s_n_bins(tmp),
                                self->n_bins);
                goto fail;
            }
            dn_s_destroy(&tmp);
            r->at[k] = at;
            p += 8 + one;
        }
        r->n = (int)cnt;
        r->head = 0;
    }
    if (p != end) {
        rc = dn_err_set(err, DN_EFORMAT, "horizon state: %zu bytes left over",
                        (size_t)(end - p));
        goto fail;
    }
    *out = self;
    return 0;
fail:
    dn_s_destroy(&tmp);
    dn_hz_destroy(&self);
    return rc;
}

/* ---- the verdict ----------------------------------------------------------------- */

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

int dn_hz_tune_thresholds(const double *score, const int8_t *label, int n, int n_hz,
                          int n_hist, uint64_t boot_seed, double budget, double *thr,
                          dn_err_t *err)
{
    if (n_hz < 1 || n_hz > DN_HZ_MAX || n_hist < 1 || n_hist > n || !(budget >= 0.0 &&
                                                                     budget < 1.0))
        return dn_err_set(err, DN_EINVAL, "horizon thresholds: %d horizons, %d of %d runs, "
                          "budget %g", n_hz, n_hist, n, budget);
    if (isnan(thr[0])) {
        int good = 0, bad = 0;
        for (int i = 0; i < n_hist; i++)
            if (!isnan(score[i]))
                good += label[i] == 0, bad += label[i] == 1;
        if (!good || !bad)
            return dn_err_set(err, DN_EINVAL, "the historical regime has no %s run with a "
                              "score", good ? "bad" : "good");
        dn_threshold_opts_t topts;
        dn_threshold_opts_default(&topts);
        topts.seed = boot_seed;
        int rc = dn_threshold_tune(score, label, n_hist, &topts, &thr[0], err);
        if (rc)
            return rc;
    }
    if (n_hz == 1)
        return 0;
    double *cand = malloc((size_t)n_hist * sizeof *cand);
    uint8_t *called = calloc((size_t)n_hist, 1);
    if (!cand || !called) {
        free(cand);
        free(called);
        return dn_err_set(err, DN_ENOMEM, "out of memory tuning horizon thresholds");
    }
    int n_good = 0;
    for (int i = 0; i < n_hist; i++)
        if (label[i] == 0 && !isnan(score[i])) {
            n_good++;
            called[i] = score[i] > thr[0];
        }
    int allowed = (int)floor(budget / (n_hz - 1) * n_good);
    for (int h = 1; h < n_hz; h++) {
        const double *s = score + (size_t)h * n;
        int m = 0;
        for (int i = 0; i < n_hist; i++)
            if (label[i] == 0 && !isnan(score[i]) && !called[i] && !isnan(s[i]))
                cand[m++] = s[i];
        thr[h] = NAN;
        if (m < DN_HZ_MIN_GOOD)
            continue;
        qsort(cand, (size_t)m, sizeof *cand, cmp_desc);
        /* at most `allowed` of them strictly above: the (allowed+1)-th largest */
        thr[h] = allowed < m ? cand[allowed] : nextafter(cand[m - 1], -INFINITY);
        if (thr[h] < thr[0]) /* never flag a smaller deviation than now would */
            thr[h] = thr[0];
        for (int i = 0; i < n_hist; i++)
            if (label[i] == 0 && !isnan(s[i]) && s[i] > thr[h])
                called[i] = 1;
    }
    free(cand);
    free(called);
    return 0;
}

double dn_hz_margin(const double *score, const double *thr, int n_hz, int *fired)
{
    double best = NAN;
    int at = -1;
    for (int h = 0; h < n_hz; h++) {
        double m = score[h] - thr[h];
        if (isnan(m))
            continue;
        if (at < 0 || m > best) {
            best = m;
            at = h;
        }
    }
    if (fired)
        *fired = at;
    return best;
}

int dn_hz_spec_from_names(const char *const *names, int n, dn_hz_spec_t *out, dn_err_t *err)
{
    if (n < 0 || n >= DN_HZ_MAX)
        return dn_err_set(err, DN_EINVAL, "%d lagged horizons, at most %d", n, DN_HZ_MAX - 1);
    char text[DN_HZ_MAX * (DN_HZ_NAME_MAX + 1)] = "";
    size_t len = 0;
    for (int h = 0; h < n; h++) {
        const char *name = names[h] ? names[h] : "";
        size_t nl = strlen(name);
        if (!nl || nl >= DN_HZ_NAME_MAX)
            return dn_err_set(err, DN_EINVAL, "horizon %d: name '%.*s' %s", h + 1,
                              DN_HZ_NAME_MAX, name, nl ? "too long" : "missing");
        if (nl > 1 && name[nl - 1] == 'r' && strspn(name, "0123456789") == nl - 1)
            nl--; /* "500r": 500 runs, as a list writes it */
        len += (size_t)snprintf(text + len, sizeof text - len, "%s%.*s", h ? "," : "",
                                (int)nl, name);
    }
    int rc = dn_hz_spec_parse(text, DN_HZ_RESOLUTION, out, err);
    if (rc)
        return rc;
    if (out->n != n + 1)
        return dn_err_set(err, DN_EINVAL, "horizons '%s' include now", text);
    for (int h = 1; h < out->n; h++) {
        char want[DN_HZ_NAME_MAX];
        dn_hz_name(out, h, want, sizeof want);
        if (strcmp(want, names[h - 1]))
            return dn_err_set(err, DN_EINVAL, "horizon %d is '%s' where the order (runs, then "
                              "seconds, each increasing) puts '%s'", h, names[h - 1], want);
    }
    return 0;
}
