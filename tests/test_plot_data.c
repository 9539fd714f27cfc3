/* test_plot_data.c: the dataset figures (plot_data.h). Bad input (NaN, empty,
 * sizes that disagree) is refused with DN_EINVAL before PLplot sees it (no
 * file appears); the generator's seed-70 dataset gives every figure as a PNG
 * (its signature) and an SVG that is well-formed XML with the root <svg>
 * (checked by a small XML reader here: tags nest and close, attributes are
 * quoted, one root element). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eda.h"
#include "fileio.h"
#include "generator.h"
#include "plot_data.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];

static void setup(void) { dn_test_tmpdir(dir, "plot_data"); }
static void teardown(void) { dn_test_rmdir(dir); }

TestSuite(plot_data, .init = setup, .fini = teardown);

static int exists(const char *base, const char *ext)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s.%s", base, ext);
    return stat(path, &st) == 0;
}

/* Well-formed XML with one root element named `root`: returns NULL or what
 * is wrong. Handles the declaration, comments, CDATA, start, end and empty
 * tags with quoted attributes; text between tags is not examined. */
static const char *xml_check(const char *s, const char *root)
{
    enum { DEPTH = 256 };
    const char *stack[DEPTH];
    size_t len[DEPTH];
    int depth = 0, roots = 0;
    while ((s = strchr(s, '<'))) {
        if (!strncmp(s, "<?", 2)) {
            if (!(s = strstr(s, "?>")))
                return "unterminated declaration";
            s += 2;
        } else if (!strncmp(s, "<!--", 4)) {
            if (!(s = strstr(s, "-->")))
                return "unterminated comment";
            s += 3;
        } else if (!strncmp(s, "<![CDATA[", 9)) {
            if (!(s = strstr(s, "]]>")))
                return "unterminated CDATA";
            s += 3;
        } else if (s[1] == '/') {
            const char *n = s + 2;
            size_t l = strcspn(n, " \t\r\n>");
            if (!depth || l != len[depth - 1] || strncmp(n, stack[depth - 1], l))
                return "end tag does not match the open element";
            depth--;
            if (!(s = strchr(n, '>')))
                return "unterminated end tag";
            s++;
        } else {
            const char *n = s + 1;
            size_t l = strcspn(n, " \t\r\n/>");
            if (!l)
                return "tag without a name";
            if (!depth && roots++)
                return "more than one root element";
            if (!depth && (l != strlen(root) || strncmp(n, root, l)))
                return "root element is not the expected one";
            const char *p = n + l;
            while (*p && *p != '>' && !(*p == '/' && p[1] == '>')) {
                if (*p == '"' || *p == '\'') {
                    const char *q = strchr(p + 1, *p);
                    if (!q)
                        return "unterminated attribute value";
                    p = q + 1;
                } else if (*p == '=' && p[1] != '"' && p[1] != '\'') {
                    return "attribute value not quoted";
                } else {
                    p++;
                }
            }
            if (!*p)
                return "unterminated start tag";
            if (*p == '/') {
                s = p + 2;
            } else {
                if (depth == DEPTH)
                    return "nested too deep";
                stack[depth] = n;
                len[depth++] = l;
                s = p + 1;
            }
        }
    }
    if (depth)
        return "elements left open";
    return roots == 1 ? NULL : "no root element";
}

static void check_files(const char *base)
{
    char path[256];
    char *buf;
    size_t len;
    dn_err_t err = {0};
    snprintf(path, sizeof path, "%s.png", base);
    cr_assert_eq(dn_read_file(path, &buf, &len, &err), 0, "%s", err.msg);
    cr_assert(len > 2000 && !memcmp(buf, "\x89PNG\r\n\x1a\n", 8), "%s: not a PNG (%zu bytes)",
              path, len);
    free(buf);
    snprintf(path, sizeof path, "%s.svg", base);
    cr_assert_eq(dn_read_file(path, &buf, &len, &err), 0, "%s", err.msg);
    const char *why = xml_check(buf, "svg");
    cr_assert_null(why, "%s: %s", path, why);
    free(buf);
}

Test(plot_data, xml_checker_can_fail)
{
    cr_expect_null(xml_check("<?xml version=\"1.0\"?><svg a=\"1\"><g><p d='x'/></g></svg>",
                             "svg"));
    cr_expect_not_null(xml_check("<svg><g></svg>", "svg"));
    cr_expect_not_null(xml_check("<svg><g></g>", "svg"));
    cr_expect_not_null(xml_check("<html></html>", "svg"));
    cr_expect_not_null(xml_check("<svg a=1></svg>", "svg"));
    cr_expect_not_null(xml_check("<svg></svg><svg></svg>", "svg"));
}

