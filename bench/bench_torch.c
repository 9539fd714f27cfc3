/* bench_torch.c: DINAMO-ML against PyTorch, side by side in one run.
 *
 * Our model (mlmodel.h, public API only, so it measures whatever the kernels
 * are) and the same architecture in PyTorch (tools/bench_torch.py, which
 * imports tools/make_fixtures.py's DinamoML and the SPEC 3 exchange order from
 * there) at the SPEC 3 defaults (K 10, M 20, 100 bins, dropout 0.15, AdamW lr
 * 5e-4), from the SAME initial weights (written in the exchange format) on the
 * SAME batch (written to a file), one thread each. PyTorch runs as a child
 * process of this program (Debian's python3-torch through /usr/bin/python3) on
 * a pair of pipes: this program asks it for one measurement at a time and
 * makes the same one itself in between, so drift of the shared machine hits
 * both sides alike, and only one side runs at any moment.
 *
 * Measured, medians of repeated timings after a warm-up:
 *   - one training step: forward + Gaussian NLL + backward + AdamW, dropout on;
 *   - one good-run update: steps on that batch until the loss has failed to
 *     improve on its best for `patience` (5) consecutive steps, at most
 *     max_steps (1000), as SPEC 3 trains on a good run; every update starts from
 *     the initial weights with a fresh AdamW, so the updates are alike and the
 *     two sides differ only in their dropout draws (and so in the steps they
 *     take: both are printed, and the time per step inside the updates). From
 *     fresh weights an update takes a few hundred steps, where a tracker that
 *     has learned for a while takes tens: the first update of a key. The two
 *     updates go in turn a few steps at a time;
 *   - inference of one context in eval mode.
 * Printed: each side's figures, "PyTorch / ours" ratios, and the BLAS each side
 * ran (ours: the product backend of smm.h and OpenBLAS's core; PyTorch's: what
 * its process loaded).
 *
 * BLAS: Debian's torch does its float32 products through libblas.so.3, which is
 * Debian's OpenBLAS, the library of our "blas" backend, so OPENBLAS_CORETYPE
 * picks its kernels. The child gets OPENBLAS_CORETYPE as the user gave it
 * (dn_blas_init sets it for us alone when it was unset, so with nothing set
 * PyTorch runs OpenBLAS's own detection, as it would for that user) and one
 * BLAS thread.
 *
 * Before any timing, both sides take training steps with dropout 0 from the
 * initial weights: the first step's loss must agree to 1e-4 relative, or the
 * program fails (the comparison would not be of the same computation).
 * Without /usr/bin/python3 or without torch in it, one line says the comparison
 * is skipped and why, and the program exits 0. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "blas_setup.h"
#include "mlmodel.h"
#include "rng.h"
#include "smm.h"

#define PYTHON "/usr/bin/python3"
#define USER_CORETYPE "DINAMO_BENCH_TORCH_CORETYPE" /* the user's, "" for unset */
#define LOSS_RTOL 1e-4
#define CHECK_STEPS 3
#define WARM_STEPS 20
/* Short rounds in turn, so that the shared machine's load (which changes on the
 * scale of a second here) hits both sides alike; not single steps, so that
 * each side runs with its own data in the caches, as it would alone. */
#define STEP_ROUNDS 15
#define STEPS_PER_ROUND 10
#define UPDATE_ROUNDS 3
#define INFER_ROUNDS 10
#define INFERS_PER_ROUND 90

/* ---- the batch ---------------------------------------------------------- */

/* K contexts of the K most recent of R good runs, each over its M predecessors
 * (padded on the old side), the runs' indices with gaps of 1..3 as a real
 * good-run set has; U = R + 1 distinct rows, the padding row last. */
typedef struct {
    int U, B, M, nb;
    float *hist, *target, *time;
    int32_t *idx;
    dn_mlbatch_t b;
} batch_t;

