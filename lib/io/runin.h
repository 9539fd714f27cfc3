/* runin.h: one run as read from an input file (UHI JSON, a row of a runs CSV or
 * of an .npz dataset), before it becomes a dataset row or a Run message.
 *
 * A run keeps the histograms that were read correctly and, for those that were
 * not, one problem message each ("run_000123.json: histogram \"calo/e\": bin 4:
 * negative count -2"): a broken histogram is left out, the rest of the run goes
 * on. Histograms keep the file's order.
 *
 * Invariants of every kept histogram: key non-empty, n_bins >= 1, counts
 * [n_bins] finite and >= 0, variances NULL or [n_bins] finite and >= 0, edges
 * NULL or [n_bins + 1] finite and strictly increasing.
 *
 * A 2-D histogram (n_bins_y > 0) of nx by ny bins is monitored flattened,
 * n_bins = nx * ny, bin (ix, iy) at index ix * ny + iy: x outer, y inner, the
 * order of UHI's nested values[ix][iy] and of numpy's C order. Its edges are
 * then NULL or [nx + 1] (x axis) and edges_y NULL or [ny + 1] (y axis), both
 * set or both NULL. The same order holds everywhere a 2-D histogram is
 * flattened: datasets, Run messages, scores, figures (README, "Inputs").
 *
 * The struct is plain data; dn_runin_destroy() frees it and everything it
 * points to. Thread rules: not synchronised; one owner at a time. */
#ifndef DN_RUNIN_H
#define DN_RUNIN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct dn_histin_t {
    char *key;         /* histogram name, unique within the run */
    char *subsystem;   /* never NULL (may be "") */
    int n_bins;
    double *counts;    /* [n_bins] monitored bins (flow bins removed) */
    double *variances; /* [n_bins] or NULL: Poisson */
    double *edges;     /* [n_bins + 1] or NULL; 2-D: [nx + 1] or NULL */
    int n_bins_y;      /* 0: 1-D; > 0: 2-D with ny = n_bins_y, nx = n_bins / ny */
    double *edges_y;   /* 2-D: [ny + 1] or NULL; 1-D: NULL */
} dn_histin_t;

typedef struct dn_runin_t {
    char *source;      /* where it was read from (file name), or NULL */
    int64_t run_number;
    double time;       /* Unix seconds, NAN when the input does not say */
    int8_t label;      /* -1 unknown, 0 good, 1 bad */
    int n_hist;
    dn_histin_t *hist; /* [n_hist] */
    int n_problems;
    char **problems;   /* [n_problems] one message per histogram left out */
} dn_runin_t;

/* Frees what h owns and zeroes it (the struct itself is the caller's). */
void dn_histin_clear(dn_histin_t *h);

/* A new empty run (no histograms, label -1, time NAN), or NULL (memory). */
dn_runin_t *dn_runin_new(int64_t run_number);

/* Frees *self_p and everything it owns; accepts NULL; sets *self_p to NULL. */
void dn_runin_destroy(dn_runin_t **self_p);

/* Appends a problem message (printf format). Returns 0 or DN_ENOMEM. */
int dn_runin_problem(dn_runin_t *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The histogram with this key, or NULL. */
const dn_histin_t *dn_runin_find(const dn_runin_t *run, const char *key);

/* The run number in a file name: the last group of decimal digits of its base
 * name without extension ("runs/run_000123.json" -> 123, "2024-06-01_7.json"
 * -> 7). Returns 0, or DN_ENOTFOUND when the name has no digits, DN_ERANGE when
 * they overflow int64. */
int dn_run_number_from_name(const char *path, int64_t *out);

#endif
