/* test_results.c: the result files the offline tool and the services share
 * (results.h), byte for byte: an evaluation as one JSON line (undefined
 * values null, seconds with three decimals) that can also be nested inside
 * a bigger document, the scores CSV with every status, the pulls CSV with
 * empty fields for runs not scored. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "memout.h"
#include "results.h"

TestSuite(results);

static dn_eval_result_t sample(dn_method_t method)
{
    dn_eval_result_t r = {.method = method, .alpha = 0.25, .auc_historical = 0.875,
                          .threshold = 1.5, .balanced_accuracy = 0.9, .sensitivity = 1,
                          .specificity = 0.8, .adaptation_time = NAN, .jaccard_distance = 0.125,
                          .n_runs = 200, .n_hist = 60, .n_change_points = 3, .n_empty = 1,
                          .seconds = 0.12345};
    return r;
}

static void write_line(FILE *f, void *arg)
{
    dn_eval_result_write_json(arg, f);
}

Test(results, evaluation_json_line)
{
    dn_eval_result_t r = sample(DN_METHOD_S);
    char *text = dn_test_capture(write_line, &r, NULL);
    const char *head = "{\"method\": \"s\", \"alpha\": 0.25, \"threshold\": 1.5, "
                       "\"balanced_accuracy\": 0.9, \"sensitivity\": 1, \"specificity\": 0.8, "
                       "\"adaptation_time\": null, \"jaccard_distance\": 0.125, "
                       "\"auc_historical\": 0.875, \"n_runs\": 200, \"n_historical\": 60, "
                       "\"n_change_points\": 3, \"n_empty\": 1, ";
    cr_assert(!strncmp(text, head, strlen(head)), "%s", text);
    /* then both regimes (issue 22; their values: test_cli), then seconds */
    cr_assert(!strncmp(text + strlen(head), "\"balanced_accuracy_historical\": 0, ", 35), "%s",
              text);
    const char *tail = ", \"seconds\": 0.123}\n";
    size_t n = strlen(text);
    cr_assert(n > strlen(tail) && !strcmp(text + n - strlen(tail), tail), "%s", text);
    free(text);
}

/* Each regime's metrics under the reference's names, undefined ones null. */
Test(results, evaluation_json_regimes)
{
    dn_eval_result_t r = sample(DN_METHOD_S);
    r.historical.rate[DN_RATE_PRECISION] = 0.5;
    r.historical.rate_hi[DN_RATE_ACCURACY] = 0.75;
    r.continual.nsteps_to_adapt = NAN;
    r.continual.tp = 7;
    char *text = dn_test_capture(write_line, &r, NULL);
    const char *want[] = {"\"precision_historical\": 0.5,",
                          "\"accuracy_historical_hi\": 0.75,",
                          "\"nsteps_to_adapt_continual\": null,", "\"tp_continual\": 7,",
                          "\"adaptivity_index_continual\": 0,",
                          "\"n_change_points_historical\": 0,"};
    for (size_t k = 0; k < sizeof want / sizeof *want; k++)
        cr_assert(strstr(text, want[k]), "lacks %s: %s", want[k], text);
    free(text);
}

static void write_nested(FILE *f, void *arg)
{
    dn_jw_t w;
    dn_jw_init(&w, f);
    dn_jw_object(&w);
    dn_jw_key(&w, "a\"b");
    cr_assert_eq(dn_eval_result_json(&w, arg), 0);
    dn_jw_key(&w, "next");
    dn_jw_int(&w, 1);
    dn_jw_end(&w);
    cr_assert_eq(dn_jw_finish(&w), 0);
}

Test(results, evaluation_nested_in_a_document)
{
    dn_eval_result_t r = sample(DN_METHOD_ML);
    size_t len;
    char *text = dn_test_capture(write_nested, &r, &len);
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse(text, len, &doc, &err), 0, "%s\n%s", err.msg, text);
    const dn_json_value_t *m = dn_json_get(dn_json_root(doc), "a\"b");
    cr_assert_str_eq(dn_json_string(dn_json_get(m, "method")), "ml");
    cr_assert_eq(dn_json_number(dn_json_get(m, "n_historical")), 60);
    cr_assert_eq(dn_json_number(dn_json_get(dn_json_root(doc), "next")), 1);
    dn_json_destroy(&doc);
    free(text);
}

static void write_scores(FILE *f, void *arg)
{
    (void)arg;
    const dn_score_row_t rows[] = {
        {1001, 0, 123.5, log(123.5 / 100), DN_ROW_SCORED, 0, NULL, NULL},
        {1002, -1, NAN, NAN, DN_ROW_SCORED, 0, NULL, NULL},
        {1003, 1, NAN, NAN, DN_ROW_MISSING, 0, NULL, NULL},
        {-4, -1, 1.0, 2.0, DN_ROW_REJECTED, 0, NULL, NULL},
    };
    dn_csv_t w;
    dn_csv_init(&w, f);
    dn_scores_csv_header(&w);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(dn_scores_csv_row(&w, &rows[i]), 0);
}

Test(results, scores_csv_rows_of_every_status)
{
    char *text = dn_test_capture(write_scores, NULL, NULL), want[512];
    snprintf(want, sizeof want, "run,label,chi2,score,status\n1001,0,123.5,%.17g,ok\n"
             "1002,,,,insufficient_statistics\n1003,1,,,missing\n-4,,,,rejected\n",
             log(123.5 / 100));
    cr_assert_str_eq(text, want);
    free(text);
}

static void write_pulls(FILE *f, void *arg)
{
    (void)arg;
    const double p[2] = {0.5, -1.25}, mu[2] = {0.1, 0.9}, sg[2] = {0.01, 0.02};
    const double none[2] = {NAN, NAN};
    dn_csv_t w;
    dn_csv_init(&w, f);
    dn_pulls_csv_header(&w, 2);
    dn_pulls_csv_row(&w, 7, p, mu, sg, 2);
    cr_assert_eq(dn_pulls_csv_row(&w, 8, none, none, none, 2), 0);
}

Test(results, pulls_csv)
{
    char *text = dn_test_capture(write_pulls, NULL, NULL);
    cr_assert_str_eq(text, "run,pull_b0,pull_b1,ref_b0,ref_b1,ref_unc_b0,ref_unc_b1\n"
                           "7,0.5,-1.25,0.10000000000000001,0.90000000000000002,"
                           "0.01,0.02\n8,,,,,,\n");
    free(text);
}
