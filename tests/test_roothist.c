/* test_roothist.c: the TH1/TH2 streamers on payloads made here: encode and
 * decode agree to the double, bins stored as char, short, int, float or
 * double all read, the monitored layout [ix][iy] without flow bins, class
 * versions outside those read refused by name, inconsistent counts refused
 * (fNcells, fSumw2, edges), every cut of a payload refused and every byte
 * flipped either read or refused, never a crash; and which classes are
 * histograms. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "roothist.h"

static dn_root_hist_t *sample(int dim)
{
    double xe[] = {0, 1, 2, 4, 8}, ye[] = {-1, 0, 1};
    dn_root_hist_t *h = dn_root_hist_new(dim, "h", "t", 4, xe, 2, ye, 1);
    cr_assert_not_null(h);
    for (int i = 0; i < h->n_cells; i++) {
        h->values[i] = i + 1;
        h->variances[i] = 0.5 * (i + 1);
    }
    h->entries = 99;
    return h;
}

static void encode(const dn_root_hist_t *h, dn_root_wbuf_t *w)
{
    dn_root_wbuf_init(w);
    dn_err_t err = {0};
    cr_assert_eq(dn_root_hist_encode(h, w, &err), 0, "%s", err.msg);
}

static dn_root_hist_t *decode_ok(const dn_root_wbuf_t *w, const char *cls)
{
    dn_root_hist_t *h = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_hist_decode(w->data, w->len, cls, &h, &err), 0, "%s", err.msg);
    return h;
}

static int decode_err(const unsigned char *p, size_t n, const char *cls, char *msg)
{
    dn_root_hist_t *h = NULL;
    dn_err_t err = {0};
    int rc = dn_root_hist_decode(p, n, cls, &h, &err);
    if (rc == 0)
        dn_root_hist_destroy(&h);
    else
        cr_assert_null(h);
    if (msg)
        strcpy(msg, err.msg);
    return rc;
}

Test(roothist, which_classes_are_histograms)
{
    const char *why;
    cr_assert_eq(dn_root_class_kind("TH1F", &why), DN_ROOT_TH1);
    cr_assert_null(why);
    cr_assert_eq(dn_root_class_kind("TH2C", NULL), DN_ROOT_TH2);
    cr_assert_eq(dn_root_class_kind("TProfile2D", &why), DN_ROOT_OTHER);
    cr_assert_str_eq(why, "a profile: its bins are means, not counts");
    cr_assert_eq(dn_root_class_kind("TH3D", &why), DN_ROOT_OTHER);
    cr_assert(strstr(why, "3-D"));
    cr_assert_eq(dn_root_class_kind("TH2Poly", &why), DN_ROOT_OTHER);
    cr_assert_eq(dn_root_class_kind("TH1L", &why), DN_ROOT_OTHER);
    cr_assert_eq(dn_root_class_kind("TH1", &why), DN_ROOT_OTHER);
    cr_assert_eq(dn_root_class_kind("TH1DX", &why), DN_ROOT_OTHER);
    cr_assert_eq(dn_root_class_kind("TTree", &why), DN_ROOT_OTHER);
    cr_assert_str_eq(why, "not a histogram");
}

Test(roothist, encode_then_decode_gives_the_same_histogram)
{
    for (int dim = 1; dim <= 2; dim++) {
        dn_root_hist_t *h = sample(dim);
        dn_root_wbuf_t w;
        encode(h, &w);
        dn_root_hist_t *b = decode_ok(&w, dim == 1 ? "TH1D" : "TH2D");
        cr_assert_eq(b->dim, dim);
        cr_assert_eq(b->n_cells, dim == 1 ? 6 : 24);
        cr_assert_str_eq(b->name, "h");
        cr_assert_str_eq(b->title, "t");
        cr_assert_eq(b->axis[0].variable, 1);
        for (int i = 0; i <= 4; i++)
            cr_assert_eq(b->axis[0].edges[i], h->axis[0].edges[i]);
        if (dim == 2) {
            cr_assert_eq(b->axis[1].n_bins, 2);
            cr_assert_eq(b->axis[1].variable, 0, "equal bins are written as fixed");
            cr_assert_eq(b->axis[1].edges[2], 1.0);
        }
        for (int i = 0; i < h->n_cells; i++) {
            cr_assert_eq(b->values[i], h->values[i]);
            cr_assert_eq(b->variances[i], h->variances[i]);
        }
        cr_assert_eq(b->entries, 99);
        dn_root_hist_destroy(&b);
        dn_root_hist_destroy(&h);
        dn_root_wbuf_free(&w);
    }
}

/* The payload of h (TH1D) with its bins rewritten as elem-byte numbers. */
static void retype(const dn_root_hist_t *h, dn_root_wbuf_t *w, int elem, int is_float)
{
    encode(h, w);
    w->len -= 4 + 8 * (size_t)h->n_cells; /* the TArrayD */
    dn_root_wbuf_u32(w, (uint32_t)h->n_cells);
    for (int i = 0; i < h->n_cells; i++) {
        double v = h->values[i];
        if (is_float)
            dn_root_wbuf_f32(w, (float)v);
        else if (elem == 4)
            dn_root_wbuf_u32(w, (uint32_t)(int32_t)v);
        else if (elem == 2)
            dn_root_wbuf_u16(w, (uint16_t)(int16_t)v);
        else
            dn_root_wbuf_u8(w, (uint8_t)(int8_t)v);
    }
    dn_root_wbuf_end_object(w, 0);
}

