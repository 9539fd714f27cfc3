/* mlfile.h: DINAMO-ML weights as files: the self-describing DNML format
 * (architecture header, parameters, hash) and SPEC 3's raw float32 exchange
 * format (what the PyTorch reference writes), over lib/core/mlmodel.h's
 * in-memory forms. Files are written atomically (lib/io/fileio.h).
 *
 * Loading initial weights reads the file once (dn_mlfile_read) and gives the
 * bytes to every key's tracker (dn_ml_new_for in lib/core/dinamo_ml.h), which
 * tells the two formats apart (dn_mlmodel_import_any): one loader for the
 * offline tool, the trainer and scorer_ml.
 *
 * Thread rules: as mlmodel.h (a model is used by one thread at a time). */
#ifndef DN_MLFILE_H
#define DN_MLFILE_H

#include <stddef.h>

#include "error.h"
#include "mlmodel.h"

/* Reads weights file path whole into a new buffer *buf (caller frees) of
 * *len bytes, for dn_ml_setup_t.weights. Returns 0, DN_ENOTFOUND (no such
 * file), DN_EIO, DN_ENOMEM; *err names the file. */
int dn_mlfile_read(const char *path, void **buf, size_t *len, dn_err_t *err);

/* Writes m's parameters to path: DNML (dn_mlfile_save) or raw
 * (dn_mlfile_save_raw). Returns 0, DN_EIO, DN_ENOMEM; *err names the file. */
int dn_mlfile_save(const dn_mlmodel_t *m, const char *path, dn_err_t *err);
int dn_mlfile_save_raw(const dn_mlmodel_t *m, const char *path, dn_err_t *err);

/* Loads path into m: a DNML file (dn_mlfile_load: architecture must match,
 * DN_EFORMAT for anything that is not DNML) or a raw one (dn_mlfile_load_raw).
 * Returns 0, DN_ENOTFOUND, DN_EIO, or the import codes of mlmodel.h; *err
 * names the file. The model is unchanged on failure. */
int dn_mlfile_load(dn_mlmodel_t *m, const char *path, dn_err_t *err);
int dn_mlfile_load_raw(dn_mlmodel_t *m, const char *path, dn_err_t *err);

/* Creates a model from a DNML file: architecture from its header, max_batch /
 * max_hist / optimizer settings from *sizes (NULL: defaults). On success
 * *out is a new model the caller owns. Returns 0, DN_ENOTFOUND, DN_EIO,
 * DN_EFORMAT, DN_ERANGE, DN_EINVAL or DN_ENOMEM. */
int dn_mlfile_new_model(const char *path, const dn_mlconfig_t *sizes, dn_mlmodel_t **out,
                        dn_err_t *err);

#endif
