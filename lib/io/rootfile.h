/* rootfile.h: reads ROOT files without ROOT: the file header, the directory
 * tree, the keys, and the payload of any key, decompressed.
 *
 * A ROOT file starts with "root", its format version and the offsets of its
 * parts (32-bit in a small file, 64-bit once the version is 1000000 or more);
 * at fBEGIN the key of the file itself, then its name and title, then the
 * top directory's record, which points at its keys list. Each key (TKey)
 * names one object: class, name, title, cycle, where its bytes are, how many
 * are stored and how many there are once decompressed (rootzip.h). A key of
 * class TDirectory or TDirectoryFile is a directory: its payload is a
 * directory record pointing at the keys list of its own, and so on down to
 * any depth.
 *
 * dn_root_file_open() reads the header and walks the whole directory tree
 * once, so the keys are listed in memory: every object that is not a
 * directory, by path ("dir/sub/name", directory names joined by '/'), with
 * only the highest cycle of each name in a directory (ROOT's rule: a later
 * cycle replaces an earlier one). Histograms (TH1C/S/I/F/D, TH2C/S/I/F/D) are
 * marked by their dimension; any other object (profiles, trees, 3-D
 * histograms, graphs...) is listed with the reason it is left out.
 *
 * Every length and offset read from the file is checked against the file's
 * size and the record it lies in. A directory whose keys list cannot be read
 * (truncated, corrupted, or pointing into itself) becomes a problem message
 * naming the file and the directory, and the rest of the tree goes on; a
 * key whose payload cannot be read is an error of that read only. Only a
 * file whose header or top keys list is unreadable fails to open.
 *
 * Thread rules: a dn_root_file_t is not synchronised; use one per thread, or
 * serialise the calls. Reading payloads uses pread, so separate objects on the
 * same path are independent. */
#ifndef DN_ROOTFILE_H
#define DN_ROOTFILE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "roothist.h"

typedef struct dn_root_file_t dn_root_file_t;

/* Largest decompressed object read (a histogram of 16 million double bins
 * with its sums of squares is 256 MiB); a larger fObjlen is refused before
 * any allocation. */
#define DN_ROOT_MAX_OBJECT (256u << 20)
/* Deepest directory nesting followed. */
#define DN_ROOT_MAX_DEPTH 64

typedef struct dn_root_key_t {
    char *path;          /* "dir/sub/name"; "name" at the top */
    char *dir;           /* "dir/sub"; "" at the top */
    char *name;          /* the key's name */
    char *class_name;    /* "TH1F", "TTree", ... */
    char *title;
    int cycle;           /* the highest of its name in its directory */
    dn_root_kind_t kind; /* roothist.h: 1-D, 2-D histogram or other */
    const char *reason;  /* DN_ROOT_OTHER: why it is left out (static text) */
    int64_t seek;        /* offset of the key's record in the file */
    int64_t nbytes;      /* record length: key header and stored payload */
    int64_t objlen;      /* payload length decompressed */
    int keylen;          /* key header length */
} dn_root_key_t;

/* Opens the file at path and reads its directory tree. On success *out is a
 * new file the caller owns (dn_root_file_destroy); the path is kept for
 * messages. Returns 0; DN_EIO (cannot open or read: "x.root: No such file or
 * directory"); DN_EFORMAT (not a ROOT file, or its header or top keys list is
 * wrong: "x.root: header: the file ends at byte 4096, the header says
 * 10240 (truncated?)"); DN_ENOMEM. */
int dn_root_file_open(const char *path, dn_root_file_t **out, dn_err_t *err);

/* Same for len bytes in memory (not copied; they must outlive the file
 * object); `name` stands for the file in messages. For tests and fuzzing. */
int dn_root_file_open_mem(const void *data, size_t len, const char *name,
                          dn_root_file_t **out, dn_err_t *err);

/* Closes the file and frees everything, keys included; accepts NULL and
 * *self_p == NULL; sets *self_p to NULL. */
void dn_root_file_destroy(dn_root_file_t **self_p);

/* The name given at open. Owned by f. */
const char *dn_root_file_name(const dn_root_file_t *f);

/* ROOT's format version of the file (e.g. 62806 for 6.28/06; large files
 * have 1000000 added) and its compression setting (algorithm * 100 +
 * level). */
int dn_root_file_version(const dn_root_file_t *f);
int dn_root_file_compression(const dn_root_file_t *f);

/* Number of listed keys, and key i (0 <= i < n) in file order, directories
 * depth first. Owned by f; valid until it is destroyed. */
int dn_root_file_n_keys(const dn_root_file_t *f);
const dn_root_key_t *dn_root_file_key(const dn_root_file_t *f, int i);

/* Index of the key with this path ("dir/name"), or -1. */
int dn_root_file_find(const dn_root_file_t *f, const char *path);

/* Directories that could not be read: number, and message i ("x.root:
 * directory \"a/b\": keys list: ..."). Owned by f. */
int dn_root_file_n_problems(const dn_root_file_t *f);
const char *dn_root_file_problem(const dn_root_file_t *f, int i);

/* Reads the payload of key (any key of this file, listed or from
 * dn_root_file_scan) into a new buffer *buf of *len == key->objlen bytes,
 * decompressed; the caller frees *buf. Returns 0; DN_EFORMAT (lengths that
 * do not fit the file, a bad compressed block: "x.root: key \"a/h;1\":
 * compressed block 1 at offset 0: zlib: invalid distance too far back");
 * DN_ERANGE (objlen above DN_ROOT_MAX_OBJECT); DN_EIO; DN_ENOMEM. On failure
 * *buf is NULL. */
int dn_root_file_payload(dn_root_file_t *f, const dn_root_key_t *key, unsigned char **buf,
                         size_t *len, dn_err_t *err);

/* Reads histogram key i into a new dn_root_hist_t (roothist.h) the caller
 * owns. Returns 0; DN_EINVAL (i out of range); DN_ENOTFOUND (key i is not a
 * histogram: the message gives the reason); as dn_root_file_payload; as
 * dn_root_hist_decode. Errors name the file and the key. */
int dn_root_file_read_hist(dn_root_file_t *f, int i, dn_root_hist_t **out, dn_err_t *err);

/* The ROOT files of directory dir: its entries named *.root (hidden ones
 * left out), as full paths "dir/name" sorted by name, into a new array of
 * *n strings (the caller frees each and the array; NULL when *n is 0).
 * Returns 0, DN_EIO (*err: "dir: No such file or directory"), DN_ENOMEM. */
int dn_root_dir_list(const char *dir, char ***paths, int *n, dn_err_t *err);

/* Visits every record of the file in order from fBEGIN to fEND, as ROOT's
 * TFile::Map does: each is a key (objects, keys lists, streamer infos, tree
 * baskets...), free gaps are skipped. visit gets a key whose path, dir and
 * name are the record's name (the strings live until visit returns); a
 * non-zero return from visit stops the walk and is returned. Returns 0,
 * visit's value, or DN_EFORMAT / DN_EIO for a record that cannot be read
 * (the walk stops there: records have no other index). */
int dn_root_file_scan(dn_root_file_t *f, int (*visit)(void *ctx, const dn_root_key_t *key),
                      void *ctx, dn_err_t *err);

#endif
