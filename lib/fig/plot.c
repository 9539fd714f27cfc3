/* plot.c: figures with PLplot (plot.h).
 *
 * Each figure opens its own PLplot stream on the extcairo device, drawing into
 * a cairo recording surface, and ends it (plend1), so figures never share
 * state. The recording is played once into an image, written as PNG by libpng
 * at a fast zlib level, and once into an SVG surface: PLplot draws each figure
 * once, not once per file format, and the PNG no longer costs cairo's default
 * compression (45% of a figure's time before). The many small things of a
 * figure are drawn in batches onto the same context (see "primitives" below).
 * Files are written under a temporary name and renamed into place. Colours
 * are set explicitly on a white background; PLplot's default palette is for a
 * black one. */
#include "plot.h"
#include "plot_draw.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <plplot.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "fileio.h"


enum { C_BG = 0, C_INK = 1, C_REF = 2, C_BAND = 3, C_DATA = 4, C_GREY = 5, C_WARN = 6,
       C_BAD = 7, C_GOOD = 8 };

static void palette(void)
{
    plscolbg(255, 255, 255);
    plscol0(C_INK, 0, 0, 0);
    plscol0(C_REF, 200, 30, 30);
    plscol0a(C_BAND, 240, 140, 140, 0.55);
    plscol0(C_DATA, 20, 20, 20);
    plscol0(C_GREY, 150, 150, 150);
    plscol0(C_WARN, 230, 140, 0);
    plscol0(C_BAD, 200, 0, 0);
    plscol0(C_GOOD, 30, 90, 200);
}

/* Once found, the device stays: a figure helper draws thousands of figures
 * and need not list PLplot's drivers for each. */
static int have_devices(dn_err_t *err)
{
    static int found;
    if (found)
        return DN_OK;
    const char **menu = NULL, **names = NULL;
    int n = 64, ext = 0;
    menu = calloc((size_t)n, sizeof *menu);
    names = calloc((size_t)n, sizeof *names);
    if (!menu || !names) {
        free(menu);
        free(names);
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    plgDevs(&menu, &names, &n);
    for (int i = 0; i < n; i++)
        ext |= names[i] && !strcmp(names[i], "extcairo");
    free(menu);
    free(names);
    if (!ext)
        return dn_err_set(err, DN_ENOTFOUND, "PLplot has no extcairo device: install "
                          "Debian's plplot-driver-cairo");
    found = 1;
    return DN_OK;
}

/* The figure being drawn: the cairo context PLplot draws into, for what is
 * drawn onto it directly (the batches below) and the page size in pixels.
 * PLplot keeps global state, so one figure at a time, like PLplot itself. */
static struct {
    cairo_t *cr;
    int width, height;
} figure;

typedef void (*draw_fn)(const void *arg);

/* Writes an RGB24 image surface as an 8-bit RGB PNG at zlib level 1 without
 * row filters: a plot is mostly long runs of one colour, which level 1 finds
 * as well as the slow levels do. Measured on a 5000-run history (bench_plot):
 * 119 kB in 5 ms of compression; level 9 gives 106 kB in 70 ms more; the Sub
 * and Up filters make it larger (150 kB) at the same speed. */
static int write_png(FILE *f, cairo_surface_t *img, const char *path, dn_err_t *err)
{
    const int w = cairo_image_surface_get_width(img), h = cairo_image_surface_get_height(img);
    const int stride = cairo_image_surface_get_stride(img);
    const unsigned char *data = cairo_image_surface_get_data(img);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char *volatile row = NULL;
    volatile int rc = DN_OK;
    if (!png || !info || !data || !(row = malloc(3 * (size_t)w))) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (setjmp(png_jmpbuf(png))) {
        rc = dn_err_set(err, DN_EIO, "%s: libpng failed writing the image", path);
        goto fail;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 1);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) {
        const uint32_t *px = (const uint32_t *)(const void *)(data + (size_t)y * stride);
        for (int x = 0; x < w; x++) { /* RGB24: 0x00RRGGBB in native order */
            row[3 * x] = (unsigned char)(px[x] >> 16);
            row[3 * x + 1] = (unsigned char)(px[x] >> 8);
            row[3 * x + 2] = (unsigned char)px[x];
        }
        png_write_row(png, row);
    }
    png_write_end(png, info);
fail:
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    free(row);
    return rc;
}

