/* view.h: the dashboard's JSON answers, rendered from the model (model.h).
 *
 * Each function writes one JSON document of the API that docs/dashboard.md
 * describes to f (a memory stream the HTTP layer sends). Every name that came
 * from outside (keys, subsystems, who, reasons) goes through writer.h's
 * escaping; the browser puts them in the page as text. Numbers that are not
 * finite are written as null.
 *
 * Thread rules: the caller holds the model's lock (read side) for the call. */
#ifndef DASH_VIEW_H
#define DASH_VIEW_H

#include <stdio.h>

#include "model.h"
#include "writer.h"

/* What /api/runs filters on; fields < 0 (or NULL) do not filter. */
typedef struct dash_filter_t {
    long long before;   /* run_seq < before; < 0: from the newest */
    int limit;          /* 1 .. 1000 */
    int severity;       /* dn_severity_t or -1 */
    int method;         /* 0, 1, or -1 (the worse of both) */
    int subsystem;      /* index, or -1 */
    int awaiting;       /* 1: only runs awaiting a verdict */
} dash_filter_t;

/* One run's summary object (the RUN of the API) as the next value of w. */
void dash_view_run(dn_jw_t *w, const dash_model_t *m, int seq);

/* GET /api/summary; user and csrf NULL when not logged in. */
int dash_view_summary(FILE *f, const dash_model_t *m, const char *user, const char *csrf,
                      int login_to_view);

/* The counts part alone (the SSE "summary" event). */
int dash_view_counts(FILE *f, const dash_model_t *m);

/* GET /api/runs. */
int dash_view_runs(FILE *f, const dash_model_t *m, const dash_filter_t *flt);

/* GET /api/run/SEQ: opens the page's object and writes "run" and
 * "histograms" (ordered by the larger of the two scores, highest first); the
 * caller adds "labels" from the detail store and closes the object.
 * Returns 0, DN_ENOTFOUND (no such run), DN_ENOMEM. */
int dash_view_run_page(dn_jw_t *w, const dash_model_t *m, int seq);

/* GET /api/key?key=K. Returns 0 or DN_ENOTFOUND. */
int dash_view_key(FILE *f, const dash_model_t *m, int k);

/* GET /api/metrics: per key and method the confusion counts of the continual
 * regime against the labels that are truth (recorded or a person's). */
int dash_view_metrics(FILE *f, const dash_model_t *m);

/* The score fields of (k, seq) by method me as the next value (an object). */
void dash_view_score_fields(dn_jw_t *w, const dash_model_t *m, int k, int seq, int me);

#endif