Test(plot_data, bad_input_refused_before_plplot)
{
    char base[128];
    snprintf(base, sizeof base, "%s/bad", dir);
    dn_err_t err = {0};
    /* class ratio: empty, negative */
    dn_eda_classes_t c = {0, 0, 0};
    cr_expect_eq(dn_plot_class_ratio(base, "t", &c, &err), DN_EINVAL);
    c.bad = -1;
    c.good = 5;
    cr_expect_eq(dn_plot_class_ratio(base, "t", &c, &err), DN_EINVAL);
    cr_expect_eq(dn_plot_class_ratio(base, "t", NULL, &err), DN_EINVAL);
    /* run statistics: NaN count, no bins, edges not increasing, empty */
    dn_eda_stats_t *s = calloc(1, sizeof *s);
    s->n_bins = 2;
    s->edges[0] = 0;
    s->edges[1] = 1;
    s->edges[2] = 2;
    s->count[0][1] = NAN;
    cr_expect_eq(dn_plot_run_stats(base, "t", s, &err), DN_EINVAL);
    cr_expect(strstr(err.msg, "count") != NULL, "%s", err.msg);
    s->count[0][1] = 0;
    cr_expect_eq(dn_plot_run_stats(base, "t", s, &err), DN_EINVAL); /* no run */
    s->count[0][1] = 3;
    s->edges[2] = 1;
    cr_expect_eq(dn_plot_run_stats(base, "t", s, &err), DN_EINVAL);
    s->edges[2] = 2;
    s->n_bins = 0;
    cr_expect_eq(dn_plot_run_stats(base, "t", s, &err), DN_EINVAL);
    s->n_bins = DN_EDA_STAT_EDGES_MAX;
    cr_expect_eq(dn_plot_run_stats(base, "t", s, &err), DN_EINVAL);
    s->n_bins = 2;
    /* uncertainty: NaN, one point, x not increasing, negative sigma */
    double x[3] = {-1, 0, 1}, m[3] = {0.1, NAN, 0.1}, f[3] = {0.01, 0.01, 0.01},
           st[3] = {0.005, 0.005, 0.005};
    dn_plot_unc_t u = {3, x, m, f, st, 10};
    cr_expect_eq(dn_plot_unc_vis(base, "t", &u, &err), DN_EINVAL);
    m[1] = 0.4;
    u.n = 1;
    cr_expect_eq(dn_plot_unc_vis(base, "t", &u, &err), DN_EINVAL);
    u.n = 3;
    x[2] = 0;
    cr_expect_eq(dn_plot_unc_vis(base, "t", &u, &err), DN_EINVAL);
    x[2] = 1;
    f[0] = -1;
    cr_expect_eq(dn_plot_unc_vis(base, "t", &u, &err), DN_EINVAL);
    f[0] = 0.01;
    u.stat_sigma = NULL;
    cr_expect_eq(dn_plot_unc_vis(base, "t", &u, &err), DN_EINVAL);
    u.stat_sigma = st;
    /* per run: NaN, empty, n_hist beyond n, changes without a name, bad range */
    double v[4] = {1, 2, NAN, 4};
    int8_t l[4] = {0, 1, 0, -1};
    uint8_t ch[4] = {0, 1, 0, 0};
    dn_plot_runs_t r = {"t", "y", 4, v, l, 2, 0, NULL, NULL, NAN, NAN};
    cr_expect_eq(dn_plot_runs(base, &r, &err), DN_EINVAL);
    cr_expect(strstr(err.msg, "run 2") != NULL, "%s", err.msg);
    v[2] = 3;
    r.n = 0;
    cr_expect_eq(dn_plot_runs(base, &r, &err), DN_EINVAL);
    r.n = 4;
    r.n_hist = 5;
    cr_expect_eq(dn_plot_runs(base, &r, &err), DN_EINVAL);
    r.n_hist = 2;
    r.change = ch;
    cr_expect_eq(dn_plot_runs(base, &r, &err), DN_EINVAL);
    r.change_name = "rapid";
    r.ylo = 5;
    r.yhi = 1;
    cr_expect_eq(dn_plot_runs(base, &r, &err), DN_EINVAL);
    r.ylo = r.yhi = NAN;
    /* the page: nothing, per-run panels of different sizes, a bad member */
    dn_plot_eda_t e = {.title = "t"};
    cr_expect_eq(dn_plot_eda(base, &e, &err), DN_EINVAL);
    dn_plot_runs_t r3 = r;
    r3.n = 3;
    e.mu = &r;
    e.sigma = &r3;
    cr_expect_eq(dn_plot_eda(base, &e, &err), DN_EINVAL);
    cr_expect(strstr(err.msg, "4 and 3") != NULL, "%s", err.msg);
    e.sigma = NULL;
    m[1] = NAN;
    e.unc = &u;
    cr_expect_eq(dn_plot_eda(base, &e, &err), DN_EINVAL);
    cr_expect(!exists(base, "png") && !exists(base, "svg"), "a refused figure left a file");
    /* the same inputs made good are drawn: the refusals were for the bad values */
    m[1] = 0.4;
    cr_expect_eq(dn_plot_eda(base, &e, &err), 0, "%s", err.msg);
    cr_expect_eq(dn_plot_runs(base, &r, &err), 0, "%s", err.msg);
    cr_expect(exists(base, "png") && exists(base, "svg"));
    free(s);
}

