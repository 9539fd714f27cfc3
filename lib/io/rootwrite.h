/* rootwrite.h: writes ROOT files that ROOT and JSROOT open: TH1D and TH2D
 * histograms (fixed or variable bins, flow bins, sums of squared weights)
 * in directories at any depth, uncompressed or compressed.
 *
 * The smallest correct subset of the format: a small file (below 2 GB:
 * 32-bit offsets; or, asked for, ROOT's large layout with 64-bit offsets)
 * holding the header, the top directory, one key per
 * histogram, one key and one keys list per directory, the streamer infos of
 * the classes written (TH1D, TH2D and their bases and members, as ROOT 6.28
 * describes them, so ROOT checks them against its own), and the free
 * segments record ROOT expects at the end. A histogram is written as ROOT
 * 6.28 writes a TH1D/TH2D with default drawing attributes (roothist.h,
 * dn_root_hist_encode).
 *
 *     dn_root_writer_t *w = NULL;
 *     if (dn_root_writer_open("run_000123.root", NULL, &w, &err)) goto fail;
 *     if (dn_root_writer_add(w, "DQMData/Run 123/Calo/Run summary", h, &err)) goto fail;
 *     if (dn_root_writer_close(&w, &err)) goto fail;     // w is NULL afterwards
 *   fail:
 *     dn_root_writer_abort(&w);                          // no-op when NULL
 *
 * The file is assembled in memory and written at close through dn_outfile
 * (fileio.h): a temporary file renamed over the path, so a failure leaves
 * no half-written ROOT file.
 *
 * Thread rules: a writer belongs to one thread; no global state. */
#ifndef DN_ROOTWRITE_H
#define DN_ROOTWRITE_H

#include <stdint.h>

#include "error.h"
#include "roothist.h"

typedef struct dn_root_writer_t dn_root_writer_t;

typedef struct dn_root_write_opts_t {
    /* ROOT's setting (rootzip.h): 0 uncompressed, 101..109 zlib (the default,
     * 101), also 2xx LZMA, 4xx LZ4, 5xx ZSTD. */
    int compression;
    /* Unix seconds stamped on keys and directories; 0: the current time.
     * With a fixed time the same histograms give the same bytes. */
    int64_t time;
    const char *title; /* the file's title; NULL: "" */
    /* 1: ROOT's large layout (64-bit offsets in the header, keys and
     * directories, as ROOT writes past 2 GB) whatever the size; 0: small,
     * refused past 2000000000 bytes. */
    int large;
    /* 1: committed without fsync (dn_outfile_commit_unsynced), for writers
     * of many files that call dn_sync_fs once at the end; 0: durable. */
    int unsynced;
} dn_root_write_opts_t;

/* Starts a ROOT file to be written at path (created at close). opts NULL:
 * zlib level 1, current time, no title. Returns 0; DN_EINVAL (empty path,
 * bad compression setting: *err says which); DN_ENOMEM. *out is a new
 * writer the caller owns (close or abort it). */
int dn_root_writer_open(const char *path, const dn_root_write_opts_t *opts,
                        dn_root_writer_t **out, dn_err_t *err);

/* Adds histogram h (dim 1: TH1D, dim 2: TH2D, whatever h->class_name says;
 * h is copied into the file, the caller keeps it) under the key h->name in
 * directory `dir` ("a/b", directories made as needed; NULL or "" the top).
 * A name added twice in one directory gets the next cycle (ROOT's rule).
 * Returns 0; DN_EINVAL (no name, a name or directory with '/' or ';' where
 * it cannot be, inconsistent histogram: *err says which); DN_ERANGE (a small
 * file would pass 2000000000 bytes, or one object 2 GiB); DN_ENOMEM. */
int dn_root_writer_add(dn_root_writer_t *w, const char *dir, const dn_root_hist_t *h,
                       dn_err_t *err);

/* Writes the keys lists, streamer infos, free segments and header, and
 * commits the file; frees the writer and sets *w_p to NULL whatever the
 * outcome. Returns 0, DN_EIO (*err names the file and the system's reason),
 * DN_ERANGE (a small file over 2000000000 bytes), DN_ENOMEM, DN_EINVAL (w_p
 * or *w_p NULL). */
int dn_root_writer_close(dn_root_writer_t **w_p, dn_err_t *err);

/* Frees the writer without writing anything; accepts NULL and *w_p NULL;
 * sets *w_p to NULL. */
void dn_root_writer_abort(dn_root_writer_t **w_p);

#endif