static int batch_make(batch_t *p, int B, int M, int nb, uint64_t seed)
{
    int R = B + M - 2;
    dn_rng_t rng;
    dn_rng_seed(&rng, seed);
    memset(p, 0, sizeof *p);
    p->B = B;
    p->M = M;
    p->nb = nb;
    p->U = R + 1;
    p->hist = malloc(sizeof(float) * p->U * nb);
    p->target = malloc(sizeof(float) * B * nb);
    p->time = malloc(sizeof(float) * B * M);
    p->idx = malloc(sizeof(int32_t) * B * M);
    long *run_index = malloc(sizeof(long) * R);
    if (!p->hist || !p->target || !p->time || !p->idx || !run_index) {
        free(run_index);
        return -1;
    }
    long at = 0;
    for (int r = 0; r < R; r++) {
        run_index[r] = at += 1 + (long)(3 * dn_rng_uniform(&rng));
        double s = 0;
        float *row = p->hist + (size_t)r * nb;
        for (int k = 0; k < nb; k++)
            s += row[k] = (float)(0.05 + dn_rng_uniform(&rng));
        for (int k = 0; k < nb; k++)
            row[k] = (float)(row[k] / s);
    }
    for (int k = 0; k < nb; k++)
        p->hist[(size_t)R * nb + k] = DN_ML_PAD_VALUE;
    for (int b = 0; b < B; b++) {
        int r = R - B + b; /* the predicted run */
        memcpy(p->target + (size_t)b * nb, p->hist + (size_t)r * nb, sizeof(float) * nb);
        for (int g = 0; g < M; g++) {
            int c = r - M + g, i = b * M + g;
            p->idx[i] = c < 0 ? R : c;
            p->time[i] = c < 0 ? DN_ML_PAD_TIME : (float)(run_index[c] - run_index[r]);
        }
    }
    free(run_index);
    p->b = (dn_mlbatch_t){.n_hist = p->U, .batch = B, .hist = p->hist,
                          .tok_index = p->idx, .tok_time = p->time,
                          .target = p->target};
    return 0;
}

static void batch_free(batch_t *p)
{
    free(p->hist);
    free(p->target);
    free(p->time);
    free(p->idx);
}

