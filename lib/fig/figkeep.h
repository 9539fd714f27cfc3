/* figkeep.h: the newest figure sets kept on disk, the older ones deleted.
 *
 * A service that draws the figures of every flagged run (the evaluator) would
 * otherwise fill the disk on a long stream (a set, a histogram figure and its
 * score history as PNG and SVG, is ~0.6 MB), and a cap on how many it draws
 * would leave the newest runs, the ones on shift, without figures. So it draws
 * every one and keeps the newest `keep`: a set is BASE.png, BASE.svg,
 * BASE_history.png and BASE_history.svg, where BASE is RUNS_DIR/run_<run>/NAME;
 * evicting one deletes its four files and its run directory once empty.
 *
 * Sets are evicted in the order they were added; at creation the sets already
 * under RUNS_DIR (from before a restart) are taken in run-number order, so a
 * restarted service goes on evicting the oldest first.
 *
 * Thread rules: an object belongs to one thread. Ownership: the caller owns
 * the object; strings passed in are copied. */
#ifndef DN_FIGKEEP_H
#define DN_FIGKEEP_H

#include "error.h"

typedef struct dn_figkeep_t dn_figkeep_t;

/* Keeps the newest keep sets under runs_dir (keep 0: all, nothing deleted).
 * Sets already there are counted (and the oldest evicted beyond keep); a
 * missing runs_dir is an empty one. Returns a new object, or NULL with *err
 * set (DN_EINVAL: keep < 0; DN_EIO: runs_dir unreadable; DN_ENOMEM). */
dn_figkeep_t *dn_figkeep_new(const char *runs_dir, int keep, dn_err_t *err);

/* Frees the object (no files are touched); accepts NULL and *self_p == NULL;
 * sets *self_p to NULL. */
void dn_figkeep_destroy(dn_figkeep_t **self_p);

/* Records the set at base (its files drawn, or failed and partly there) as the
 * newest, and evicts the oldest sets beyond keep. Returns 0; DN_EINVAL (base
 * longer than 4096 bytes; nothing recorded); DN_ENOMEM (nothing recorded);
 * DN_EIO (a file could not be deleted: named in *err; the set is forgotten
 * all the same). */
int dn_figkeep_add(dn_figkeep_t *self, const char *base, dn_err_t *err);

/* Sets kept now. */
int dn_figkeep_count(const dn_figkeep_t *self);

/* Sets evicted since creation (including at creation). */
long long dn_figkeep_evicted(const dn_figkeep_t *self);

#endif