Test(plot_data, seed70_every_figure, .timeout = 120)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_generate(&p, 70, &ds, &err), 0, "%s", err.msg);
    const int n = ds->n_runs, nb = ds->n_bins;
    dn_eda_classes_t c;
    cr_assert_eq(dn_eda_classes(ds->label, n, &c, &err), 0);
    cr_expect_eq(c.good, 4500);
    cr_expect_eq(c.bad, 500);
    double *entries = malloc(sizeof(double) * (size_t)n * 2), *dead = entries + n;
    double *unc = malloc(sizeof(double) * 4 * (size_t)nb);
    dn_eda_entries(ds, entries);
    dn_eda_stats_t *st = malloc(sizeof *st);
    cr_assert_eq(dn_eda_run_stats(entries, ds->label, n, st, &err), 0, "%s", err.msg);
    int n_good = 0;
    cr_assert_eq(dn_eda_unc_vis(ds, unc, unc + nb, unc + 2 * nb, unc + 3 * nb, &n_good, &err),
                 0, "%s", err.msg);
    cr_expect_eq(n_good, 4500);
    for (int i = 0; i < n; i++)
        dead[i] = ds->dead_bins[i];
    dn_plot_unc_t u = {nb, unc, unc + nb, unc + 2 * nb, unc + 3 * nb, n_good};
    dn_plot_runs_t rd = {"dead", "dead bins", n, dead, ds->label, 1000, NAN, NULL, NULL, -2, 25};
    dn_plot_runs_t rm = {"mu", "mu", n, ds->true_mu, ds->label, 1000, 0, ds->rapid_mu,
                         "rapid change of #gm", -4, 6};
    dn_plot_runs_t rs = {"sigma", "sigma", n, ds->true_sigma, ds->label, 1000, 1,
                         ds->rapid_sigma, "rapid change of #gs", 0.2, 2.5};
    char base[128];
#define DRAW(name, call)                                                                      \
    do {                                                                                      \
        snprintf(base, sizeof base, "%s/%s", dir, name);                                      \
        cr_assert_eq(call, 0, "%s: %s", name, err.msg);                                       \
        check_files(base);                                                                    \
    } while (0)
    DRAW("class_ratio", dn_plot_class_ratio(base, "seed 70", &c, &err));
    DRAW("run_statistics", dn_plot_run_stats(base, "seed 70", st, &err));
    DRAW("unc_vis", dn_plot_unc_vis(base, "seed 70", &u, &err));
    DRAW("dead_bins", dn_plot_runs(base, &rd, &err));
    DRAW("gaussian_mu", dn_plot_runs(base, &rm, &err));
    DRAW("gaussian_sigma", dn_plot_runs(base, &rs, &err));
    dn_plot_eda_t e = {"seed 70", NULL, &c, st, &u, &rd, &rm, &rs};
    DRAW("eda", dn_plot_eda(base, &e, &err));
    /* real data: no truth, no labels: the page still draws with absent panels */
    dn_plot_eda_t real = {"no truth", "needs the truth", NULL, st, NULL, NULL, NULL, NULL};
    DRAW("eda_real", dn_plot_eda(base, &real, &err));
#undef DRAW
    free(st);
    free(unc);
    free(entries);
    dn_dataset_destroy(&ds);
}
