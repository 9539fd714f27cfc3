/* roothist.h: ROOT's histogram objects TH1C/S/I/F/D and TH2C/S/I/F/D,
 * decoded from their serialised bytes into a plain struct, and encoded back
 * (TH1D and TH2D) for the writer (rootwrite.h).
 *
 * The streamers are those ROOT 4.00 to 6.28 write: every class behind a
 * version and a byte count (rootbuf.h), so what is not needed is skipped:
 *   TH1x   = TH1, then TArrayx (the bins: a 4-byte count and the values)
 *   TH2x   = TH2 (TH1, then fScalefactor, fTsumwy, fTsumwy2, fTsumwxy), TArrayx
 *   TH1    = TNamed, TAttLine, TAttFill, TAttMarker, fNcells, three TAxis,
 *            fBarOffset, fBarWidth, fEntries, fTsumw, fTsumw2, fTsumwx,
 *            fTsumwx2, fMaximum, fMinimum, fNormFactor, fContour (TArrayD),
 *            fSumw2 (TArrayD), then members skipped (options, functions...)
 *   TAxis  = TNamed, TAttAxis, fNbins, fXmin, fXmax, fXbins (TArrayD), then
 *            members skipped (labels, time format...)
 *   TNamed = TObject (version, fUniqueID, fBits, a process id when
 *            referenced), fName, fTitle
 * Versions read: TH1 2..8, TH2 3..5, TH1x 1..3, TH2x 3..4, TAxis 5..10 (the
 * prefix above is the same in all of them); an older or newer version is
 * refused by name rather than misread.
 *
 * The bins are kept as ROOT stores them, flow bins included: values[(nx + 2)
 * * iy + ix] for 2-D (x fastest), ix and iy from 0 (underflow) to n + 1
 * (overflow); for 1-D values[ix]. variances (ROOT's fSumw2, the sums of
 * squared weights) has the same layout, or is NULL when the histogram does
 * not store them (then the variance of a bin is its count). Bin edges come
 * from fXbins when the axis has variable bins, else ROOT's rule
 * xmin + i * ((xmax - xmin) / n).
 *
 * dn_root_hist_inner() drops the flow bins into the monitored layout, the
 * same as UHI's nested values: [ix][iy], ix outer, ix*ny + iy.
 *
 * Checks: every count against the bytes left, fNcells and the bins stored
 * against the axes ((nx + 2) * (ny + 2)), fSumw2 either empty or as long as
 * the bins, axes with 1..DN_ROOT_MAX_BINS bins, finite limits xmin < xmax,
 * variable edges finite and strictly increasing. Bin contents are returned
 * as stored (NaN or negative values are the caller's to judge).
 *
 * Thread rules: no shared state; a dn_root_hist_t is plain data with one
 * owner. */
#ifndef DN_ROOTHIST_H
#define DN_ROOTHIST_H

#include <stddef.h>

#include "error.h"
#include "rootbuf.h"

/* Most bins in one axis (ROOT allows 2^31; a monitored histogram has far
 * fewer), and in a whole histogram flow bins included. */
#define DN_ROOT_MAX_BINS 10000000
#define DN_ROOT_MAX_CELLS 16777216

typedef enum {
    DN_ROOT_OTHER = 0, /* not read: see the key's reason */
    DN_ROOT_TH1 = 1,   /* TH1C/S/I/F/D */
    DN_ROOT_TH2 = 2,   /* TH2C/S/I/F/D */
} dn_root_kind_t;

typedef struct dn_root_axis_t {
    int n_bins;        /* >= 1 */
    double xmin, xmax; /* fXmin, fXmax as stored */
    int variable;      /* 1 when fXbins gave the edges */
    double *edges;     /* [n_bins + 1] strictly increasing */
    char *name;        /* "xaxis" */
    char *title;
} dn_root_axis_t;

typedef struct dn_root_hist_t {
    char *class_name;     /* "TH1F" */
    char *name;           /* fName */
    char *title;          /* fTitle */
    int dim;              /* 1 or 2 */
    dn_root_axis_t axis[2]; /* x, and y when dim == 2 (else zeroed) */
    int n_cells;          /* (nx + 2) or (nx + 2) * (ny + 2) */
    double *values;       /* [n_cells] flow bins included, x fastest */
    double *variances;    /* [n_cells] fSumw2, or NULL (not stored) */
    double entries;       /* fEntries */
    double tsumw, tsumw2, tsumwx, tsumwx2; /* ROOT's running sums */
    double tsumwy, tsumwy2, tsumwxy;       /* 2-D only (0 for 1-D) */
} dn_root_hist_t;

/* What a key of class `class_name` is: DN_ROOT_TH1, DN_ROOT_TH2, or
 * DN_ROOT_OTHER with *reason (nullable) set to a static sentence ("a
 * profile: its bins are means, not counts"). Directories are not asked. */
dn_root_kind_t dn_root_class_kind(const char *class_name, const char **reason);

/* Decodes the len bytes of a TH1x/TH2x payload (decompressed) of class
 * `class_name` into a new histogram *out the caller owns. Returns 0;
 * DN_EFORMAT (*err says which member at which offset: "TAxis fXbins: 11
 * edges for 20 bins"); DN_EMISMATCH (a class version outside those read);
 * DN_EINVAL (class_name is not a histogram class read here); DN_ENOMEM. On
 * failure *out is NULL. */
int dn_root_hist_decode(const unsigned char *data, size_t len, const char *class_name,
                        dn_root_hist_t **out, dn_err_t *err);

/* A new zeroed histogram of `dim` axes (1 or 2) with nx (and ny) bins of
 * edges xedges[nx + 1] (and yedges[ny + 1]), both copied; class "TH1D" or
 * "TH2D", name and title copied (NULL: ""), values zero, variances NULL
 * (with_variances != 0: zero too). For writers and tests. Returns NULL on
 * bad arguments (edges not strictly increasing and finite, bins outside
 * 1..DN_ROOT_MAX_BINS, too many cells) or memory. */
dn_root_hist_t *dn_root_hist_new(int dim, const char *name, const char *title, int nx,
                                 const double *xedges, int ny, const double *yedges,
                                 int with_variances);

/* Frees *self_p and everything it owns; accepts NULL; sets *self_p to NULL. */
void dn_root_hist_destroy(dn_root_hist_t **self_p);

/* Number of monitored bins: nx, or nx * ny. */
int dn_root_hist_n_inner(const dn_root_hist_t *h);

/* Index into values/variances of bin (ix, iy), 1-based as ROOT counts (0 the
 * underflow, n + 1 the overflow); iy is ignored for 1-D. */
int dn_root_hist_cell(const dn_root_hist_t *h, int ix, int iy);

/* Copies the monitored bins (flow bins dropped) into values[n_inner] and,
 * when variances is not NULL, the variances into variances[n_inner]: fSumw2
 * when stored, else the counts (ROOT's rule for unweighted histograms).
 * Order [ix][iy], ix outer: element (ix - 1) * ny + (iy - 1). */
void dn_root_hist_inner(const dn_root_hist_t *h, double *values, double *variances);

/* Serialises h as a TH1D (dim 1) or TH2D (dim 2) payload, ROOT 6 versions
 * (TH1D 3, TH2D 4, TH1 8, TH2 5, TAxis 10), appended to w. fEntries is
 * h->entries; the running sums are h's. Returns 0, DN_EINVAL (dim not 1 or
 * 2, inconsistent sizes) or DN_ENOMEM. */
int dn_root_hist_encode(const dn_root_hist_t *h, dn_root_wbuf_t *w, dn_err_t *err);

#endif
