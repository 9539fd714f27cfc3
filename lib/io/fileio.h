/* fileio.h: atomic output files and small file-system helpers.
 *
 * An output file is written under a unique temporary name in the directory of
 * its final path and renamed over that path only when every byte has been
 * written, flushed and fsynced: a reader sees either the old file or the
 * complete new one, never a half-written one, and a failed write leaves the
 * final path untouched and no temporary file behind.
 *
 *     dn_outfile_t *out = dn_outfile_open("dir/runs.csv", &err);
 *     if (!out) goto fail;
 *     fprintf(dn_outfile_stream(out), ...);
 *     if (dn_outfile_commit(&out, &err)) goto fail;   // out is NULL afterwards
 *   fail:
 *     dn_outfile_abort(&out);                         // no-op when NULL
 *
 * Thread rules: a dn_outfile_t belongs to one thread at a time; the functions
 * keep no global state apart from an atomic counter used for unique names. */
#ifndef DN_FILEIO_H
#define DN_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"

typedef struct dn_outfile_t dn_outfile_t;

/* Creates a new temporary file ".NAME.PID.N.tmp" beside `path` (same
 * directory) and opens it for writing with mode 0666 minus the umask. `path`
 * "-" means standard output (no temporary file; commit just flushes).
 * Returns a new object the caller owns (release it with commit or abort), or
 * NULL on failure with *err set (DN_EIO: "cannot create DIR/.x.1.0.tmp:
 * Permission denied"; DN_ENOMEM; DN_EINVAL for an empty path). */
dn_outfile_t *dn_outfile_open(const char *path, dn_err_t *err);

/* The stream to write to. Owned by `self`; do not fclose it. */
FILE *dn_outfile_stream(dn_outfile_t *self);

/* Flushes, checks the stream for write errors, fsyncs, closes and renames the
 * temporary file over the final path (then fsyncs the directory, best effort),
 * and frees the object; *self_p becomes NULL whatever the outcome. On any
 * failure the temporary file is removed and the final path is untouched.
 * Returns 0, DN_EIO (*err names the file and the system's reason) or
 * DN_EINVAL (self_p or *self_p NULL). */
int dn_outfile_commit(dn_outfile_t **self_p, dn_err_t *err);

/* dn_outfile_commit without its two fsyncs (the file's and the directory's):
 * still renamed only when every byte was written, so a reader never sees a
 * half-written file, but not yet durable. For bulk writers of many files
 * (a ROOT dataset, one file per run), which call dn_sync_fs once at the end
 * instead of paying two disk flushes per file. Returns as dn_outfile_commit. */
int dn_outfile_commit_unsynced(dn_outfile_t **self_p, dn_err_t *err);

/* Makes everything written to the file system holding dir durable
 * (syncfs(2)). Returns 0 or DN_EIO naming dir and the reason. */
int dn_sync_fs(const char *dir, dn_err_t *err);

/* Closes and removes the temporary file and frees the object; accepts NULL and
 * *self_p == NULL; sets *self_p to NULL. The final path is never touched. */
void dn_outfile_abort(dn_outfile_t **self_p);

/* Creates directory `path` and any missing parents (like mkdir -p, mode 0777
 * minus the umask). An existing directory is success. Returns 0 or DN_EIO
 * ("cannot create directory a/b: Not a directory"), DN_EINVAL, DN_ENOMEM. */
int dn_mkdirs(const char *path, dn_err_t *err);

/* Reads the whole file `path` into a new NUL-terminated buffer *buf_out (the
 * caller frees it); *len_out (may be NULL) receives the length without the
 * NUL. Works for pipes and other non-regular files too. Returns 0, DN_EIO
 * ("cannot open x.csv: No such file or directory") or DN_ENOMEM; on failure
 * *buf_out is NULL. */
int dn_read_file(const char *path, char **buf_out, size_t *len_out, dn_err_t *err);

#endif