static cairo_status_t write_stream(void *closure, const unsigned char *data, unsigned int n)
{
    return fwrite(data, 1, n, closure) == n ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

/* Writes BASE.EXT under a temporary name and renames it into place, so that a
 * report being looked at never shows half a figure. kind 0: PNG, 1: SVG. */
static int save(const char *base, int kind, cairo_surface_t *rec, int width, int height,
                dn_err_t *err)
{
    char path[4200], tmp[4300];
    if (snprintf(path, sizeof path, "%s.%s", base, kind ? "svg" : "png") >= (int)sizeof path)
        return dn_err_set(err, DN_EINVAL, "figure path too long (%zu bytes): %.80s...",
                          strlen(base), base);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    int rc = DN_OK;
    cairo_surface_t *surface = NULL;
    cairo_t *cr = NULL;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = dn_err_set(err, DN_EIO, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    surface = kind ? cairo_svg_surface_create_for_stream(write_stream, f, width, height)
                   : cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_set_source_surface(cr, rec, 0, 0);
    cairo_paint(cr);
    cairo_destroy(cr);
    cr = NULL;
    if (kind)
        cairo_surface_finish(surface);
    else
        cairo_surface_flush(surface);
    if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
        rc = dn_err_set(err, DN_EIO, "%s: cairo: %s", path,
                        cairo_status_to_string(cairo_surface_status(surface)));
        goto fail;
    }
    if (!kind && (rc = write_png(f, surface, path, err)))
        goto fail;
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    f = NULL;
    if (bad || rename(tmp, path)) {
        rc = dn_err_set(err, DN_EIO, "%s: %s", path, strerror(errno ? errno : EIO));
        goto fail;
    }
    cairo_surface_destroy(surface);
    return DN_OK;
fail:
    if (f)
        fclose(f);
    unlink(tmp);
    cairo_surface_destroy(surface);
    return rc;
}

/* Draws one figure into base.png and base.svg: PLplot draws once, through its
 * extcairo device, into a cairo recording surface, which is then played into
 * an image (written as PNG) and into an SVG surface. */
static int render(const char *base, int width, int height, draw_fn draw, const void *arg,
                  dn_err_t *err)
{
    int rc = have_devices(err);
    if (rc)
        return rc;
    cairo_rectangle_t extent = {0, 0, width, height};
    cairo_surface_t *rec = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, &extent);
    cairo_t *cr = cairo_create(rec);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: cairo: %s", base,
                        cairo_status_to_string(cairo_status(cr)));
        goto fail;
    }
    PLINT strm;
    plmkstrm(&strm);
    plsdev("extcairo");
    plspage(0, 0, width, height, 0, 0);
    palette();
    plinit();
    pl_cmd(PLESC_DEVINIT, cr);
    figure.cr = cr;
    figure.width = width;
    figure.height = height;
    pladv(0);
    draw(arg);
    plend1();
    figure.cr = NULL;
    cairo_destroy(cr);
    cr = NULL;
    rc = save(base, 0, rec, width, height, err);
    if (!rc)
        rc = save(base, 1, rec, width, height, err);
fail:
    cairo_destroy(cr);
    cairo_surface_destroy(rec);
    return rc;
}

/* ---- primitives drawn in one cairo path ------------------------------------
 *
 * PLplot's cairo driver makes every glyph a Pango layout (plpoin), every
 * polygon and every line segment its own path (plfill, plerry, plline), and
 * so, in the SVG, its own element with its own style: a 5000-run history took
 * 130 ms and 2 MB, a 100-bin histogram 40 ms and 300 kB. The many small
 * things of a figure (markers, error bars, pull bars) are therefore drawn as
 * one path per colour, straight onto the cairo context PLplot draws into,
 * in the coordinates of PLplot's current window and clipped to its viewport;
 * frames, axes, text, bands and lines stay PLplot's. */

typedef struct batch_t {
    cairo_t *cr;
    double vx0, vy1, sx, sy, wx0, wy0, H; /* window -> pixel mapping */
} batch_t;

static int batch_begin(batch_t *b, int colour)
{
    if (!(b->cr = figure.cr))
        return 0;
    PLFLT vx0, vx1, vy0, vy1, wx0, wx1, wy0, wy1, a;
    PLINT r, g, bl;
    plgvpd(&vx0, &vx1, &vy0, &vy1);
    plgvpw(&wx0, &wx1, &wy0, &wy1);
    plgcol0a(colour, &r, &g, &bl, &a);
    const double W = figure.width, H = figure.height;
    b->H = H;
    b->vx0 = vx0 * W;
    b->vy1 = vy0 * H;
    b->sx = (vx1 - vx0) * W / (wx1 - wx0);
    b->sy = (vy1 - vy0) * H / (wy1 - wy0);
    b->wx0 = wx0;
    b->wy0 = wy0;
    cairo_save(b->cr);
    cairo_identity_matrix(b->cr);
    cairo_new_path(b->cr);
    cairo_rectangle(b->cr, vx0 * W, H - vy1 * H, (vx1 - vx0) * W, (vy1 - vy0) * H);
    cairo_clip(b->cr);
    cairo_set_source_rgba(b->cr, r / 255.0, g / 255.0, bl / 255.0, a);
    return 1;
}

static double px_x(const batch_t *b, double x) { return b->vx0 + (x - b->wx0) * b->sx; }
static double px_y(const batch_t *b, double y) { return b->H - (b->vy1 + (y - b->wy0) * b->sy); }

/* width_px > 0: stroke the path that wide; 0: fill it. */
static void batch_end(batch_t *b, double width_px)
{
    if (width_px > 0) {
        cairo_set_line_width(b->cr, width_px);
        cairo_stroke(b->cr);
    } else {
        cairo_fill(b->cr);
    }
    cairo_restore(b->cr);
}

enum { MARK_DISC, MARK_CROSS };

/* Point markers of one colour; radius_px in pixels, so markers stay round
 * whatever the axes' scales. */
static void markers(int n, const PLFLT *x, const PLFLT *y, int shape, double radius_px,
                    int colour)
{
    batch_t b;
    if (n < 1 || !batch_begin(&b, colour))
        return;
    const double r = radius_px;
    for (int i = 0; i < n; i++) {
        const double px = px_x(&b, x[i]), py = px_y(&b, y[i]);
        if (shape == MARK_DISC) { /* a round-capped dash: 4 numbers in the SVG, an arc 14 */
            cairo_move_to(b.cr, px - 0.01, py);
            cairo_line_to(b.cr, px + 0.01, py);
        } else {
            cairo_move_to(b.cr, px - r, py - r);
            cairo_line_to(b.cr, px + r, py + r);
            cairo_move_to(b.cr, px - r, py + r);
            cairo_line_to(b.cr, px + r, py - r);
        }
    }
    if (shape == MARK_DISC)
        cairo_set_line_cap(b.cr, CAIRO_LINE_CAP_ROUND);
    batch_end(&b, shape == MARK_DISC ? 2 * r : 1.2);
}

/* Vertical bars from lo[i] to hi[i] at x[i], width_px wide; with caps of
 * cap_px half-width at both ends when cap_px > 0 (error bars). */
