/* plot_draw.h: plot.c's drawing machinery for the other figure files of
 * lib/fig (not for callers outside it): one figure rendered once by PLplot
 * into BASE.png and BASE.svg, and the batched cairo primitives that keep an
 * SVG of thousands of points small. Colours are PLplot cmap0 indices; plot.c
 * sets 0..8 (white background, black ink, ...); 9..15 are free for a figure
 * file to set with plscol0a inside its draw function.
 *
 * Thread rules: PLplot keeps global state: one figure at a time. */
#ifndef DN_PLOT_DRAW_H
#define DN_PLOT_DRAW_H

#include "error.h"

/* Draws one figure of width x height pixels: draw(arg) runs with a fresh
 * PLplot stream (extcairo) and must check nothing (the caller checked the
 * input). Returns 0; DN_ENOTFOUND (no cairo driver); DN_EIO; DN_ENOMEM. */
int dn_plot_render(const char *base, int width, int height, void (*draw)(const void *arg),
                   const void *arg, dn_err_t *err);

/* Markers at (x[i], y[i]) in the current window, discs (cross 0) or crosses,
 * radius_px pixels, in cmap0 colour `colour` (its alpha used); inside draw. */
void dn_plot_markers(int n, const double *x, const double *y, int cross, double radius_px,
                     int colour);

/* A straight line in window coordinates, clipped to the viewport; inside draw. */
void dn_plot_line(double x0, double y0, double x1, double y1, double width_px, int dashed,
                  int colour);

/* The band between lo[m] and hi[m] over x[m] filled in the current colour,
 * one polygon per run of points where all three are finite; inside draw. */
void dn_plot_band(int m, const double *x, const double *lo, const double *hi);

/* y[m] over x[m] as lines through its runs of finite points, in the current
 * colour; inside draw. */
void dn_plot_curve(int m, const double *x, const double *y);

#endif
