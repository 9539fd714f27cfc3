/* bench_dinamo_ml.c: the DINAMO-ML tracker at the paper's defaults (N_b 100, d 100,
 * 10 heads, 3 layers, ff 100, M 20, K 10, patience 5), one core, on the first
 * runs of a default generator dataset (seed 1).
 *
 * Measures, per run of the sequence: the eval-mode score (context + inference +
 * chi2) and, for good runs, the update (batch build + training until early stop).
 * Reports inference per run, training steps per good run (median), time per good
 * run update (median) and per training step.
 *
 * Baseline, same process: the last BASE_RUNS updates are replayed twice,
 * interleaved: by the tracker restored from a checkpoint taken before them (it
 * retakes the same steps bit for bit), and by a second model taking the same
 * number of steps with histogram sharing disabled (every token of the K contexts
 * its own x_emb row, U = K*M, as a straightforward batching does).
 * The comparison with PyTorch is bench_torch's, measured in its own run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "blas_setup.h"
#include "dataset.h"
#include "dinamo_ml.h"
#include "generator.h"
#include "histo.h"

#define N_RUNS 300
#define BASE_RUNS 30

/* Median of t[0..n) (sorts a copy). */
static double median(const double *t, int n)
{
    double *c = malloc(sizeof(double) * n);
    memcpy(c, t, sizeof(double) * n);
    qsort(c, n, sizeof *c, bench_cmp_double);
    double m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
}

/* The unshared batch of the update that learned good run number g (0-based in
 * the list of good runs `good`, histograms of the dataset): the K newest good
 * runs up to g, each with its own copy of its M predecessors' rows. */
static void unshared_batch(float *hist, float *target, int32_t *tok, float *times,
                           dn_mlbatch_t *b, const dn_dataset_t *ds, const int *good,
                           int g, int K, int M)
{
    const int nb = ds->n_bins;
    int kb = g + 1 < K ? g + 1 : K, first = g + 1 - kb, U = 0;
    double xt[1024], sx2[1024];
    for (int k = 0; k < kb; k++) {
        int q = first + k;
        dn_hist_normalise(xt, sx2, dn_dataset_row(ds, good[q]), NULL, nb);
        for (int j = 0; j < nb; j++)
            target[(size_t)k * nb + j] = (float)xt[j];
        for (int t = 0; t < M; t++) {
            int p = q - M + t;
            float *row = hist + (size_t)U * nb;
            if (p < 0) {
                for (int j = 0; j < nb; j++)
                    row[j] = DN_ML_PAD_VALUE;
                times[k * M + t] = DN_ML_PAD_TIME;
            } else {
                dn_hist_normalise(xt, sx2, dn_dataset_row(ds, good[p]), NULL, nb);
                for (int j = 0; j < nb; j++)
                    row[j] = (float)xt[j];
                times[k * M + t] = (float)(good[p] - good[q]);
            }
            tok[k * M + t] = U++;
        }
    }
    *b = (dn_mlbatch_t){.n_hist = U, .batch = kb, .hist = hist, .tok_index = tok,
                        .tok_time = times, .target = target};
}

