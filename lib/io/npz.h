/* npz.h: NumPy .npz archives (numpy.savez / savez_compressed) and the DINAMO
 * datasets that the Python reference implementation stores in them.
 *
 * An .npz is a ZIP archive of .npy files, one per array, stored or deflated,
 * with ZIP64 records (numpy forces them). Every member's CRC-32 is checked, so a
 * truncated or corrupted file is an error, not a silently shorter array. Arrays
 * of numeric dtypes (bool, int8..int64, uint8..uint64, float32, float64, either
 * byte order, C or Fortran order) are converted to double in C order; object
 * arrays (pickles, such as the reference's "inputs" dict) are listed but never
 * unpickled.
 *
 * A reference dataset has x [n_runs][n_bins] (counts), y [n_runs] (0 good, 1
 * bad) and, when present, mu and sigma [n_runs] (the generating Gaussian),
 * inds_for_rapid_changes_μ and _σ (indices of runs where a rapid change
 * starts), I0 [n_runs] (events drawn) and number_of_dead_bins [n_runs]. It
 * becomes a dn_dataset_t with run numbers 0..n_runs-1 and the SPEC 1 default
 * bin edges (-5 to 5, as the reference generator's), truth set when mu and
 * sigma are present (events and dead bins -1, unknown, where I0 or
 * number_of_dead_bins is missing or holds no count).
 *
 * Thread rules: no shared state; call from any thread. */
#ifndef DN_NPZ_H
#define DN_NPZ_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "error.h"

#define DN_NPY_MAX_DIMS 8

typedef struct dn_npy_t {
    char *name;                    /* member name without ".npy" (UTF-8) */
    char dtype[16];                /* numpy descr, e.g. "<f8", "|O" */
    int ndim;
    int64_t shape[DN_NPY_MAX_DIMS];
    int64_t size;                  /* product of the shape */
    double *data;                  /* [size] in C order; NULL for object arrays */
} dn_npy_t;

typedef struct dn_npz_t {
    int n;
    dn_npy_t *arrays;              /* [n] in archive order */
} dn_npz_t;

/* Reads every array of the archive at path. On success *out is new and the
 * caller owns it (dn_npz_destroy). Returns 0; DN_EIO; DN_EFORMAT (not a ZIP,
 * truncated, CRC mismatch, a member that is not .npy, a bad .npy header,
 * unsupported dtype, data length not matching the shape; err names the file
 * and member); DN_ENOMEM. */
int dn_npz_read(const char *path, dn_npz_t **out, dn_err_t *err);

/* As dn_npz_read, from the len bytes at buf (the caller keeps them; nothing
 * points into them afterwards); path only names the archive in messages. A
 * member whose declared size is more than its data can hold (stored) or
 * inflate to (deflate, at most 1032:1) is DN_EFORMAT before any allocation. */
int dn_npz_read_mem(const void *buf, size_t len, const char *path, dn_npz_t **out,
                    dn_err_t *err);

/* Frees *self_p; accepts NULL; sets *self_p to NULL. */
void dn_npz_destroy(dn_npz_t **self_p);

/* The array with this name, or NULL. */
const dn_npy_t *dn_npz_get(const dn_npz_t *npz, const char *name);

/* Reads a reference dataset (see above) into a new dataset the caller owns.
 * Returns 0; as dn_npz_read; DN_EFORMAT (x missing or not 2-D, an array of the
 * wrong length, a label other than 0/1, an index out of range); DN_ERANGE
 * (NaN, infinite or negative count: err names run and bin); DN_ENOMEM. */
int dn_npz_read_dataset(const char *path, dn_dataset_t **out, dn_err_t *err);

/* As dn_npz_read_dataset, from the len bytes at buf; path names it in messages. */
int dn_npz_read_dataset_mem(const void *buf, size_t len, const char *path,
                            dn_dataset_t **out, dn_err_t *err);

#endif
