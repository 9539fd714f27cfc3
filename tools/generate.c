/* generate.c: `dinamo generate`, a synthetic dataset (SPEC 1) written to a
 * directory: runs.csv, truth.csv and meta.json (dataset.h), or with --format
 * root one ROOT file per run beside labels.csv, truth.csv and meta.json
 * (rootdata.h). The same seed and parameters give the same bytes
 * everywhere; the generator service streams the same datasets. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dataset.h"
#include "generator.h"
#include "rootdata.h"

static const char generate_help[] =
    "usage: dinamo generate --seed S --out DIR [--runs N] [--anomalous A]\n"
    "                       [--format csv|root] [PARAMS]\n"
    "\n"
    "Writes a synthetic dataset (SPEC 1) into DIR: runs.csv (run,label,b0..),\n"
    "truth.csv (run,mu,sigma,rapid_change,...) and meta.json (bin edges, every\n"
    "generator parameter, seed). The same seed gives the same dataset everywhere.\n"
    "--format root writes, in place of runs.csv, one ROOT file per run,\n"
    "run_000123.root, holding the TH1D synthetic/h0 (the dataset's edges and\n"
    "counts), and labels.csv (run,label: pass it with --labels).\n"
    "With --slow-defects N > 0 the dataset also has N slow anomalies (defects\n"
    "growing over hundreds of runs): truth.csv gains slow_kind,slow_size,slow_bad\n"
    "and meta.json \"slow\" and \"slow_episodes\".\n";

int cmd_generate(args_t *a)
{
    dn_gen_params_t gp;
    dn_gen_params_default(&gp);
    dn_slow_params_t sp;
    dn_slow_params_default(&sp);
    uint64_t seed = 0;
    int have_seed = 0, root = 0;
    const char *out = NULL;
    char *name;
    const char *v;
    int r;
    while ((r = next_arg(a, "--help", &name, &v)) > 0) {
        if (!name)
            return usage_error(a->cmd, "unexpected argument '%s'", v);
        if (!strcmp(name, "--help")) {
            fputs(generate_help, stdout);
            print_gen_params_help(stdout);
            print_slow_params_help(stdout);
            return 0;
        } else if (!strcmp(name, "--seed")) {
            if (parse_u64(a->cmd, name, v, &seed))
                return 2;
            have_seed = 1;
        } else if (!strcmp(name, "--out")) {
            out = v;
        } else if (!strcmp(name, "--format")) {
            if (strcmp(v, "csv") && strcmp(v, "root"))
                return usage_error(a->cmd, "--format %s: want csv or root", v);
            root = !strcmp(v, "root");
        } else {
            int handled;
            if (try_gen_param(a->cmd, &gp, name, v, &handled) ||
                (!handled && try_slow_param(a->cmd, &sp, name, v, &handled)))
                return 2;
            if (!handled)
                return usage_error(a->cmd, "unknown option %s", name);
        }
    }
    if (r < 0)
        return 2;
    if (!have_seed || !out)
        return usage_error(a->cmd, "%s", "--seed and --out are required");
    dn_err_t err = {0};
    if (dn_gen_params_check(&gp, &err) || dn_slow_params_check(&sp, &gp, &err)) {
        fprintf(stderr, "dinamo %s: %s\n", a->cmd, err.msg);
        return 2;
    }
    dn_dataset_t *ds = NULL;
    int rc = dn_generate_slow(&gp, &sp, seed, &ds, &err);
    if (!rc)
        rc = root ? dn_dataset_write_root_dir(ds, out, NULL, &err)
                  : dn_dataset_write_dir(ds, out, &err);
    dn_dataset_destroy(&ds);
    if (rc)
        return fail_with(a->cmd, &err, rc);
    return 0;
}
