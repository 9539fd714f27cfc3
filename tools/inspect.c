/* inspect.c: `dinamo inspect PATH [--key K] [--json]`: what the feed would
 * publish from PATH, one histogram a line, so a user sees what dinamo sees.
 *
 * PATH is any input the library reads: a ROOT file or a directory of ROOT
 * files (rootfile.h; key, subsystem and run by rootname.h), a directory of
 * UHI JSON runs (uhi.h), a dataset directory, a runs CSV or an .npz
 * (input.h: one histogram per run, named K, "hist" by default, as the feed
 * names it). A line gives the file, key, subsystem, run, class (ROOT) or
 * storage (the other inputs), the bin edges of each axis, the values
 * without flow bins (2-D: [ix][iy], ix outer), the variances when stored
 * (ROOT's fSumw2, UHI's weighted storage, a dataset's variances) and the
 * entries (ROOT's fEntries; elsewhere the sum of the values). Text lines are
 * tab-separated name=value fields; --json gives one JSON object a line with
 * members file, key, subsystem, run (null when unknown), class, edges (a
 * list of edge lists), values, variances (null when not stored), entries.
 *
 * What is left out goes to standard error, one line each: objects that are
 * not histograms (profiles, trees...) with the reason, and whatever could not
 * be read (a file, a directory, a key, a histogram breaking the rules).
 * Exit status: 0 when everything that is a histogram was read, 1 when
 * something could not be (the rest is still printed), 2 on bad usage. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "dataset.h"
#include "input.h"
#include "json.h"
#include "rootfile.h"
#include "rootrun.h"
#include "uhi.h"

static const char inspect_help[] =
    "usage: dinamo inspect PATH [--key K] [--json]\n"
    "\n"
    "Prints what the feed would publish from PATH, one histogram a line: file, key,\n"
    "subsystem, run, class (ROOT) or storage, bin edges, values without flow bins\n"
    "(2-D: [ix][iy]), variances when stored, entries. PATH is a ROOT file or a\n"
    "directory of ROOT files, a directory of UHI JSON runs, a dataset directory,\n"
    "a runs CSV or an .npz dataset.\n"
    "\n"
    "ROOT: the path in the file is the key and its first directory the subsystem;\n"
    "CMS's DQMData/Run N/<Sub>/Run summary/<path> gives run N, subsystem <Sub>,\n"
    "key <Sub>/<path>; otherwise the run is the last number in the file name.\n"
    "\n"
    "  --key K   only the histogram K (ROOT, UHI); for a dataset, CSV or npz the\n"
    "            key its histogram is published under (default hist)\n"
    "  --json    one JSON object a line: file, key, subsystem, run, class, edges\n"
    "            (one list per axis), values, variances (null when not stored),\n"
    "            entries\n"
    "\n"
    "Objects that are not histograms, and anything unreadable, are reported on\n"
    "standard error. Exit status 1 when something could not be read.\n";

typedef struct {
    FILE *out;
    int json;
    const char *key;  /* --key, or NULL */
    const char *file; /* the ROOT file being read */
    int printed;      /* histogram lines */
    int failed;       /* things that could not be read */
} insp_t;

/* One histogram as printed. */
typedef struct {
    const char *file, *key, *subsystem, *cls;
    int has_run;
    int64_t run;
    int nx, ny;                    /* ny 0 for 1-D */
    const double *xedges, *yedges; /* [nx + 1], [ny + 1] */
    const double *values;          /* [nx * max(ny, 1)], ix outer */
    const double *variances;       /* same, or NULL */
    double entries;
} line_t;

__attribute__((format(printf, 3, 4))) static void report(insp_t *in, int is_failure,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("dinamo inspect: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    in->failed += is_failure;
}

/* ---- printing ------------------------------------------------------------------ */

static void put_num(const insp_t *in, double x)
{
    if (in->json) {
        dn_json_write_number(in->out, x);
    } else if (!isfinite(x)) {
        fputs(isnan(x) ? "nan" : x > 0 ? "inf" : "-inf", in->out);
    } else {
        char buf[DN_JSON_NUMBER_MAX];
        dn_json_format_number(buf, x);
        fputs(buf, in->out);
    }
}

static void put_array(const insp_t *in, const double *v, int n)
{
    fputc('[', in->out);
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(in->json ? ", " : " ", in->out);
        put_num(in, v[i]);
    }
    fputc(']', in->out);
}

