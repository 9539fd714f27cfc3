/* results.c: writers of result files shared by the offline tool and the
 * services (see results.h). */
#include "results.h"

#include "json.h"

void dn_eval_result_write_json(const dn_eval_result_t *r, FILE *f)
{
    fprintf(f, "{\"method\": \"%s\", \"alpha\": ", r->method == DN_METHOD_S ? "s" : "ml");
    dn_json_write_number(f, r->alpha);
    fputs(", \"threshold\": ", f);
    dn_json_write_number(f, r->threshold);
    fputs(", \"balanced_accuracy\": ", f);
    dn_json_write_number(f, r->balanced_accuracy);
    fputs(", \"sensitivity\": ", f);
    dn_json_write_number(f, r->sensitivity);
    fputs(", \"specificity\": ", f);
    dn_json_write_number(f, r->specificity);
    fputs(", \"adaptation_time\": ", f);
    dn_json_write_number(f, r->adaptation_time);
    fputs(", \"jaccard_distance\": ", f);
    dn_json_write_number(f, r->jaccard_distance);
    fputs(", \"auc_historical\": ", f);
    dn_json_write_number(f, r->auc_historical);
    fprintf(f, ", \"n_runs\": %d, \"n_historical\": %d, \"n_change_points\": %d, "
               "\"n_empty\": %d, \"seconds\": %.3f}\n",
            r->n_runs, r->n_hist, r->n_change_points, r->n_empty, r->seconds);
}
