/* rootname.h: the key, subsystem and run number of a histogram in a ROOT
 * file, the rules of issue 19 ("Where the key, subsystem and run come
 * from"), in one place for the feed and `dinamo inspect`.
 *
 *   - CMS DQM layout: a path DQMData/Run N/<Sub>/Run summary/<path> gives
 *     run N, subsystem <Sub> and key "<Sub>/<path>". Below DQMData/Run N/<Sub>/
 *     another folder than "Run summary" (a lumisection range...) stays in the
 *     key: "<Sub>/<folder>/<path>".
 *   - Otherwise the path in the file is the key ("dir/sub/name"; a
 *     histogram at the top is its name), its first directory the subsystem
 *     ("" at the top), and the run number comes from the file name as for
 *     UHI files: the last group of digits of the base name without extension
 *     (run_000123.root -> 123; runin.h, dn_run_number_from_name).
 *   - A subsystem set in the options replaces the one from the path.
 *
 * Thread rules: no shared state; call from any thread. */
#ifndef DN_ROOTNAME_H
#define DN_ROOTNAME_H

#include <stdint.h>

#include "error.h"

typedef struct dn_root_naming_t {
    const char *subsystem; /* every histogram's subsystem, or NULL: from the path */
} dn_root_naming_t;

/* Names the histogram at `path` (as rootfile.h lists it) of the ROOT file
 * `file` (a path; its base name gives the run when the layout does not).
 * opts may be NULL. On success *key and *subsystem are new strings the
 * caller frees, *run the run number and *has_run 1, or *has_run 0 when
 * neither the layout nor the file name gives one. Returns 0; DN_ERANGE (a
 * run number beyond int64: *err names the file or the folder); DN_ENOMEM. */
int dn_root_name(const char *file, const char *path, const dn_root_naming_t *opts, char **key,
                 char **subsystem, int64_t *run, int *has_run, dn_err_t *err);

/* Whether path has the CMS DQM layout (DQMData/Run N/<Sub>/...): 1 with *run
 * = N, or 0 (also when N is beyond int64: dn_root_name names that). */
int dn_root_dqm_run(const char *path, int64_t *run);

#endif
