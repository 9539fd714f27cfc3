/* test_rootname.c: key, subsystem and run of histograms in ROOT files: the
 * CMS DQM layout (run from the folder, "Run summary" dropped from the key,
 * other folders kept), the plain rule (path as key, first directory as
 * subsystem, run from the file name), a fixed subsystem, no run anywhere,
 * and run numbers beyond int64 refused by name. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "rootname.h"

static void check(const char *file, const char *path, const char *subsystem_opt,
                  const char *want_key, const char *want_sub, int want_has, int64_t want_run)
{
    dn_root_naming_t o = {.subsystem = subsystem_opt};
    char *key = NULL, *sub = NULL;
    int64_t run = -1;
    int has = -1;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_name(file, path, &o, &key, &sub, &run, &has, &err), 0, "%s", err.msg);
    cr_assert_str_eq(key, want_key, "%s: %s", file, path);
    cr_assert_str_eq(sub, want_sub, "%s: %s", file, path);
    cr_assert_eq(has, want_has, "%s: %s", file, path);
    if (want_has)
        cr_assert_eq(run, want_run, "%s: %s: run %lld", file, path, (long long)run);
    free(key);
    free(sub);
}

Test(rootname, cms_dqm_layout)
{
    check("DQM_V0001_R000123456__Global__CMSSW_12_4_0__DQMIO.root",
          "DQMData/Run 123456/Pixel/Run summary/Clusters/charge", NULL, "Pixel/Clusters/charge",
          "Pixel", 1, 123456);
    check("x_7.root", "DQMData/Run 9/Ecal/Run summary/h", NULL, "Ecal/h", "Ecal", 1, 9);
    check("x_7.root", "DQMData/Run 9/Ecal/By Lumi Section 1-10/h", NULL,
          "Ecal/By Lumi Section 1-10/h", "Ecal", 1, 9);
    check("x_7.root", "DQMData/Run 9/Ecal/Run summary/h", "calorimeter", "Ecal/h",
          "calorimeter", 1, 9);
}

Test(rootname, plain_rule_and_file_name_runs)
{
    check("runs/run_000123.root", "calo/energy", NULL, "calo/energy", "calo", 1, 123);
    check("runs/run_000123.root", "a/b/c/h", NULL, "a/b/c/h", "a", 1, 123);
    check("2024-06-01_77.root", "top", NULL, "top", "", 1, 77);
    check("hists.root", "top", NULL, "top", "", 0, 0);
    check("run_5.root", "calo/energy", "fixed", "calo/energy", "fixed", 1, 5);
    /* not the DQM layout: "Run x" without a number, or no subsystem folder */
    check("r_3.root", "DQMData/Run x/Ecal/h", NULL, "DQMData/Run x/Ecal/h", "DQMData", 1, 3);
    check("r_3.root", "DQMData/Run 4/h", NULL, "DQMData/Run 4/h", "DQMData", 1, 3);
}

Test(rootname, runs_beyond_int64_are_refused)
{
    char *key = NULL, *sub = NULL;
    int64_t run;
    int has;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_name("f.root", "DQMData/Run 99999999999999999999/S/Run summary/h",
                              NULL, &key, &sub, &run, &has, &err), DN_ERANGE);
    cr_assert_str_eq(err.msg, "f.root: folder \"DQMData/Run 99999999999999999999\": run "
                              "number beyond int64");
    cr_assert_null(key);
    cr_assert_eq(dn_root_name("run_99999999999999999999.root", "h", NULL, &key, &sub, &run,
                              &has, &err), DN_ERANGE);
    cr_assert(strstr(err.msg, "beyond int64"), "%s", err.msg);
    cr_assert_null(sub);
}

/* dn_root_dqm_run says "the layout" exactly when the naming takes the run from
 * the folders (a file name without digits gives none otherwise), with the
 * same run. */
Test(rootname, the_layout_test_agrees_with_the_naming)
{
    static const char *const paths[] = {
        "DQMData/Run 9/Ecal/Run summary/h", "DQMData/Run 9/Ecal/By Lumi Section 1-10/h",
        "DQMData/Run 0/E/h", "DQMData/Run x/Ecal/h", "DQMData/Run 4/h", "DQMData/Run /E/h",
        "DQMData/Run 99999999999999999999/S/Run summary/h", "DQMData/h", "calo/energy", "top",
        "dqmdata/Run 9/Ecal/h"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char *key = NULL, *sub = NULL;
        int64_t run = -1, layout_run = -1;
        int has = 0;
        dn_err_t err = {0};
        int rc = dn_root_name("hists.root", paths[i], NULL, &key, &sub, &run, &has, &err);
        int layout = dn_root_dqm_run(paths[i], &layout_run);
        if (rc == DN_ERANGE) {
            cr_assert_eq(layout, 0, "%s: an overflowing run is no layout run", paths[i]);
            continue;
        }
        cr_assert_eq(rc, 0, "%s", err.msg);
        cr_assert_eq(layout, has, "%s: layout %d, naming has_run %d", paths[i], layout, has);
        if (layout)
            cr_assert_eq(layout_run, run, "%s", paths[i]);
        free(key);
        free(sub);
    }
}
