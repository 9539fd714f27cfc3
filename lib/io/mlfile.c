/* mlfile.c: DINAMO-ML weights files over the in-memory formats of mlmodel.c
 * (see mlfile.h). Writing goes through fileio's atomic output files, reading
 * through dn_read_file, with a missing file told apart as DN_ENOTFOUND. */
#include "mlfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"

int dn_mlfile_read(const char *path, void **buf, size_t *len, dn_err_t *err)
{
    struct stat st;
    *buf = NULL;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return dn_err_set(err, DN_ENOTFOUND, "%s: no such weights file", path);
    char *text = NULL;
    int rc = dn_read_file(path, &text, len, err);
    if (rc)
        return rc;
    *buf = text;
    return 0;
}

/* Writes n bytes that export(m, buf, cap) fills to path, atomically. */
static int save_with(const dn_mlmodel_t *m, const char *path, size_t n,
                     int (*export)(const dn_mlmodel_t *, void *, size_t), dn_err_t *err)
{
    int rc = 0;
    dn_outfile_t *out = NULL;
    unsigned char *buf = malloc(n);
    if (!buf) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory for %zu bytes", path, n);
        goto fail;
    }
    export(m, buf, n);
    if (!(out = dn_outfile_open(path, err))) {
        rc = err ? err->code : DN_EIO;
        goto fail;
    }
    if (fwrite(buf, 1, n, dn_outfile_stream(out)) != n) {
        rc = dn_err_set(err, DN_EIO, "%s: write failed: %s", path, strerror(errno));
        goto fail;
    }
    rc = dn_outfile_commit(&out, err);
fail:
    dn_outfile_abort(&out);
    free(buf);
    return rc;
}

int dn_mlfile_save(const dn_mlmodel_t *m, const char *path, dn_err_t *err)
{
    return save_with(m, path, dn_mlmodel_blob_size(m), dn_mlmodel_export_blob, err);
}

int dn_mlfile_save_raw(const dn_mlmodel_t *m, const char *path, dn_err_t *err)
{
    return save_with(m, path, dn_mlmodel_raw_size(m), dn_mlmodel_export_raw, err);
}

/* Reads path and hands its bytes to import(m, ...). */
static int load_with(dn_mlmodel_t *m, const char *path,
                     int (*import)(dn_mlmodel_t *, const void *, size_t, dn_err_t *),
                     dn_err_t *err)
{
    void *buf = NULL;
    size_t n = 0;
    int rc = dn_mlfile_read(path, &buf, &n, err);
    if (!rc && (rc = import(m, buf, n, err)))
        dn_err_prefix(err, "%s", path);
    free(buf);
    return rc;
}

int dn_mlfile_load(dn_mlmodel_t *m, const char *path, dn_err_t *err)
{
    return load_with(m, path, dn_mlmodel_import_blob, err);
}

int dn_mlfile_load_raw(dn_mlmodel_t *m, const char *path, dn_err_t *err)
{
    return load_with(m, path, dn_mlmodel_import_raw, err);
}

int dn_mlfile_new_model(const char *path, const dn_mlconfig_t *sizes, dn_mlmodel_t **out,
                        dn_err_t *err)
{
    void *buf = NULL;
    size_t n = 0;
    dn_mlmodel_t *m = NULL;
    dn_mlconfig_t cfg;
    int rc = dn_mlfile_read(path, &buf, &n, err);
    if (rc)
        return rc;
    if ((rc = dn_mlblob_config(buf, n, &cfg, err)))
        goto fail;
    if (sizes) {
        cfg.max_batch = sizes->max_batch;
        cfg.max_hist = sizes->max_hist;
        cfg.lr = sizes->lr;
        cfg.beta1 = sizes->beta1;
        cfg.beta2 = sizes->beta2;
        cfg.eps = sizes->eps;
        cfg.weight_decay = sizes->weight_decay;
    }
    if ((rc = dn_mlconfig_check(&cfg, err)))
        goto fail;
    if (!(m = dn_mlmodel_new(&cfg, 0))) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory for the model");
        goto fail;
    }
    if ((rc = dn_mlmodel_import_blob(m, buf, n, err)))
        goto fail;
    free(buf);
    *out = m;
    return 0;
fail:
    dn_mlmodel_destroy(&m);
    free(buf);
    dn_err_prefix(err, "%s", path);
    return rc;
}