Test(roothist, bins_stored_as_char_short_int_float_double)
{
    dn_root_hist_t *h = sample(1);
    h->values[2] = -7; /* signed */
    static const struct {
        const char *cls;
        int elem, is_float;
    } t[] = {{"TH1C", 1, 0}, {"TH1S", 2, 0}, {"TH1I", 4, 0}, {"TH1F", 4, 1}};
    for (int k = 0; k < 4; k++) {
        dn_root_wbuf_t w;
        retype(h, &w, t[k].elem, t[k].is_float);
        dn_root_hist_t *b = decode_ok(&w, t[k].cls);
        for (int i = 0; i < h->n_cells; i++)
            cr_assert_eq(b->values[i], h->values[i], "%s bin %d", t[k].cls, i);
        dn_root_hist_destroy(&b);
        dn_root_wbuf_free(&w);
    }
    dn_root_hist_destroy(&h);
}

Test(roothist, monitored_bins_drop_the_flow_bins_in_ix_iy_order)
{
    dn_root_hist_t *h = sample(2);
    free(h->variances);
    h->variances = NULL;
    cr_assert_eq(dn_root_hist_n_inner(h), 8);
    double v[8], var[8];
    dn_root_hist_inner(h, v, var);
    /* cell of (ix, iy) is 6 * iy + ix, value cell + 1 */
    for (int ix = 1; ix <= 4; ix++)
        for (int iy = 1; iy <= 2; iy++) {
            int k = (ix - 1) * 2 + (iy - 1);
            cr_assert_eq(v[k], 6 * iy + ix + 1, "bin (%d, %d)", ix, iy);
            cr_assert_eq(var[k], v[k], "unweighted: the variance is the count");
        }
    dn_root_hist_destroy(&h);
}

Test(roothist, versions_outside_those_read_are_refused_by_name)
{
    dn_root_hist_t *h = sample(1);
    dn_root_wbuf_t w;
    encode(h, &w);
    char msg[DN_ERRMSG_MAX];
    w.data[5] = 4; /* TH1D version 4 */
    cr_assert_eq(decode_err(w.data, w.len, "TH1D", msg), DN_EMISMATCH);
    cr_assert_str_eq(msg, "TH1D version 4 at offset 0: this reader knows versions 1 to 3 "
                          "(ROOT 4.00 to 6.28)");
    w.data[5] = 3;
    w.data[11] = 9; /* TH1 version 9 */
    cr_assert_eq(decode_err(w.data, w.len, "TH1D", msg), DN_EMISMATCH);
    cr_assert(strstr(msg, "TH1 version 9"), "%s", msg);
    w.data[11] = 8;
    cr_assert_eq(decode_err(w.data, w.len, "TProfile", msg), DN_EINVAL);
    dn_root_hist_destroy(&h);
    dn_root_wbuf_free(&w);
}

/* Offset of TH1's fNcells in a payload of h: TH1D and TH1 headers, TNamed,
 * TAttLine, TAttFill, TAttMarker. */
