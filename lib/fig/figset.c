/* figset.c: a flagged run's figure set (see figset.h) from what scored it:
 * the counts normalised as the scorers normalise them (histo.h), the
 * uncertainties their square roots, the pulls dn_hist_chi2's against the
 * reference, assembled into one plot job that is drawn or saved. */
#include "figset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "histo.h"
#include "plot.h"

int dn_figset_make(const dn_figset_t *set, const char *jobfile, dn_err_t *err)
{
    const int nb = set->n_bins;
    if (nb < 1 || !set->counts || !set->ref_mu || !set->ref_sigma ||
        (set->n_runs > 0 && (!set->run || !set->score || !set->label)))
        return dn_err_set(err, DN_EINVAL, "figures of %s: no bins or no data",
                          set->hist_base ? set->hist_base : "?");
    int rc = DN_OK;
    double *buf = malloc(sizeof(double) * 4 * (size_t)nb);
    if (!buf)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    double *xt = buf, *sx2 = xt + nb, *unc = sx2 + nb, *pulls = unc + nb;
    if (!(dn_hist_normalise(xt, sx2, set->counts, set->variances, nb) > DN_EPS)) {
        rc = dn_err_set(err, DN_EINVAL, "figures of %s: the run has no entries",
                        set->hist_base ? set->hist_base : "?");
        goto done;
    }
    if (set->pulls)
        memcpy(pulls, set->pulls, sizeof(double) * (size_t)nb);
    else
        dn_hist_chi2(pulls, xt, sx2, set->ref_mu, set->ref_sigma, nb);
    for (int j = 0; j < nb; j++)
        unc[j] = sqrt(sx2[j]);
    dn_plot_job_t job = {set->hist_base, set->history_base,
                         {set->title, nb, set->edges, xt, unc, set->ref_mu, set->ref_sigma,
                          pulls, set->n_bins_y, set->edges_y},
                         set->history_title, set->n_runs, set->mark, set->run, set->score,
                         set->label, set->warning, set->threshold};
    rc = jobfile ? dn_plot_job_save(jobfile, &job, err) : dn_plot_job_run(&job, err);
done:
    free(buf);
    return rc;
}