static void vbars(int n, const PLFLT *x, const PLFLT *lo, const PLFLT *hi, double width_px,
                  double cap_px, int colour)
{
    batch_t b;
    if (n < 1 || !batch_begin(&b, colour))
        return;
    for (int i = 0; i < n; i++) {
        const double px = px_x(&b, x[i]), y0 = px_y(&b, lo[i]), y1 = px_y(&b, hi[i]);
        cairo_move_to(b.cr, px, y0);
        cairo_line_to(b.cr, px, y1);
        if (cap_px > 0) {
            cairo_move_to(b.cr, px - cap_px, y0);
            cairo_line_to(b.cr, px + cap_px, y0);
            cairo_move_to(b.cr, px - cap_px, y1);
            cairo_line_to(b.cr, px + cap_px, y1);
        }
    }
    batch_end(&b, width_px);
}

/* One straight line in window coordinates, width_px wide, dashed (6 px on,
 * 4 off) or solid: PLplot draws a dashed line as one path per dash. */
static void line(double x0, double y0, double x1, double y1, double width_px, int dashed,
                 int colour)
{
    batch_t b;
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1) ||
        !batch_begin(&b, colour))
        return;
    static const double dash[2] = {6, 4};
    if (dashed)
        cairo_set_dash(b.cr, dash, 2, 0);
    cairo_move_to(b.cr, px_x(&b, x0), px_y(&b, y0));
    cairo_line_to(b.cr, px_x(&b, x1), px_y(&b, y1));
    batch_end(&b, width_px);
}

static double bin_lo(const dn_plot_hist_t *h, int j) { return h->edges ? h->edges[j] : j; }
static double bin_hi(const dn_plot_hist_t *h, int j)
{
    return h->edges ? h->edges[j + 1] : j + 1;
}

static double finite_or(double x, double other) { return isfinite(x) ? x : other; }

static void draw_histogram(const void *arg)
{
    const dn_plot_hist_t *h = arg;
    const int nb = h->n_bins;
    double ymax = 0, pmax = 5;
    for (int j = 0; j < nb; j++) {
        double top = finite_or(h->ref[j], 0) + finite_or(h->ref_unc[j], 0);
        double dt = finite_or(h->data[j], 0) + (h->data_unc ? finite_or(h->data_unc[j], 0) : 0);
        ymax = fmax(ymax, fmax(top, dt));
        if (isfinite(h->pulls[j]))
            pmax = fmax(pmax, fabs(h->pulls[j]) * 1.1);
    }
    pmax = fmin(pmax, 100);
    ymax = ymax > 0 ? ymax * 1.1 : 1;
    const double x0 = bin_lo(h, 0), x1 = bin_hi(h, nb - 1);
    PLFLT *cx = malloc(sizeof(PLFLT) * 5 * (size_t)nb), *cy = cx + nb, *lo = cy + nb,
          *hi = lo + nb, *pu = hi + nb;
    if (!cx)
        return;
    int nc = 0; /* bins with a reference: drawn as steps over each bin's edges */
    for (int j = 0; j < nb; j++)
        nc += isfinite(h->ref[j]) && isfinite(h->ref_unc[j]);
    /* top panel */
    plvpor(0.1, 0.96, 0.36, 0.92);
    plwind(x0, x1, 0, ymax);
    if (nc) {
        int n2 = 2 * nc;
        PLFLT *px = malloc(sizeof(PLFLT) * 2 * (size_t)n2), *py = NULL;
        if (px) {
            py = px + n2;
            int k = 0;
            for (int j = 0; j < nb; j++)
                if (isfinite(h->ref[j]) && isfinite(h->ref_unc[j])) {
                    px[2 * k] = bin_lo(h, j);
                    px[2 * k + 1] = bin_hi(h, j);
                    py[2 * k] = py[2 * k + 1] = h->ref[j] + h->ref_unc[j];
                    k++;
                }
            PLFLT *fx = malloc(sizeof(PLFLT) * 4 * (size_t)n2);
            if (fx) {
                PLFLT *fy = fx + 2 * n2;
                for (int i = 0; i < n2; i++) {
                    fx[i] = px[i];
                    fy[i] = py[i];
                }
                k = 0;
                for (int j = nb - 1; j >= 0; j--)
                    if (isfinite(h->ref[j]) && isfinite(h->ref_unc[j])) {
                        fx[n2 + 2 * k] = bin_hi(h, j);
                        fx[n2 + 2 * k + 1] = bin_lo(h, j);
                        fy[n2 + 2 * k] = fy[n2 + 2 * k + 1] = fmax(h->ref[j] - h->ref_unc[j], 0);
                        k++;
                    }
                plcol0(C_BAND);
                plfill(2 * n2, fx, fy);
                free(fx);
            }
            for (int i = 0, k2 = 0; i < nb; i++)
                if (isfinite(h->ref[i]) && isfinite(h->ref_unc[i])) {
                    py[2 * k2] = py[2 * k2 + 1] = h->ref[i];
                    k2++;
                }
            plcol0(C_REF);
            plwidth(2);
            plline(n2, px, py);
            plwidth(1);
            free(px);
        }
    }
    int nd = 0;
    for (int j = 0; j < nb; j++)
        if (isfinite(h->data[j])) {
            cx[nd] = 0.5 * (bin_lo(h, j) + bin_hi(h, j));
            cy[nd] = h->data[j];
            double u = h->data_unc && isfinite(h->data_unc[j]) ? h->data_unc[j] : 0;
            lo[nd] = h->data[j] - u;
            hi[nd] = h->data[j] + u;
            nd++;
        }
    vbars(nd, cx, lo, hi, 1, 4, C_DATA);
    markers(nd, cx, cy, MARK_DISC, 3.5, C_DATA);
    plcol0(C_INK);
    plbox("bcst", 0, 0, "bcnstv", 0, 0);
    pllab("", "fraction of entries", h->title ? h->title : "");
    plcol0(C_REF);
    plmtex("t", -1.5, 0.97, 1.0, "reference and its 1#gs band");
    plcol0(C_DATA);
    plmtex("t", -3.0, 0.97, 1.0, "this run");
    /* pull panel */
    plvpor(0.1, 0.96, 0.1, 0.33);
    plwind(x0, x1, -pmax, pmax);
    for (int s = -1; s <= 1; s++)
        line(x0, 3.0 * s, x1, 3.0 * s, 1, s != 0, C_GREY);
    int np = 0;
    for (int j = 0; j < nb; j++)
        if (isfinite(h->pulls[j])) {
            cx[np] = 0.5 * (bin_lo(h, j) + bin_hi(h, j));
            pu[np] = fmax(-pmax, fmin(pmax, h->pulls[j]));
            np++;
        }
    /* pull bars, the ones beyond 3 in the bad colour: cx and pu are packed in
     * place, the others first, then the bad ones into lo and hi */
    int nq = 0, nbad = 0;
    for (int i = 0; i < np; i++) {
        if (fabs(pu[i]) > 3) {
            lo[nbad] = cx[i];
            hi[nbad++] = pu[i];
        } else {
            cx[nq] = cx[i];
            pu[nq++] = pu[i];
        }
    }
    for (int i = 0; i < nb; i++)
        cy[i] = 0;
    vbars(nq, cx, cy, pu, 3, 0, C_DATA);
    vbars(nbad, lo, cy, hi, 3, 0, C_BAD);
    plcol0(C_INK);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab(h->edges ? "x" : "bin", "pull", "");
    free(cx);
}

