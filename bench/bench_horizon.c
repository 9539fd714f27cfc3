/* bench_horizon.c: what scoring against several horizons costs per
 * histogram (lib/core/horizon.h), against the single reference measured in the
 * same run.
 *
 * Input: 5000 synthetic 100-bin runs (dn_generate, seed 70, SPEC 1 defaults).
 * Each configuration steps through all runs as the scorer does: dn_hz_score
 * (every horizon, snapshots taken when due), then dn_hz_update on good runs;
 * the baseline is the same loop with the bare dn_s_score + dn_s_update. With
 * pulls: each horizon's pulls and reference too (what scorer_s sends with
 * `pulls`). Figures are the median of several sweeps (the machine is shared);
 * the ratio to the baseline is what to read. Also the snapshot memory per key. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "dinamo_s.h"
#include "generator.h"
#include "horizon.h"

enum { SWEEPS = 7 };

static double sink;

/* ns per run of the bare tracker (score + update of good runs). */
static double time_bare(const dn_dataset_t *ds, int pulls, double *out)
{
    int n = ds->n_runs, nb = ds->n_bins;
    double t[SWEEPS];
    for (int s = 0; s < SWEEPS; s++) {
        dn_s_t *trk = dn_s_new(nb, 0.5);
        double t0 = bench_now();
        for (int i = 0; i < n; i++) {
            const double *x = ds->counts + (size_t)i * nb;
            double chi2;
            int rc = dn_s_score(trk, x, NULL, &chi2, pulls ? out : NULL,
                                pulls ? out + nb : NULL, pulls ? out + 2 * nb : NULL, NULL);
            if (rc == 0 && ds->label[i] == 0)
                dn_s_update(trk, x, NULL, NULL);
            sink += chi2;
        }
        t[s] = (bench_now() - t0) / n * 1e9;
        dn_s_destroy(&trk);
    }
    return bench_median_inplace(t, SWEEPS);
}

/* ns per run of the multi-horizon tracker; *bytes the checkpoint at the end. */
static double time_hz(const dn_dataset_t *ds, const char *list, int pulls, double *out,
                      size_t *bytes, int *snaps)
{
    int n = ds->n_runs, nb = ds->n_bins;
    dn_hz_spec_t spec;
    dn_err_t err = {0};
    if (dn_hz_spec_parse(list, DN_HZ_RESOLUTION, &spec, &err)) {
        fprintf(stderr, "bench_horizon: %s\n", err.msg);
        return NAN;
    }
    double t[SWEEPS];
    for (int s = 0; s < SWEEPS; s++) {
        dn_hz_t *hz = dn_hz_new(&spec, nb, 0.5);
        dn_hz_set_accept_level(hz, 2.0);
        dn_hz_out_t o = {0};
        for (int h = 0; pulls && h < spec.n; h++) {
            o.pulls[h] = out + (size_t)3 * h * nb;
            o.ref_mu[h] = out + (size_t)(3 * h + 1) * nb;
            o.ref_sigma[h] = out + (size_t)(3 * h + 2) * nb;
        }
        double t0 = bench_now();
        for (int i = 0; i < n; i++) {
            const double *x = ds->counts + (size_t)i * nb;
            int rc = dn_hz_score(hz, x, NULL, NAN, &o, NULL);
            if (rc == 0 && ds->label[i] == 0)
                dn_hz_update(hz, x, NULL, NULL);
            sink += o.chi2[0];
        }
        t[s] = (bench_now() - t0) / n * 1e9;
        *bytes = dn_hz_state_size(hz);
        *snaps = dn_hz_snapshot_count(hz);
        dn_hz_destroy(&hz);
    }
    return bench_median_inplace(t, SWEEPS);
}

int main(void)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    if (dn_generate(&p, 70, &ds, &err)) {
        fprintf(stderr, "bench_horizon: %s\n", err.msg);
        return 1;
    }
    double *out = malloc((size_t)3 * DN_HZ_MAX * ds->n_bins * sizeof *out);
    if (!out)
        return 1;
    static const char *const lists[] = {"now", "200", "100,500", "50,200,1000",
                                        "10,50,100,500,1000,2000,4000"};
    printf("horizons: %d runs x %d bins (seed 70), median of %d sweeps; per run: score "
           "against every horizon, then learn good runs\n", ds->n_runs, ds->n_bins, SWEEPS);
    for (int pulls = 0; pulls < 2; pulls++) {
        double base = time_bare(ds, pulls, out);
        printf("%s: bare dn_s_score + dn_s_update %.0f ns/run (the baseline)\n",
               pulls ? "with pulls and references" : "chi2 only", base);
        for (size_t k = 0; k < sizeof lists / sizeof *lists; k++) {
            size_t bytes = 0;
            int snaps = 0;
            double ns = time_hz(ds, lists[k], pulls, out, &bytes, &snaps);
            printf("  horizons %-28s %7.0f ns/run  %5.2fx the baseline; %2d snapshots, "
                   "checkpoint %6.1f KB per key\n", lists[k], ns, ns / base, snaps,
                   bytes / 1024.0);
        }
    }
    if (sink == 0.123)
        printf("(sink)\n");
    free(out);
    dn_dataset_destroy(&ds);
    return 0;
}
