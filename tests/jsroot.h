/* jsroot.h: JSROOT, the independent ROOT reader the ROOT suites compare with.
 *
 * tests/js/dump_root.mjs runs in node (JSROOT from the npm registry, pinned
 * by tests/js/package-lock.json and installed by `make test`) and prints one
 * JSON object a line for every key of the files it is given; histograms
 * carry their edges, bins (flow included), fSumw2 and fEntries.
 * dn_jsroot_dump() collects those lines; dn_jsroot_compare() checks one of
 * them against what our reader made of the same key, exactly: every number
 * must be the same double (NaN equal to NaN), and says where the worst
 * difference is when they are not.
 *
 * Header-only (static functions) for the suites that need it. */
#ifndef DN_TEST_JSROOT_H
#define DN_TEST_JSROOT_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "roothist.h"

#define DN_JSROOT_SCRIPT "tests/js/dump_root.mjs"
#define DN_JSROOT_MODULE "tests/js/node_modules/jsroot/package.json"

/* The folder of the shared ROOT test files (24 files written by ROOT). */
static inline const char *dn_root_files_dir(void)
{
    const char *d = getenv("DINAMO_ROOT_FILES");
    return d && *d ? d : "../shared/root";
}

/* Fails the test, saying what to do, when node or JSROOT is missing. */
static inline void dn_jsroot_require(void)
{
    cr_assert(system("node --version >/dev/null 2>&1") == 0,
              "node is not installed: the ROOT reader is checked against JSROOT in node");
    cr_assert(access(DN_JSROOT_MODULE, R_OK) == 0,
              "JSROOT is not installed under tests/js (run `make test`, which installs it "
              "with npm from tests/js/package-lock.json)");
}

/* Runs the dump over files[n]; returns the parsed lines (*n_lines of them,
 * caller destroys each and frees the array). */
static inline dn_json_t **dn_jsroot_dump(const char *const *files, int n, int *n_lines)
{
    dn_jsroot_require();
    size_t cap = 64;
    for (int i = 0; i < n; i++)
        cap += strlen(files[i]) + 3;
    char *cmd = malloc(cap);
    cr_assert_not_null(cmd);
    size_t at = (size_t)snprintf(cmd, cap, "node %s", DN_JSROOT_SCRIPT);
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(cmd + at, cap - at, " '%s'", files[i]);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "cannot run %s", cmd);
    dn_json_t **lines = NULL;
    int count = 0, room = 0;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, p)) > 0) {
        if (count == room) {
            room = room ? 2 * room : 256;
            lines = realloc(lines, (size_t)room * sizeof *lines);
            cr_assert_not_null(lines);
        }
        dn_err_t err = {0};
        cr_assert_eq(dn_json_parse(line, (size_t)len, &lines[count], &err), 0,
                     "JSROOT's line %d is not JSON: %s", count + 1, err.msg);
        count++;
    }
    free(line);
    int st = pclose(p);
    cr_assert_eq(st, 0, "%s exited with status %d", cmd, st);
    free(cmd);
    *n_lines = count;
    return lines;
}

static inline void dn_jsroot_free(dn_json_t **lines, int n)
{
    for (int i = 0; i < n; i++)
        dn_json_destroy(&lines[i]);
    free(lines);
}

/* A number of the dump: a JSON number, or "NaN", "Infinity", "-Infinity",
 * "-0" (what JSON cannot write). */
static inline double dn_jsroot_num(const dn_json_value_t *v)
{
    if (dn_json_type(v) == DN_JSON_STRING) {
        const char *s = dn_json_string(v);
        return !strcmp(s, "Infinity") ? INFINITY : !strcmp(s, "-Infinity") ? -INFINITY
               : !strcmp(s, "-0") ? -0.0 : NAN;
    }
    return dn_json_number(v);
}

static inline int dn_same_double(double a, double b)
{
    return a == b ? (a != 0 || signbit(a) == signbit(b)) : (isnan(a) && isnan(b));
}

/* Compares the array member `name` of line with ours[n]; on a difference
 * writes the first one and the count into why. Returns the count. */
static inline int dn_jsroot_cmp_array(const dn_json_value_t *line, const char *name,
                                      const double *ours, int n, char *why, size_t cap)
{
    const dn_json_value_t *a = dn_json_get(line, name);
    if ((int)dn_json_array_len(a) != n) {
        snprintf(why, cap, "%s: JSROOT has %zu values, we have %d", name, dn_json_array_len(a),
                 n);
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < n; i++) {
        double js = dn_jsroot_num(dn_json_array_at(a, (size_t)i));
        if (!dn_same_double(js, ours[i]) && !bad++)
            snprintf(why, cap, "%s[%d]: JSROOT %.17g, we %.17g", name, i, js, ours[i]);
    }
    if (bad > 1) {
        size_t used = strlen(why);
        snprintf(why + used, cap - used, " (%d values differ)", bad);
    }
    return bad;
}

/* 0 when h is what JSROOT read in line; else 1 with why saying where. */
static inline int dn_jsroot_compare(const dn_json_value_t *line, const dn_root_hist_t *h,
                                    char *why, size_t cap)
{
    int ny = h->dim == 2 ? h->axis[1].n_bins : 0;
    if ((int)dn_json_number(dn_json_get(line, "nx")) != h->axis[0].n_bins ||
        (int)dn_json_number(dn_json_get(line, "ny")) != ny) {
        snprintf(why, cap, "bins: JSROOT %g x %g, we %d x %d",
                 dn_json_number(dn_json_get(line, "nx")), dn_json_number(dn_json_get(line, "ny")),
                 h->axis[0].n_bins, ny);
        return 1;
    }
    double entries = dn_jsroot_num(dn_json_get(line, "entries"));
    if (!dn_same_double(entries, h->entries)) {
        snprintf(why, cap, "entries: JSROOT %.17g, we %.17g", entries, h->entries);
        return 1;
    }
    double xmin = dn_jsroot_num(dn_json_get(line, "xmin")), xmax = dn_jsroot_num(
                                                                 dn_json_get(line, "xmax"));
    if (!dn_same_double(xmin, h->axis[0].xmin) || !dn_same_double(xmax, h->axis[0].xmax)) {
        snprintf(why, cap, "x limits: JSROOT %.17g..%.17g, we %.17g..%.17g", xmin, xmax,
                 h->axis[0].xmin, h->axis[0].xmax);
        return 1;
    }
    if (dn_jsroot_cmp_array(line, "xedges", h->axis[0].edges, h->axis[0].n_bins + 1, why, cap) ||
        (h->dim == 2 &&
         dn_jsroot_cmp_array(line, "yedges", h->axis[1].edges, ny + 1, why, cap)) ||
        dn_jsroot_cmp_array(line, "values", h->values, h->n_cells, why, cap))
        return 1;
    if (!h->variances) {
        if (dn_json_array_len(dn_json_get(line, "sumw2"))) {
            snprintf(why, cap, "sumw2: JSROOT has %zu values, we have none",
                     dn_json_array_len(dn_json_get(line, "sumw2")));
            return 1;
        }
        return 0;
    }
    return dn_jsroot_cmp_array(line, "sumw2", h->variances, h->n_cells, why, cap) != 0;
}

#endif