/* ---- 2-D histograms: maps --------------------------------------------------
 *
 * A 2-D histogram is three maps side by side: the run's normalised counts and
 * the reference on one sequential colour scale from 0 (so the two compare by
 * eye), and the pulls on a diverging scale symmetric about 0 (white), the
 * bins beyond +-3 outlined. Each cell is a rectangle over its bin's edges;
 * the cells are drawn as one cairo path per colour level (MAP_LEVELS), as
 * the batches above, not one PLplot polygon each; a 100x100 map stays small
 * in SVG. Cells without a finite value stay blank. */

#define MAP_LEVELS 64

/* viridis-like sequential ramp (dark blue, teal, green, yellow), t in [0, 1] */
static void ramp_sequential(double t, double rgb[3])
{
    static const double stop[5][3] = {{0.27, 0.00, 0.33}, {0.23, 0.32, 0.55}, {0.13, 0.57, 0.55},
                                      {0.37, 0.79, 0.38}, {0.99, 0.91, 0.14}};
    double u = fmin(fmax(t, 0), 1) * 4;
    int i = u >= 4 ? 3 : (int)u;
    double f = u - i;
    for (int c = 0; c < 3; c++)
        rgb[c] = stop[i][c] + f * (stop[i + 1][c] - stop[i][c]);
}

/* blue, white at 0.5, red; t in [0, 1] */
static void ramp_diverging(double t, double rgb[3])
{
    static const double lo[3] = {0.13, 0.40, 0.67}, hi[3] = {0.70, 0.09, 0.17};
    double u = fmin(fmax(t, 0), 1);
    const double *end = u < 0.5 ? lo : hi;
    double f = u < 0.5 ? (0.5 - u) * 2 : (u - 0.5) * 2;
    for (int c = 0; c < 3; c++)
        rgb[c] = 1 + f * (end[c] - 1);
}

typedef struct map_t {
    const dn_plot_hist_t *h;
    int nx, ny;
    double x0, x1, y0, y1;
} map_t;

static double map_x(const map_t *m, int i) { return m->h->edges ? m->h->edges[i] : i; }
static double map_y(const map_t *m, int j) { return m->h->edges_y ? m->h->edges_y[j] : j; }

/* Cells of v (n_bins, flattened x outer) in the current window, coloured by
 * ramp over [lo, hi]; with outline > 0, the cells with |v| > outline get a
 * black frame. */
static void map_cells(const map_t *m, const double *v, double lo, double hi,
                      void (*ramp)(double, double[3]), double outline)
{
    batch_t b;
    for (int level = 0; level < MAP_LEVELS; level++) {
        if (!batch_begin(&b, C_INK))
            return;
        double rgb[3];
        ramp((level + 0.5) / MAP_LEVELS, rgb);
        cairo_set_source_rgb(b.cr, rgb[0], rgb[1], rgb[2]);
        int any = 0;
        for (int ix = 0; ix < m->nx; ix++)
            for (int iy = 0; iy < m->ny; iy++) {
                double x = v[(size_t)ix * m->ny + iy];
                if (!isfinite(x))
                    continue;
                int l = (int)((x - lo) / (hi - lo) * MAP_LEVELS);
                l = l < 0 ? 0 : l >= MAP_LEVELS ? MAP_LEVELS - 1 : l;
                if (l != level)
                    continue;
                double px0 = px_x(&b, map_x(m, ix)), px1 = px_x(&b, map_x(m, ix + 1));
                double py0 = px_y(&b, map_y(m, iy)), py1 = px_y(&b, map_y(m, iy + 1));
                cairo_rectangle(b.cr, px0, py1, px1 - px0, py0 - py1);
                any = 1;
            }
        if (any)
            cairo_set_antialias(b.cr, CAIRO_ANTIALIAS_NONE);
        batch_end(&b, 0);
    }
    if (outline > 0 && batch_begin(&b, C_INK)) {
        for (int ix = 0; ix < m->nx; ix++)
            for (int iy = 0; iy < m->ny; iy++) {
                double x = v[(size_t)ix * m->ny + iy];
                if (!(fabs(x) > outline))
                    continue;
                double px0 = px_x(&b, map_x(m, ix)), px1 = px_x(&b, map_x(m, ix + 1));
                double py0 = px_y(&b, map_y(m, iy)), py1 = px_y(&b, map_y(m, iy + 1));
                cairo_rectangle(b.cr, px0, py1, px1 - px0, py0 - py1);
            }
        batch_end(&b, 1.2);
    }
}