/* The batch file tools/bench_torch.py reads (its docstring has the layout). */
static int batch_write(const char *path, const batch_t *p, const dn_mlconfig_t *c,
                       int patience, int max_steps)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int32_t ints[11] = {c->n_bins, c->d_model, c->n_heads, c->n_layers, c->d_ff,
                        c->context, p->B, p->U, c->activation, patience, max_steps};
    float opt[6] = {c->dropout, c->lr, c->beta1, c->beta2, c->eps, c->weight_decay};
    int ok = fwrite("DNTB0001", 1, 8, f) == 8 && fwrite(ints, 4, 11, f) == 11 &&
             fwrite(opt, 4, 6, f) == 6 &&
             fwrite(p->hist, 4, (size_t)p->U * p->nb, f) == (size_t)p->U * p->nb &&
             fwrite(p->idx, 4, (size_t)p->B * p->M, f) == (size_t)p->B * p->M &&
             fwrite(p->time, 4, (size_t)p->B * p->M, f) == (size_t)p->B * p->M &&
             fwrite(p->target, 4, (size_t)p->B * p->nb, f) == (size_t)p->B * p->nb;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int file_write(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(buf, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* ---- the PyTorch child --------------------------------------------------- */

typedef struct {
    pid_t pid;
    FILE *to, *from;
    char *line;
    size_t cap;
} torch_t;

/* Starts /usr/bin/python3 script weights batch on two pipes. 0 or -1. */
static int torch_start(torch_t *t, const char *script, const char *weights,
                       const char *batch)
{
    int in[2], out[2];
    memset(t, 0, sizeof *t);
    if (pipe(in) || pipe(out))
        return -1;
    t->pid = fork();
    if (t->pid < 0)
        return -1;
    if (t->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        /* one BLAS thread, as our side (dn_blas_init only sets it in the
         * environment when it re-executes); the core type as the user set it */
        setenv("OPENBLAS_NUM_THREADS", getenv("OPENBLAS_NUM_THREADS") ?
               getenv("OPENBLAS_NUM_THREADS") : "1", 1);
        setenv("OMP_NUM_THREADS", "1", 1);
        const char *core = getenv(USER_CORETYPE);
        if (core && *core)
            setenv("OPENBLAS_CORETYPE", core, 1);
        else
            unsetenv("OPENBLAS_CORETYPE");
        unsetenv(USER_CORETYPE);
        execl(PYTHON, PYTHON, script, weights, batch, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", PYTHON, strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    t->to = fdopen(in[1], "w");
    t->from = fdopen(out[0], "r");
    return t->to && t->from ? 0 : -1;
}

/* Reads one reply line; returns it (owned by t) or NULL at end of file. */
static const char *torch_read(torch_t *t)
{
    ssize_t n = getline(&t->line, &t->cap, t->from);
    if (n <= 0)
        return NULL;
    if (t->line[n - 1] == '\n')
        t->line[n - 1] = '\0';
    return t->line;
}

/* Sends "cmd n", reads the reply "cmd v1 v2 ..." into *vals (malloc'ed, caller
 * frees) and returns the count, or -1 with the reason printed. */
static int torch_ask(torch_t *t, const char *cmd, int n, double **vals)
{
    *vals = NULL;
    if (fprintf(t->to, "%s %d\n", cmd, n) < 0 || fflush(t->to)) {
        fprintf(stderr, "bench_torch: PyTorch side gone (writing '%s')\n", cmd);
        return -1;
    }
    const char *l = torch_read(t);
    size_t cl = strlen(cmd);
    if (!l || strncmp(l, cmd, cl) || (l[cl] != ' ' && l[cl] != '\0')) {
        fprintf(stderr, "bench_torch: PyTorch side answered '%s' with: %s\n", cmd,
                l ? l : "(nothing: it exited)");
        return -1;
    }
    int cnt = 0, cap = 64;
    double *v = malloc(sizeof(double) * cap);
    const char *s = l + cl;
    for (;;) {
        char *end;
        double x = strtod(s, &end);
        if (end == s)
            break;
        if (cnt == cap)
            v = realloc(v, sizeof(double) * (cap *= 2));
        v[cnt++] = x;
        s = end;
    }
    *vals = v;
    return cnt;
}

/* Closes the pipes and waits; returns the child's exit status (-1 if killed). */
static int torch_stop(torch_t *t)
{
    if (t->to) {
        fputs("quit\n", t->to);
        fclose(t->to);
    }
    if (t->from)
        fclose(t->from);
    free(t->line);
    int st = 0;
    if (t->pid > 0 && waitpid(t->pid, &st, 0) == t->pid)
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return -1;
}

/* ---- our side ----------------------------------------------------------- */

/* The temporary files, removed at exit whichever way the program ends. */
static char tmp_dir[] = "/tmp/dinamo-bench-torch-XXXXXX", tmp_weights[64], tmp_batch[64];

static void tmp_remove(void)
{
    if (tmp_weights[0])
        unlink(tmp_weights);
    if (tmp_batch[0])
        unlink(tmp_batch);
    rmdir(tmp_dir);
}

static void die(const char *what)
{
    fprintf(stderr, "bench_torch: %s\n", what);
    exit(1);
}

static void our_steps(dn_mlmodel_t *m, const dn_mlbatch_t *b, int n, double *t)
{
    for (int i = 0; i < n; i++) {
        double t0 = bench_now();
        if (dn_mlmodel_train_step(m, b, NULL))
            die("our training step failed");
        t[i] = bench_now() - t0;
    }
}

/* One good-run update from the initial weights w0 with a fresh AdamW, as the
 * tracker trains (dinamo_ml.c: dn_ml_learn's stopping rule), taken a few steps
 * at a time (update_run) so that it can go in turn with PyTorch's. */
typedef struct {
    float best;
    int since, steps, done;
    double secs;
} update_t;

static void update_begin(update_t *u, dn_mlmodel_t *m, const void *w0, size_t w0_len)
{
    dn_err_t err;
    if (dn_mlmodel_import_raw(m, w0, w0_len, &err))
        die(err.msg);
    dn_mlmodel_reset_optimizer(m);
    *u = (update_t){.best = INFINITY};
}

static void update_run(update_t *u, dn_mlmodel_t *m, const dn_mlbatch_t *b, int n,
                       int patience, int max_steps)
{
    double t0 = bench_now();
    for (int k = 0; k < n && !u->done; k++) {
        float loss;
        if (dn_mlmodel_train_step(m, b, &loss))
            die("our training step failed");
        u->steps++;
        if (loss < u->best) {
            u->best = loss;
            u->since = 0;
        } else {
            u->since++;
        }
        u->done = u->since >= patience || u->steps >= max_steps;
    }
    u->secs += bench_now() - t0;
}

static double median(const double *t, int n)
{
    double *c = malloc(sizeof(double) * n);
    memcpy(c, t, sizeof(double) * n);
    double m = bench_median_inplace(c, n);
    free(c);
    return m;
}

/* Lowest and highest ratio torch/ours of the rounds' medians (n per round). */
static void round_ratios(const double *ours, const double *torch, int rounds, int n,
                         double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = 0;
    for (int r = 0; r < rounds; r++) {
        double q = median(torch + r * n, n) / median(ours + r * n, n);
        *lo = q < *lo ? q : *lo;
        *hi = q > *hi ? q : *hi;
    }
}

/* Directory of the repository: two levels above this program (BUILD/bench/). */
static int repo_path(char *out, size_t cap, const char *rel)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash)
            return -1;
        *slash = '\0';
    }
    return snprintf(out, cap, "%s/%s", exe, rel) < (int)cap ? 0 : -1;
}

int main(int argc, char **argv)
{
    /* PyTorch gets OPENBLAS_CORETYPE as the user gave it (set or not), not as
     * dn_blas_init sets it for us: the comparison is then of what each side
     * runs with when nothing is set. Kept across dn_blas_init's re-exec. */
    if (!getenv(USER_CORETYPE))
        setenv(USER_CORETYPE, getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "",
               1);
    dn_blas_init(argc, argv, 1);
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines as they come: the run takes a minute */
    signal(SIGPIPE, SIG_IGN);
    if (access(PYTHON, X_OK)) {
        printf("PyTorch comparison skipped: no %s here (Debian's python3-torch "
               "provides it and torch)\n", PYTHON);
        return 0;
    }
    char script[4200];
    if (repo_path(script, sizeof script, "tools/bench_torch.py") || access(script, R_OK))
        die("tools/bench_torch.py not found next to this program's build directory");

    dn_mlconfig_t cfg;
    dn_mlconfig_default(&cfg);
    const int patience = 5, max_steps = 1000; /* SPEC 3, as dn_ml_opts_default */
    dn_mlmodel_t *m = dn_mlmodel_new(&cfg, 1);
    dn_mlconfig_t cfg0 = cfg;
    cfg0.dropout = 0.0f;
    dn_mlmodel_t *m0 = dn_mlmodel_new(&cfg0, 1);
    batch_t bt;
    if (!m || !m0 || batch_make(&bt, cfg.max_batch, cfg.context, cfg.n_bins, 3))
        die("model or batch allocation failed");
    size_t wlen = dn_mlmodel_raw_size(m);
    void *w0 = malloc(wlen);
    if (!w0 || dn_mlmodel_export_raw(m, w0, wlen))
        die("exporting the initial weights failed");

    if (!mkdtemp(tmp_dir))
        die("mkdtemp failed");
    atexit(tmp_remove);
    const char *wpath = tmp_weights, *bpath = tmp_batch;
    snprintf(tmp_weights, sizeof tmp_weights, "%s/weights.f32", tmp_dir);
    snprintf(tmp_batch, sizeof tmp_batch, "%s/batch.bin", tmp_dir);
    if (file_write(wpath, w0, wlen) || batch_write(bpath, &bt, &cfg, patience, max_steps))
        die("writing the weights or the batch failed");

    torch_t tc;
    int rc = 1;
    double *v = NULL;
    if (torch_start(&tc, script, wpath, bpath))
        die("starting " PYTHON " failed");
    const char *first = torch_read(&tc);
    if (!first || strncmp(first, "ready", 5)) {
        if (first && !strncmp(first, "skip ", 5)) {
            printf("PyTorch comparison skipped: %s\n", first + 5);
            rc = 0;
        } else {
            fprintf(stderr, "bench_torch: PyTorch side did not start: %s\n",
                    first ? first : "(no output)");
        }
        goto out;
    }
    printf("DINAMO-ML against PyTorch, same weights and batch: %zu parameters, K=%d, "
           "M=%d, %d bins, U=%d shared histograms, dropout %.2f, one thread each\n",
           dn_mlmodel_num_params(m), bt.B, bt.M, bt.nb, bt.U, cfg.dropout);
    printf("  ours:    products %s; OpenBLAS core %s (OPENBLAS_CORETYPE=%s)\n",
           dn_smm_backend(), dn_blas_corename(),
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "unset");
    if (fprintf(tc.to, "info\n") < 0 || fflush(tc.to))
        goto out;
    const char *info = torch_read(&tc);
    if (!info || strncmp(info, "info ", 5)) {
        fprintf(stderr, "bench_torch: PyTorch side answered 'info' with: %s\n",
                info ? info : "(nothing: it exited)");
        goto out;
    }
    printf("  PyTorch: %s\n", info + 5);

    /* the same computation: losses of the first steps with dropout 0 */
    {
        dn_err_t err;
        if (dn_mlmodel_import_raw(m0, w0, wlen, &err))
            die(err.msg);
        if (torch_ask(&tc, "check", CHECK_STEPS, &v) != CHECK_STEPS)
            goto out;
        int bad = 0;
        for (int s = 0; s < CHECK_STEPS; s++) {
            float loss;
            if (dn_mlmodel_train_step(m0, &bt.b, &loss))
                die("our training step failed");
            double d = fabs(loss - v[s]) / fmax(fabs(loss), fabs(v[s]));
            printf("  same computation, dropout 0, step %d loss: ours %.7f, PyTorch %.7f, "
                   "relative difference %.1e%s\n", s + 1, loss, v[s], d,
                   s == 0 ? (d <= LOSS_RTOL ? " (limit 1e-04)" : " > 1e-04: NOT THE SAME")
                          : " (after AdamW steps, float32 both sides)");
            if (s == 0 && !(d <= LOSS_RTOL))
                bad = 1;
        }
        free(v);
        v = NULL;
        if (bad) {
            fprintf(stderr, "bench_torch: the first step's loss differs by more than "
                    "1e-4 relative between our model and PyTorch's: the two sides do not "
                    "compute the same thing, so no ratio is printed\n");
            goto out;
        }
    }

    /* training steps, dropout on: warm up both, then rounds in turn */
    double ts_ours[STEP_ROUNDS * STEPS_PER_ROUND], ts_torch[STEP_ROUNDS * STEPS_PER_ROUND];
    {
        double warm[WARM_STEPS];
        our_steps(m, &bt.b, WARM_STEPS, warm);
        if (torch_ask(&tc, "step", WARM_STEPS, &v) != WARM_STEPS)
            goto out;
        free(v);
        for (int r = 0; r < STEP_ROUNDS; r++) {
            our_steps(m, &bt.b, STEPS_PER_ROUND, ts_ours + r * STEPS_PER_ROUND);
            if (torch_ask(&tc, "step", STEPS_PER_ROUND, &v) != STEPS_PER_ROUND)
                goto out;
            memcpy(ts_torch + r * STEPS_PER_ROUND, v, sizeof(double) * STEPS_PER_ROUND);
            free(v);
            v = NULL;
        }
    }
    const int nst = STEP_ROUNDS * STEPS_PER_ROUND;
    double step_o = median(ts_ours, nst), step_t = median(ts_torch, nst);

    /* good-run updates, one each side in turn */
    double up_o[UPDATE_ROUNDS], up_t[UPDATE_ROUNDS], sp_o[UPDATE_ROUNDS],
        sp_t[UPDATE_ROUNDS], per_o[UPDATE_ROUNDS], per_t[UPDATE_ROUNDS];
    for (int r = 0; r < UPDATE_ROUNDS; r++) {
        update_t uo, ut = {0};
        update_begin(&uo, m, w0, wlen);
        if (torch_ask(&tc, "ubegin", 0, &v) != 0)
            goto out;
        free(v);
        v = NULL;
        while (!uo.done || !ut.done) {
            if (!uo.done)
                update_run(&uo, m, &bt.b, STEPS_PER_ROUND, patience, max_steps);
            if (!ut.done) {
                if (torch_ask(&tc, "urun", STEPS_PER_ROUND, &v) != 3)
                    goto out;
                ut.secs += v[0];
                ut.steps += (int)v[1];
                ut.done = v[2] != 0;
                free(v);
                v = NULL;
            }
        }
        up_o[r] = uo.secs;
        sp_o[r] = uo.steps;
        up_t[r] = ut.secs;
        sp_t[r] = ut.steps;
        per_o[r] = up_o[r] / sp_o[r];
        per_t[r] = up_t[r] / sp_t[r];
    }
    double upd_o = median(up_o, UPDATE_ROUNDS), upd_t = median(up_t, UPDATE_ROUNDS);

    /* inference of the batch's last context, eval mode */
    double ti_ours[INFER_ROUNDS * INFERS_PER_ROUND],
        ti_torch[INFER_ROUNDS * INFERS_PER_ROUND];
    {
        const int M = bt.M, nb = bt.nb, last = (bt.B - 1) * M;
        float *ctx = malloc(sizeof(float) * M * nb), *mu = malloc(sizeof(float) * nb),
              *sg = malloc(sizeof(float) * nb);
        if (!ctx || !mu || !sg)
            die("allocation failed");
        for (int g = 0; g < M; g++)
            memcpy(ctx + g * nb, bt.hist + (size_t)bt.idx[last + g] * nb,
                   sizeof(float) * nb);
        for (int i = 0; i < 50; i++)
            dn_mlmodel_predict(m, ctx, bt.time + last, mu, sg);
        if (torch_ask(&tc, "infer", 50, &v) != 50)
            goto out;
        free(v);
        v = NULL;
        for (int r = 0; r < INFER_ROUNDS; r++) {
            double *t = ti_ours + r * INFERS_PER_ROUND;
            for (int i = 0; i < INFERS_PER_ROUND; i++) {
                double t0 = bench_now();
                if (dn_mlmodel_predict(m, ctx, bt.time + last, mu, sg))
                    die("our inference failed");
                t[i] = bench_now() - t0;
            }
            if (torch_ask(&tc, "infer", INFERS_PER_ROUND, &v) != INFERS_PER_ROUND)
                goto out;
            memcpy(ti_torch + r * INFERS_PER_ROUND, v, sizeof(double) * INFERS_PER_ROUND);
            free(v);
            v = NULL;
        }
        free(ctx);
        free(mu);
        free(sg);
    }
    const int nin = INFER_ROUNDS * INFERS_PER_ROUND;
    double inf_o = median(ti_ours, nin), inf_t = median(ti_torch, nin);

    double slo, shi, ilo, ihi;
    round_ratios(ts_ours, ts_torch, STEP_ROUNDS, STEPS_PER_ROUND, &slo, &shi);
    round_ratios(ti_ours, ti_torch, INFER_ROUNDS, INFERS_PER_ROUND, &ilo, &ihi);
    printf("                                     ours       PyTorch   PyTorch/ours\n");
    printf("training step (fwd+NLL+bwd+AdamW) %8.3f ms %9.3f ms %8.2fx   (medians of %d; "
           "%d rounds in turn: %.2f-%.2fx)\n", step_o * 1e3, step_t * 1e3, step_t / step_o,
           nst, STEP_ROUNDS, slo, shi);
    printf("good-run update (from the start) %8.1f ms %9.1f ms %8.2fx   (medians of %d, "
           "%d steps at a time in turn)\n", upd_o * 1e3, upd_t * 1e3, upd_t / upd_o, UPDATE_ROUNDS,
           STEPS_PER_ROUND);
    printf("  steps taken (median)            %8.0f    %9.0f        (each, ours/PyTorch:",
           median(sp_o, UPDATE_ROUNDS), median(sp_t, UPDATE_ROUNDS));
    for (int r = 0; r < UPDATE_ROUNDS; r++)
        printf(" %.0f/%.0f", sp_o[r], sp_t[r]);
    printf("; the dropout draws differ)\n");
    double pso = median(per_o, UPDATE_ROUNDS), pst = median(per_t, UPDATE_ROUNDS);
    printf("  per step inside an update       %8.3f ms %9.3f ms %8.2fx\n", pso * 1e3,
           pst * 1e3, pst / pso);
    printf("inference, one context (eval)     %8.1f us %9.1f us %8.2fx   (medians of %d; "
           "%d rounds in turn: %.2f-%.2fx)\n", inf_o * 1e6, inf_t * 1e6, inf_t / inf_o, nin,
           INFER_ROUNDS, ilo, ihi);
    printf("ours faster by %.1fx per step, %.1fx per good-run update, %.1fx per "
           "inference\n", step_t / step_o, upd_t / upd_o, inf_t / inf_o);
    rc = 0;
out:
    free(v);
    {
        int st = torch_stop(&tc);
        if (rc == 0 && st != 0) {
            fprintf(stderr, "bench_torch: PyTorch side exited with status %d\n", st);
            rc = 1;
        }
    }
    free(w0);
    batch_free(&bt);
    dn_mlmodel_destroy(&m);
    dn_mlmodel_destroy(&m0);
    return rc;
}