/* values or variances: flat for 1-D, one list per ix for 2-D */
static void put_bins(const insp_t *in, const line_t *l, const double *v)
{
    if (!l->ny) {
        put_array(in, v, l->nx);
        return;
    }
    fputc('[', in->out);
    for (int ix = 0; ix < l->nx; ix++) {
        if (ix)
            fputs(in->json ? ", " : " ", in->out);
        put_array(in, v + (size_t)ix * (size_t)l->ny, l->ny);
    }
    fputc(']', in->out);
}

static void put_field(const insp_t *in, const char *name, int first)
{
    if (in->json)
        fprintf(in->out, "%s\"%s\": ", first ? "{" : ", ", name);
    else
        fprintf(in->out, "%s%s=", first ? "" : "\t", name);
}

static void put_string(const insp_t *in, const char *s)
{
    if (in->json)
        dn_json_write_string(in->out, s);
    else
        fputs(s, in->out);
}

static void put_line(insp_t *in, const line_t *l)
{
    put_field(in, "file", 1);
    put_string(in, l->file);
    put_field(in, "key", 0);
    put_string(in, l->key);
    put_field(in, "subsystem", 0);
    put_string(in, l->subsystem);
    put_field(in, "run", 0);
    if (l->has_run)
        fprintf(in->out, "%lld", (long long)l->run);
    else
        fputs(in->json ? "null" : "-", in->out);
    put_field(in, "class", 0);
    put_string(in, l->cls);
    put_field(in, "edges", 0);
    if (l->xedges) {
        fputc('[', in->out);
        put_array(in, l->xedges, l->nx + 1);
        if (l->ny) {
            fputs(in->json ? ", " : " ", in->out);
            put_array(in, l->yedges, l->ny + 1);
        }
        fputc(']', in->out);
    } else {
        fputs(in->json ? "null" : "-", in->out); /* an input without edges */
    }
    put_field(in, "values", 0);
    put_bins(in, l, l->values);
    if (l->variances || in->json) {
        put_field(in, "variances", 0);
        if (l->variances)
            put_bins(in, l, l->variances);
        else
            fputs("null", in->out);
    }
    put_field(in, "entries", 0);
    put_num(in, l->entries);
    fputs(in->json ? "}\n" : "\n", in->out);
    in->printed++;
}

static double sum(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s;
}

/* ---- ROOT ---------------------------------------------------------------------- */

/* One item of rootrun.h (the rules the feed publishes by): a line, or a
 * report of why not (an object that is not a histogram is no failure). */
static int root_item(void *ctx, const dn_root_item_t *it)
{
    insp_t *in = ctx;
    if (!it->hist) {
        report(in, !it->not_histogram, "%s; left out", it->problem);
        return 0;
    }
    const dn_histin_t *h = it->hist;
    line_t l = {.file = in->file, .key = h->key, .subsystem = h->subsystem,
                .cls = it->key->class_name, .has_run = it->has_run, .run = it->run,
                .nx = h->n_bins_y ? h->n_bins / h->n_bins_y : h->n_bins, .ny = h->n_bins_y,
                .xedges = h->edges, .yedges = h->edges_y, .values = h->counts,
                .variances = h->variances, .entries = it->entries};
    put_line(in, &l);
    return 0;
}

static void inspect_root_file(insp_t *in, const char *path)
{
    dn_root_file_t *f = NULL;
    dn_root_run_opts_t o = {.key = in->key};
    dn_err_t err = {0};
    in->file = path;
    if (dn_root_file_open(path, &f, &err) || dn_root_run_each(f, &o, root_item, in, &err))
        report(in, 1, "%s", err.msg);
    dn_root_file_destroy(&f);
}

/* Each file `list` finds in dir (sorted by name), given to `one`. */
static void each_file(insp_t *in, const char *dir,
                      int (*list)(const char *, char ***, int *, dn_err_t *),
                      void (*one)(insp_t *, const char *))
{
    char **paths = NULL;
    int n = 0;
    dn_err_t err = {0};
    if (list(dir, &paths, &n, &err)) {
        report(in, 1, "%s", err.msg);
        return;
    }
    for (int i = 0; i < n; i++) {
        one(in, paths[i]);
        free(paths[i]);
    }
    free(paths);
}

/* ---- UHI and datasets ------------------------------------------------------------ */