/* A colour bar in viewport (vx0..vx1, vy0..vy1) for [lo, hi], numbered on
 * its right in units of 10^scale (so that no number needs an exponent: PLplot
 * would write its "(x10^-3)" over the title) and labelled. */
static void map_bar(double vx0, double vx1, double vy0, double vy1, double lo, double hi,
                    void (*ramp)(double, double[3]), const char *label)
{
    double big = fmax(fabs(lo), fabs(hi));
    int scale = big > 0 && (big < 0.1 || big >= 1e4) ? (int)floor(log10(big)) : 0;
    double f = pow(10, -scale);
    plvpor(vx0, vx1, vy0, vy1);
    plwind(0, 1, lo * f, hi * f);
    batch_t b;
    if (batch_begin(&b, C_INK)) {
        cairo_set_antialias(b.cr, CAIRO_ANTIALIAS_NONE); /* no seams between levels */
        for (int level = 0; level < MAP_LEVELS; level++) {
            double rgb[3];
            ramp((level + 0.5) / MAP_LEVELS, rgb);
            cairo_set_source_rgb(b.cr, rgb[0], rgb[1], rgb[2]);
            double y0 = f * (lo + (hi - lo) * level / MAP_LEVELS);
            double y1 = f * (lo + (hi - lo) * (level + 1) / MAP_LEVELS);
            cairo_rectangle(b.cr, px_x(&b, 0), px_y(&b, y1), px_x(&b, 1) - px_x(&b, 0),
                            px_y(&b, y0) - px_y(&b, y1) + 1);
            cairo_fill(b.cr);
        }
        cairo_restore(b.cr);
    }
    char text[160];
    if (scale)
        snprintf(text, sizeof text, "%s (\u00d710#u%d#d)", label, scale);
    else
        snprintf(text, sizeof text, "%s", label);
    plcol0(C_INK);
    plschr(0, 0.75);
    plsmaj(0, 0); /* numbers at zero-length ticks: ticks inside would cross the colours */
    plbox("bc", 0, 0, "bcmtv", 0, 0);
    plsmaj(0, 1);
    plmtex("r", 4.4, 0.5, 0.5, text);
    plschr(0, 1.0);
}

/* One map panel in the page's slot vx0..vx1: frame, cells, axes, its title,
 * and its colour bar at the right of the slot. */
static void map_panel(const map_t *m, double vx0, double vx1, const double *v, double lo,
                      double hi, void (*ramp)(double, double[3]), double outline,
                      const char *title, const char *bar_label)
{
    const double vy0 = 0.13, vy1 = 0.84;
    plvpor(vx0 + 0.065, vx1 - 0.085, vy0, vy1);
    plwind(m->x0, m->x1, m->y0, m->y1);
    map_cells(m, v, lo, hi, ramp, outline);
    plcol0(C_INK);
    plschr(0, 0.8);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    plmtex("b", 3.0, 0.5, 0.5, m->h->edges ? "x" : "x bin");
    plmtex("l", 4.2, 0.5, 0.5, m->h->edges_y ? "y" : "y bin");
    plmtex("t", 0.8, 0.5, 0.5, title);
    plschr(0, 1.0);
    map_bar(vx1 - 0.075, vx1 - 0.063, vy0, vy1, lo, hi, ramp, bar_label);
}

static void draw_maps(const void *arg)
{
    const dn_plot_hist_t *h = arg;
    map_t m = {h, h->n_bins / h->n_bins_y, h->n_bins_y, 0, 0, 0, 0};
    m.x0 = map_x(&m, 0);
    m.x1 = map_x(&m, m.nx);
    m.y0 = map_y(&m, 0);
    m.y1 = map_y(&m, m.ny);
    double vmax = 0, pmax = 5;
    for (int j = 0; j < h->n_bins; j++) {
        vmax = fmax(vmax, fmax(finite_or(h->data[j], 0), finite_or(h->ref[j], 0)));
        if (isfinite(h->pulls[j]))
            pmax = fmax(pmax, fabs(h->pulls[j]));
    }
    pmax = fmin(pmax, 100);
    if (!(vmax > 0))
        vmax = 1;
    /* the page title above the three panels */
    plvpor(0.02, 0.98, 0.90, 0.99);
    plwind(0, 1, 0, 1);
    plcol0(C_INK);
    plmtex("t", -1.4, 0.5, 0.5, h->title ? h->title : "");
    map_panel(&m, 0.0, 1.0 / 3, h->data, 0, vmax, ramp_sequential, 0, "this run",
              "fraction of entries");
    map_panel(&m, 1.0 / 3, 2.0 / 3, h->ref, 0, vmax, ramp_sequential, 0, "reference #gm",
              "fraction of entries");
    map_panel(&m, 2.0 / 3, 1.0, h->pulls, -pmax, pmax, ramp_diverging, 3,
              "pulls (|pull| > 3 framed)", "pull");
}