int main(int argc, char **argv)
{
    dn_blas_init(argc, argv, 1);
    dn_err_t err;
    dn_gen_params_t gp;
    dn_gen_params_default(&gp);
    dn_dataset_t *ds = NULL;
    if (dn_generate(&gp, 1, &ds, &err)) {
        fprintf(stderr, "generate: %s\n", err.msg);
        return 1;
    }
    const int n = N_RUNS < ds->n_runs ? N_RUNS : ds->n_runs, nb = ds->n_bins;
    dn_ml_opts_t o;
    dn_ml_opts_default(&o);
    o.model.n_bins = nb;
    o.seed = 1;
    dn_ml_t *ml = dn_ml_new(&o);
    if (!ml) {
        fprintf(stderr, "dn_ml_new failed\n");
        return 1;
    }
    const int K = o.batch_runs, M = o.model.context;
    printf("DINAMO-ML tracker: %zu parameters, N_b %d, M %d, K %d, patience %d; "
           "first %d runs of generator dataset seed 1\n",
           dn_mlmodel_num_params(dn_ml_model(ml)), nb, M, K, o.patience, n);

    double *t_score = malloc(sizeof(double) * n), *t_learn = malloc(sizeof(double) * n),
           *t_step = malloc(sizeof(double) * n), *steps_d = malloc(sizeof(double) * n);
    int *good = malloc(sizeof(int) * n), *steps = malloc(sizeof(int) * n);
    int n_good = 0, total_steps = 0, n_bad_scored = 0, good_total = 0;
    for (int i = 0; i < n; i++) {
        double xt[1024], sx2[1024];
        good_total += ds->label[i] == 0 &&
                      dn_hist_normalise(xt, sx2, dn_dataset_row(ds, i), NULL, nb) > DN_EPS;
    }
    const int nbase = good_total < BASE_RUNS ? good_total : BASE_RUNS;
    unsigned char *ckpt = NULL;
    size_t ckpt_size = 0;
    double sum_good = 0, sum_bad = 0;
    double t0_all = bench_now();
    for (int i = 0; i < n; i++) {
        const double *x = dn_dataset_row(ds, i);
        double chi2;
        double t0 = bench_now();
        int rc = dn_ml_score(ml, i, x, NULL, &chi2, NULL, NULL, NULL, &err);
        t_score[i] = bench_now() - t0;
        if (rc && rc != DN_EEMPTY) {
            fprintf(stderr, "run %d: %s\n", i, err.msg);
            return 1;
        }
        if (rc || ds->label[i] != 0) {
            if (!rc && i >= 50) {
                sum_bad += dn_score_from_chi2(chi2, nb);
                n_bad_scored++;
            }
            continue;
        }
        if (i >= 50)
            sum_good += dn_score_from_chi2(chi2, nb);
        if (n_good == good_total - nbase) { /* the baseline window starts here */
            ckpt_size = dn_ml_state_size(ml);
            ckpt = malloc(ckpt_size);
            if (!ckpt || dn_ml_save(ml, ckpt, ckpt_size)) {
                fprintf(stderr, "checkpoint failed\n");
                return 1;
            }
        }
        int s;
        t0 = bench_now();
        rc = dn_ml_learn(ml, i, x, NULL, &s, NULL, &err);
        double dt = bench_now() - t0;
        if (rc) {
            fprintf(stderr, "run %d: %s\n", i, err.msg);
            return 1;
        }
        good[n_good] = i;
        steps[n_good] = s;
        steps_d[n_good] = s;
        t_learn[n_good] = dt;
        t_step[n_good] = dt / s;
        total_steps += s;
        n_good++;
    }
    double t_all = bench_now() - t0_all;
    int n_good_scored = 0;
    for (int g = 0; g < n_good; g++)
        n_good_scored += good[g] >= 50;

    /* Baseline: the last nbase updates again, interleaved (alternating order) so
     * that load changes hit both alike: the tracker restored from its checkpoint
     * (which retakes exactly the same steps), and a second model taking the same
     * number of steps on the same batches without sharing. */
    dn_ml_t *again = NULL;
    if (!ckpt || dn_ml_load(ckpt, ckpt_size, &again, &err)) {
        fprintf(stderr, "restore failed: %s\n", err.msg);
        return 1;
    }
    dn_mlconfig_t cu = *dn_mlmodel_config(dn_ml_model(again));
    cu.max_hist = K * M;
    dn_mlmodel_t *base = dn_mlmodel_new(&cu, 1);
    memcpy(dn_mlmodel_params(base), dn_mlmodel_params(dn_ml_model(again)),
           sizeof(float) * dn_mlmodel_num_params(base));
    float *hist = malloc(sizeof(float) * K * M * nb), *target = malloc(sizeof(float) * K * nb),
          *times = malloc(sizeof(float) * K * M);
    int32_t *tok = malloc(sizeof(int32_t) * K * M);
    double *t_base = malloc(sizeof(double) * nbase), *t_mine = malloc(sizeof(double) * nbase);
    for (int r = 0; r < nbase; r++) {
        int g = n_good - nbase + r;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == r % 2) {
                int s;
                double t0 = bench_now();
                int rc = dn_ml_learn(again, good[g], dn_dataset_row(ds, good[g]), NULL, &s,
                                     NULL, &err);
                t_mine[r] = bench_now() - t0;
                if (rc || s != steps[g]) {
                    fprintf(stderr, "restored tracker: rc %d, %d steps instead of %d\n", rc,
                            s, steps[g]);
                    return 1;
                }
            } else {
                dn_mlbatch_t b;
                double t0 = bench_now();
                unshared_batch(hist, target, tok, times, &b, ds, good, g, K, M);
                for (int s = 0; s < steps[g]; s++)
                    if (dn_mlmodel_train_step(base, &b, NULL)) {
                        fprintf(stderr, "baseline step failed\n");
                        return 1;
                    }
                t_base[r] = bench_now() - t0;
            }
        }
    }

    /* inference in a tight loop (caches warm, no training in between) */
    double *t_warm = malloc(sizeof(double) * 500);
    for (int r = 0; r < 500; r++) {
        double chi2, t0 = bench_now();
        dn_ml_score(ml, n, dn_dataset_row(ds, n - 1), NULL, &chi2, NULL, NULL, NULL, NULL);
        t_warm[r] = bench_now() - t0;
    }
    double med_warm = median(t_warm, 500);
    free(t_warm);

    double med_steps = median(steps_d, n_good);
    double med_learn = median(t_learn, n_good), med_step = median(t_step, n_good);
    double med_score = median(t_score, n);
    printf("runs %d (good %d), whole sequence %.2f s\n", n, n_good, t_all);
    printf("inference per run (score)        %8.1f us (median in the sequence; %.1f us "
           "back to back)\n", med_score * 1e6, med_warm * 1e6);
    printf("training steps per good run      %8.1f median, %.1f mean\n", med_steps,
           (double)total_steps / n_good);
    printf("update per good run              %8.2f ms (median)\n", med_learn * 1e3);
    printf("per training step                %8.3f ms (median of update/steps)\n",
           med_step * 1e3);
    double mb = median(t_base, nbase), mm = median(t_mine, nbase);
    printf("last %d updates replayed interleaved: tracker (restored) %.2f ms, baseline "
           "without sharing (U=%d, same steps) %.2f ms -> %.2fx\n", nbase, mm * 1e3, K * M,
           mb * 1e3, mb / mm);
    printf("mean score runs >= 50: good %.3f, bad %.3f (%d/%d runs)\n",
           sum_good / n_good_scored, sum_bad / n_bad_scored, n_good_scored, n_bad_scored);

    free(t_score);
    free(t_learn);
    free(t_step);
    free(steps_d);
    free(good);
    free(steps);
    free(hist);
    free(target);
    free(times);
    free(tok);
    free(t_base);
    free(t_mine);
    dn_mlmodel_destroy(&base);
    dn_ml_destroy(&again);
    free(ckpt);
    dn_ml_destroy(&ml);
    dn_dataset_destroy(&ds);
    return 0;
}
