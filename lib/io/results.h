/* results.h: the files dinamo writes about its results, written the same way
 * by the offline `dinamo` command and by the services, so that a pipeline's
 * report and the offline tool's output compare byte for byte.
 *
 * Thread rules: none (each call writes to the stream it is given). */
#ifndef DN_RESULTS_H
#define DN_RESULTS_H

#include <stdio.h>

#include "evaluate.h"

/* Writes *r as one JSON object (one line, trailing newline) to f: the keys
 * `dinamo evaluate` prints (README "Outputs"); undefined values are null. */
void dn_eval_result_write_json(const dn_eval_result_t *r, FILE *f);

#endif