int dn_plot_histogram(const char *base, const dn_plot_hist_t *h, dn_err_t *err)
{
    if (!base || !h || h->n_bins < 1 || !h->data || !h->ref || !h->ref_unc || !h->pulls)
        return dn_err_set(err, DN_EINVAL, "histogram figure: no bins or missing arrays");
    const int ny = h->n_bins_y, nx = ny > 0 ? h->n_bins / ny : h->n_bins;
    if (ny < 0 || (ny > 0 && h->n_bins % ny))
        return dn_err_set(err, DN_EINVAL, "histogram figure: %d bins are not rows of %d bins "
                          "of y", h->n_bins, ny);
    if (ny > 0 && !h->edges != !h->edges_y)
        return dn_err_set(err, DN_EINVAL, "histogram figure: 2-D with the edges of one axis "
                          "only");
    if (h->edges)
        for (int j = 0; j < nx; j++)
            if (!(h->edges[j] < h->edges[j + 1]) || !isfinite(h->edges[j + 1]))
                return dn_err_set(err, DN_EINVAL, "histogram figure: edges not increasing");
    if (ny > 0 && h->edges_y)
        for (int j = 0; j < ny; j++)
            if (!(h->edges_y[j] < h->edges_y[j + 1]) || !isfinite(h->edges_y[j + 1]))
                return dn_err_set(err, DN_EINVAL, "histogram figure: edges of y not "
                                  "increasing");
    if (ny > 0)
        return render(base, 1500, 520, draw_maps, h, err);
    return render(base, 900, 700, draw_histogram, h, err);
}

typedef struct {
    const char *title;
    int n, mark;
    const int64_t *run;
    const double *score;
    const int8_t *label;
    double warning, threshold;
    int history; /* 1 history, 0 distributions */
} series_t;

static void score_range(const series_t *s, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < s->n; i++)
        if (isfinite(s->score[i])) {
            *lo = fmin(*lo, s->score[i]);
            *hi = fmax(*hi, s->score[i]);
        }
    if (isfinite(s->threshold)) {
        *lo = fmin(*lo, s->threshold);
        *hi = fmax(*hi, s->threshold);
    }
    if (isfinite(s->warning))
        *lo = fmin(*lo, s->warning);
    if (!(*hi > *lo)) {
        *lo -= 1;
        *hi += 1;
    }
    double pad = 0.05 * (*hi - *lo);
    *lo -= pad;
    *hi += pad;
}

static void draw_history(const void *arg)
{
    const series_t *s = arg;
    double lo, hi, x0 = INFINITY, x1 = -INFINITY;
    score_range(s, &lo, &hi);
    for (int i = 0; i < s->n; i++) {
        x0 = fmin(x0, (double)s->run[i]);
        x1 = fmax(x1, (double)s->run[i]);
    }
    if (!(x1 > x0)) {
        x0 -= 1;
        x1 += 1;
    }
    plvpor(0.1, 0.96, 0.12, 0.84);
    plwind(x0, x1, lo, hi);
    PLFLT *px = malloc(sizeof(PLFLT) * 2 * ((size_t)s->n + 1));
    if (!px)
        return;
    PLFLT *py = px + s->n + 1;
    static const int cls[3] = {-1, 0, 1}, col[3] = {C_GREY, C_GOOD, C_BAD};
    for (int c = 0; c < 3; c++) {
        int m = 0;
        for (int i = 0; i < s->n; i++)
            if (isfinite(s->score[i]) && s->label[i] == cls[c]) {
                px[m] = (double)s->run[i];
                py[m++] = s->score[i];
            }
        markers(m, px, py, c == 2 ? MARK_CROSS : MARK_DISC, c == 2 ? 4 : 2.5, col[c]);
    }
    line(x0, s->warning, x1, s->warning, 1, 1, C_WARN);
    line(x0, s->threshold, x1, s->threshold, 1, 0, C_BAD);
    if (s->mark >= 0 && s->mark < s->n && isfinite(s->score[s->mark])) {
        px[0] = (double)s->run[s->mark];
        py[0] = s->score[s->mark];
        plcol0(C_INK);
        plssym(0, 2.5);
        plpoin(1, px, py, 4);
        plssym(0, 1);
    }
    plcol0(C_INK);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    plmtex("t", 2.2, 0.5, 0.5, s->title ? s->title : "");
    pllab("run", "score log(#gx#u2#d/N#db#u)", "");
    /* legend above the frame, clear of the points */
    plcol0(C_GOOD);
    plmtex("t", 0.6, 0.0, 0.0, "good");
    plcol0(C_BAD);
    plmtex("t", 0.6, 0.07, 0.0, "bad");
    plcol0(C_GREY);
    plmtex("t", 0.6, 0.13, 0.0, "unlabelled");
    plcol0(C_BAD);
    plmtex("t", 0.6, 1.0, 1.0, "bad threshold");
    plcol0(C_WARN);
    plmtex("t", 0.6, 0.79, 1.0, "warning");
    free(px);
}

static int check_series(const series_t *s, dn_err_t *err)
{
    if (s->n < 1 || !s->score || !s->label || (s->history && !s->run))
        return dn_err_set(err, DN_EINVAL, "score figure: no runs or missing arrays");
    for (int i = 0; i < s->n; i++)
        if (isfinite(s->score[i]) && (!s->history ? s->label[i] >= 0 : 1))
            return DN_OK;
    return dn_err_set(err, DN_EINVAL, "score figure: no run with a finite score%s",
                      s->history ? "" : " and a label");
}

int dn_plot_history(const char *base, const char *title, int n, const int64_t *run,
                    const double *score, const int8_t *label, double warning,
                    double threshold, int mark, dn_err_t *err)
{
    series_t s = {title, n, mark, run, score, label, warning, threshold, 1};
    int rc = base ? check_series(&s, err) : dn_err_set(err, DN_EINVAL, "no file name");
    return rc ? rc : render(base, 1000, 500, draw_history, &s, err);
}

#define DIST_BINS 40