static size_t ncells_at(const dn_root_hist_t *h)
{
    return 6 + 6 + 6 + 10 + 1 + strlen(h->name) + 1 + strlen(h->title) + 12 + 10 + 14;
}

Test(roothist, inconsistent_counts_are_refused)
{
    dn_root_hist_t *h = sample(1);
    dn_root_wbuf_t w;
    encode(h, &w);
    char msg[DN_ERRMSG_MAX];
    size_t at = ncells_at(h);
    cr_assert_eq(w.data[at + 3], 6, "fNcells found");
    w.data[at + 3] = 7;
    cr_assert_eq(decode_err(w.data, w.len, "TH1D", msg), DN_EFORMAT);
    cr_assert_str_eq(msg, "TH1 fNcells is 7, 4 x 1 bins need 6");
    w.data[at + 3] = 6;
    /* the bins: one fewer than the axes need */
    w.data[w.len - 8 * 6 - 1] = 5;
    cr_assert_eq(decode_err(w.data, w.len, "TH1D", msg), DN_EFORMAT);
    cr_assert(strstr(msg, "5 bin contents stored, the axes need 6") ||
              strstr(msg, "byte count"), "%s", msg);
    /* variable edges that go down: edge 2 (the first 2.0 in the payload) to 0.5 */
    const unsigned char two[8] = {0x40, 0, 0, 0, 0, 0, 0, 0};
    unsigned char *e2 = memmem(w.data, w.len, two, sizeof two);
    cr_assert_not_null(e2);
    e2[1] = 0xe0; /* 0x3fe0... is 0.5 */
    e2[0] = 0x3f;
    cr_assert_eq(decode_err(w.data, w.len, "TH1D", msg), DN_EFORMAT);
    cr_assert_str_eq(msg, "TH1 fXaxis: the edges of its 4 bins are not finite and strictly "
                          "increasing");
    dn_root_wbuf_free(&w);
    dn_root_hist_destroy(&h);
}

Test(roothist, every_cut_is_refused_and_no_flipped_byte_crashes)
{
    for (int dim = 1; dim <= 2; dim++) {
        dn_root_hist_t *h = sample(dim);
        dn_root_wbuf_t w;
        encode(h, &w);
        const char *cls = dim == 1 ? "TH1D" : "TH2D";
        for (size_t n = 0; n < w.len; n++) {
            unsigned char *cut = malloc(n ? n : 1);
            memcpy(cut, w.data, n);
            char msg[DN_ERRMSG_MAX];
            cr_assert_eq(decode_err(cut, n, cls, msg), DN_EFORMAT, "%s cut at %zu read", cls, n);
            cr_assert_gt(strlen(msg), 10);
            free(cut);
        }
        int refused = 0;
        unsigned char *copy = malloc(w.len);
        for (size_t i = 0; i < w.len; i++)
            for (int bit = 0; bit < 8; bit += 3) {
                memcpy(copy, w.data, w.len);
                copy[i] ^= (unsigned char)(1u << bit);
                refused += decode_err(copy, w.len, cls, NULL) != 0;
            }
        cr_assert_gt(refused, 0);
        free(copy);
        dn_root_wbuf_free(&w);
        dn_root_hist_destroy(&h);
    }
}

Test(roothist, new_refuses_bad_shapes)
{
    double up[] = {0, 1, 2}, down[] = {0, 2, 1}, inf[] = {0, INFINITY};
    cr_assert_null(dn_root_hist_new(1, "h", "", 2, down, 0, NULL, 0));
    cr_assert_null(dn_root_hist_new(1, "h", "", 1, inf, 0, NULL, 0));
    cr_assert_null(dn_root_hist_new(3, "h", "", 2, up, 2, up, 0));
    cr_assert_null(dn_root_hist_new(2, "h", "", 2, up, 0, up, 0));
    dn_root_hist_t *h = dn_root_hist_new(2, NULL, NULL, 2, up, 2, up, 0);
    cr_assert_not_null(h);
    cr_assert_str_eq(h->name, "");
    cr_assert_eq(h->n_cells, 16);
    cr_assert_eq(dn_root_hist_cell(h, 3, 2), 11);
    dn_root_hist_destroy(&h);
    cr_assert_null(h);
    dn_root_hist_destroy(NULL);
}