static void inspect_uhi_file(insp_t *in, const char *path)
{
    dn_runin_t *r = NULL;
    dn_err_t err = {0};
    if (dn_uhi_read_file(path, &r, &err)) {
        report(in, 1, "%s", err.msg);
        return;
    }
    for (int p = 0; p < r->n_problems; p++)
        report(in, 1, "%s; left out", r->problems[p]);
    for (int h = 0; h < r->n_hist; h++) {
        const dn_histin_t *x = &r->hist[h];
        if (in->key && strcmp(in->key, x->key))
            continue;
        line_t l = {.file = path, .key = x->key, .subsystem = x->subsystem,
                    .cls = x->variances ? "uhi weighted" : "uhi", .has_run = 1,
                    .run = r->run_number,
                    .nx = x->n_bins_y > 0 ? x->n_bins / x->n_bins_y : x->n_bins,
                    .ny = x->n_bins_y, .xedges = x->edges, .yedges = x->edges_y,
                    .values = x->counts, .variances = x->variances,
                    .entries = sum(x->counts, x->n_bins)};
        put_line(in, &l);
    }
    dn_runin_destroy(&r);
}

static void input_warning(void *ctx, const char *msg)
{
    report(ctx, 1, "%s", msg);
}

static void inspect_dataset(insp_t *in, const char *path, dn_input_kind_t kind)
{
    static const char *const storage[] = {"dataset", "uhi", "npz", "csv", "root"};
    dn_input_opts_t o = {.warn = input_warning, .warn_ctx = in};
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    if (dn_input_read_dataset(path, &o, &ds, NULL, &err)) {
        report(in, 1, "%s", err.msg);
        return;
    }
    for (int i = 0; i < ds->n_runs; i++) {
        size_t row = (size_t)i * (size_t)ds->n_bins;
        line_t l = {.file = path, .key = in->key ? in->key : "hist", .subsystem = "",
                    .cls = storage[kind], .has_run = 1, .run = ds->run[i],
                    .nx = dn_dataset_nx(ds), .ny = ds->n_bins_y,
                    /* the placeholder numbering is not published (feed/fixed.c) */
                    .xedges = ds->edges_known ? ds->edges : NULL,
                    .yedges = ds->edges_known ? ds->edges_y : NULL, .values = ds->counts + row,
                    .variances = ds->variances ? ds->variances + row : NULL,
                    .entries = sum(ds->counts + row, ds->n_bins)};
        put_line(in, &l);
    }
    dn_dataset_destroy(&ds);
}

/* ---- the command ------------------------------------------------------------------ */

static int starts_with_root(const char *path)
{
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    int yes = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "root", 4);
    if (f)
        fclose(f);
    return yes;
}

static void inspect_path(insp_t *in, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        report(in, 1, "%s: %s", path, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode) && starts_with_root(path)) { /* whatever its name */
        inspect_root_file(in, path);
        return;
    }
    dn_input_kind_t kind;
    dn_err_t err = {0};
    if (dn_input_kind(path, &kind, &err))
        report(in, 1, "%s", err.msg);
    else if (kind == DN_INPUT_UHI_DIR)
        each_file(in, path, dn_uhi_dir_list, inspect_uhi_file);
    else if (kind == DN_INPUT_ROOT && S_ISDIR(st.st_mode))
        each_file(in, path, dn_root_dir_list, inspect_root_file);
    else if (kind == DN_INPUT_ROOT)
        inspect_root_file(in, path); /* named .root, not one: the reader says why */
    else
        inspect_dataset(in, path, kind);
}

int cmd_inspect(args_t *a)
{
    insp_t in = {.out = stdout};
    const char *path = NULL;
    char *name;
    const char *v;
    int r;
    while ((r = next_arg(a, "--help --json", &name, &v)) > 0) {
        if (!name && !path)
            path = v;
        else if (!name)
            return usage_error(a->cmd, "unexpected argument '%s'", v);
        else if (!strcmp(name, "--help")) {
            fputs(inspect_help, stdout);
            return 0;
        } else if (!strcmp(name, "--json"))
            in.json = 1;
        else if (!strcmp(name, "--key"))
            in.key = v;
        else
            return usage_error(a->cmd, "unknown option %s", name);
    }
    if (r < 0)
        return 2;
    if (!path)
        return usage_error(a->cmd, "%s", "no PATH given");
    inspect_path(&in, path);
    if (fflush(stdout) != 0 || ferror(stdout))
        report(&in, 1, "writing the output: %s", strerror(errno));
    if (in.key && !in.printed && !in.failed)
        report(&in, 1, "%s: no histogram \"%s\"", path, in.key);
    return in.failed ? 1 : 0;
}