static void draw_distributions(const void *arg)
{
    const series_t *s = arg;
    double lo, hi;
    score_range(s, &lo, &hi);
    double count[2][DIST_BINS] = {{0}}, total[2] = {0}, ymax = 0;
    for (int i = 0; i < s->n; i++) {
        if (!isfinite(s->score[i]) || s->label[i] < 0)
            continue;
        int b = (int)((s->score[i] - lo) / (hi - lo) * DIST_BINS);
        b = b < 0 ? 0 : b >= DIST_BINS ? DIST_BINS - 1 : b;
        count[s->label[i]][b]++;
        total[s->label[i]]++;
    }
    for (int c = 0; c < 2; c++)
        for (int b = 0; b < DIST_BINS; b++) {
            if (total[c] > 0)
                count[c][b] /= total[c]; /* fraction of the class: both visible */
            ymax = fmax(ymax, count[c][b]);
        }
    plvpor(0.1, 0.96, 0.12, 0.9);
    plwind(lo, hi, 0, ymax > 0 ? ymax * 1.15 : 1);
    PLFLT px[2 * DIST_BINS + 2], py[2 * DIST_BINS + 2];
    for (int c = 0; c < 2; c++) {
        int m = 0;
        for (int b = 0; b < DIST_BINS; b++) {
            px[m] = lo + (hi - lo) * b / DIST_BINS;
            px[m + 1] = lo + (hi - lo) * (b + 1) / DIST_BINS;
            py[m] = py[m + 1] = count[c][b];
            m += 2;
        }
        plcol0(c ? C_BAD : C_GOOD);
        plwidth(2);
        plline(m, px, py);
        plwidth(1);
    }
    line(s->threshold, 0, s->threshold, ymax > 0 ? ymax * 1.15 : 1, 1, 1, C_INK);
    plcol0(C_INK);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab("score log(#gx#u2#d/N#db#u)", "fraction of the class", s->title ? s->title : "");
    char txt[64];
    snprintf(txt, sizeof txt, "good (%.0f runs)", total[0]);
    plcol0(C_GOOD);
    plmtex("t", -1.5, 0.98, 1.0, txt);
    snprintf(txt, sizeof txt, "bad (%.0f runs)", total[1]);
    plcol0(C_BAD);
    plmtex("t", -3.0, 0.98, 1.0, txt);
}

int dn_plot_distributions(const char *base, const char *title, int n, const double *score,
                          const int8_t *label, double threshold, dn_err_t *err)
{
    series_t s = {title, n, -1, NULL, score, label, NAN, threshold, 0};
    int rc = base ? check_series(&s, err) : dn_err_set(err, DN_EINVAL, "no file name");
    return rc ? rc : render(base, 900, 600, draw_distributions, &s, err);
}

/* ---- jobs ------------------------------------------------------------------- */

#define JOB_MAGIC "DNPJ"
#define JOB_VERSION 2u /* 2: n_bins_y and edges_y after the pulls; 1 is still read */

static void wb_doubles(dn_wbuf_t *w, const double *x, int n)
{
    dn_wb_u32(w, x ? 1u : 0u);
    for (int i = 0; x && i < n; i++)
        dn_wb_f64(w, x[i]);
}

static void wb_text(dn_wbuf_t *w, const char *t)
{
    dn_wb_str(w, t ? t : "", t ? strlen(t) : 0);
}

int dn_plot_job_save(const char *path, const dn_plot_job_t *j, dn_err_t *err)
{
    const int nb = j->hist.n_bins;
    dn_wbuf_t w = {0};
    dn_wb_bytes(&w, JOB_MAGIC, 4);
    dn_wb_u32(&w, JOB_VERSION);
    wb_text(&w, j->hist_base);
    wb_text(&w, j->history_base);
    wb_text(&w, j->hist.title);
    dn_wb_u32(&w, (uint32_t)nb);
    const int ny = j->hist.n_bins_y > 0 ? j->hist.n_bins_y : 0, nx = ny ? nb / ny : nb;
    dn_wb_u32(&w, (uint32_t)ny);
    wb_doubles(&w, j->hist.edges, nx + 1);
    wb_doubles(&w, j->hist.data, nb);
    wb_doubles(&w, j->hist.data_unc, nb);
    wb_doubles(&w, j->hist.ref, nb);
    wb_doubles(&w, j->hist.ref_unc, nb);
    wb_doubles(&w, j->hist.pulls, nb);
    if (ny)
        wb_doubles(&w, j->hist.edges_y, ny + 1);
    wb_text(&w, j->history_title);
    dn_wb_u32(&w, (uint32_t)j->n);
    dn_wb_u32(&w, (uint32_t)(j->mark + 1));
    for (int i = 0; i < j->n; i++) {
        dn_wb_u64(&w, (uint64_t)j->run[i]);
        dn_wb_f64(&w, j->score[i]);
        dn_wb_u32(&w, (uint32_t)(j->label[i] + 1));
    }
    dn_wb_f64(&w, j->warning);
    dn_wb_f64(&w, j->threshold);
    if (w.oom) {
        free(w.p);
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    dn_outfile_t *of = dn_outfile_open(path, err);
    int rc = of ? DN_OK : err->code;
    if (of && fwrite(w.p, 1, w.len, dn_outfile_stream(of)) != w.len) {
        dn_outfile_abort(&of);
        rc = dn_err_set(err, DN_EIO, "%s: write failed", path);
    }
    if (of)
        rc = dn_outfile_commit(&of, err);
    free(w.p);
    return rc;
}

int dn_plot_job_run(const dn_plot_job_t *job, dn_err_t *err)
{
    int rc = dn_plot_histogram(job->hist_base, &job->hist, err);
    if (!rc && job->n)
        rc = dn_plot_history(job->history_base, job->history_title, job->n, job->run,
                             job->score, job->label, job->warning, job->threshold, job->mark,
                             err);
    return rc;
}

static const unsigned char *rb_text(dn_rbuf_t *r, char *dst, size_t cap)
{
    uint32_t n;
    const unsigned char *t = dn_rb_str(r, &n);
    snprintf(dst, cap, "%.*s", (int)(t ? n : 0), t ? (const char *)t : "");
    return t;
}

static double *rb_doubles(dn_rbuf_t *r, int n, int *oom)
{
    if (!dn_rb_u32(r) || r->bad)
        return NULL;
    double *x = malloc(sizeof(double) * ((size_t)n + 1));
    if (!x) {
        *oom = 1;
        return NULL;
    }
    for (int i = 0; i < n; i++)
        x[i] = dn_rb_f64(r);
    return x;
}

int dn_plot_job_run_file(const char *path, dn_err_t *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = dn_read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    dn_rbuf_t r = {(const unsigned char *)buf, len, 0, 0};
    char hb[4096], yb[4096], title[1024], ytitle[1024];
    double *arr[6] = {0}, *score = NULL, *edges_y = NULL;
    int64_t *run = NULL;
    int8_t *label = NULL;
    int oom = 0;
    const unsigned char *m = dn_rb_take(&r, 4);
    uint32_t version = m ? dn_rb_u32(&r) : 0;
    if (!m || memcmp(m, JOB_MAGIC, 4) || version < 1 || version > JOB_VERSION) {
        rc = dn_err_set(err, DN_EFORMAT, "%s: not a figure job", path);
        goto done;
    }
    rb_text(&r, hb, sizeof hb);
    rb_text(&r, yb, sizeof yb);
    rb_text(&r, title, sizeof title);
    uint32_t nb = dn_rb_u32(&r);
    if (r.bad || nb < 1 || nb > 1000000) {
        rc = dn_err_set(err, DN_EFORMAT, "%s: damaged figure job", path);
        goto done;
    }
    uint32_t ny = version >= 2 ? dn_rb_u32(&r) : 0;
    if (r.bad || (ny && nb % ny)) {
        rc = dn_err_set(err, DN_EFORMAT, "%s: damaged figure job", path);
        goto done;
    }
    const int nx = ny ? (int)(nb / ny) : (int)nb;
    for (int k = 0; k < 6; k++)
        arr[k] = rb_doubles(&r, k == 0 ? nx + 1 : (int)nb, &oom);
    if (ny)
        edges_y = rb_doubles(&r, (int)ny + 1, &oom);
    rb_text(&r, ytitle, sizeof ytitle);
    uint32_t n = dn_rb_u32(&r), mark = dn_rb_u32(&r);
    if (r.bad || n > 100000000 || (size_t)n * 20 > len) {
        rc = dn_err_set(err, DN_EFORMAT, "%s: damaged figure job", path);
        goto done;
    }
    run = malloc(sizeof *run * ((size_t)n + 1));
    score = malloc(sizeof *score * ((size_t)n + 1));
    label = malloc((size_t)n + 1);
    if (oom || !run || !score || !label) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < n; i++) {
        run[i] = (int64_t)dn_rb_u64(&r);
        score[i] = dn_rb_f64(&r);
        label[i] = (int8_t)((int)dn_rb_u32(&r) - 1);
    }
    double warning = dn_rb_f64(&r), threshold = dn_rb_f64(&r);
    if (r.bad || !arr[1] || !arr[3] || !arr[4] || !arr[5]) {
        rc = dn_err_set(err, DN_EFORMAT, "%s: damaged figure job", path);
        goto done;
    }
    dn_plot_job_t job = {hb, yb,
                         {title, (int)nb, arr[0], arr[1], arr[2], arr[3], arr[4], arr[5],
                          (int)ny, edges_y},
                         ytitle, (int)n, (int)mark - 1, run, score, label, warning, threshold};
    rc = dn_plot_job_run(&job, err);
done:
    for (int k = 0; k < 6; k++)
        free(arr[k]);
    free(edges_y);
    free(run);
    free(score);
    free(label);
    free(buf);
    return rc;
}

/* ---- for the other figure files of lib/fig (plot_draw.h) --------------------- */

int dn_plot_render(const char *base, int width, int height, void (*draw)(const void *arg),
                   const void *arg, dn_err_t *err)
{
    return render(base, width, height, draw, arg, err);
}

void dn_plot_markers(int n, const double *x, const double *y, int cross, double radius_px,
                     int colour)
{
    markers(n, x, y, cross ? MARK_CROSS : MARK_DISC, radius_px, colour);
}

void dn_plot_line(double x0, double y0, double x1, double y1, double width_px, int dashed,
                  int colour)
{
    line(x0, y0, x1, y1, width_px, dashed, colour);
}

/* The band between lo and hi over x[m], one polygon per run of consecutive
 * points where all three are finite, in the current colour. */
void dn_plot_band(int m, const double *x, const double *lo, const double *hi)
{
    PLFLT *px = malloc(sizeof(PLFLT) * 4 * (size_t)m);
    if (!px)
        return;
    PLFLT *py = px + 2 * m;
    for (int a = 0; a < m;) {
        if (!isfinite(x[a]) || !isfinite(lo[a]) || !isfinite(hi[a])) {
            a++;
            continue;
        }
        int b = a;
        while (b < m && isfinite(x[b]) && isfinite(lo[b]) && isfinite(hi[b]))
            b++;
        int k = 0;
        for (int i = a; i < b; i++, k++) {
            px[k] = x[i];
            py[k] = hi[i];
        }
        for (int i = b - 1; i >= a; i--, k++) {
            px[k] = x[i];
            py[k] = lo[i];
        }
        if (k >= 3)
            plfill(k, px, py);
        a = b;
    }
    free(px);
}

/* y over x[m] as lines through its runs of finite points, current colour. */
void dn_plot_curve(int m, const double *x, const double *y)
{
    for (int a = 0; a < m;) {
        if (!isfinite(x[a]) || !isfinite(y[a])) {
            a++;
            continue;
        }
        int b = a;
        while (b < m && isfinite(x[b]) && isfinite(y[b]))
            b++;
        if (b - a >= 2)
            plline(b - a, x + a, y + a);
        a = b;
    }
}
