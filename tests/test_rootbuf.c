/* test_rootbuf.c: the byte level of ROOT's serialisation: big-endian values,
 * TStrings in both length forms, object headers with and without byte
 * count, the one bounds check (a read past the end fails the buffer, says
 * where, and every later read gives 0 without moving), arrays of each
 * element width, and the write buffer producing what the reader reads. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rootbuf.h"

Test(rootbuf, values_are_big_endian)
{
    const unsigned char b[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xff, 0xfe,
                               0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc0, 0x00, 0x00, 0x00};
    dn_root_rbuf_t r;
    dn_root_rbuf_init(&r, b, sizeof b);
    cr_assert_eq(dn_root_rbuf_u64(&r), 0x0102030405060708ull);
    cr_assert_eq(dn_root_rbuf_i16(&r), -2);
    cr_assert_eq(dn_root_rbuf_f64(&r), 1.0);
    cr_assert_eq(dn_root_rbuf_f32(&r), -2.0f);
    cr_assert_eq(dn_root_rbuf_left(&r), 0);
    cr_assert_eq(r.failed, 0);
}

Test(rootbuf, a_read_past_the_end_fails_once_and_names_the_offset)
{
    const unsigned char b[] = {0, 0, 0, 7, 9};
    dn_root_rbuf_t r;
    dn_root_rbuf_init(&r, b, sizeof b);
    cr_assert_eq(dn_root_rbuf_u32(&r), 7);
    cr_assert_eq(dn_root_rbuf_u32(&r), 0);
    cr_assert(r.failed);
    cr_assert_str_eq(r.why, "need 4 bytes at offset 4, the buffer has 5");
    cr_assert_eq(r.pos, 4, "a failed read does not move");
    cr_assert_eq(dn_root_rbuf_u8(&r), 0, "failed buffers read nothing");
    cr_assert_eq(r.pos, 4);
    cr_assert_eq(dn_root_rbuf_seek(&r, 0), DN_EFORMAT);
    dn_root_rbuf_init(&r, NULL, 0);
    cr_assert_eq(dn_root_rbuf_skip(&r, 0), 0);
    cr_assert_eq(dn_root_rbuf_skip(&r, 1), DN_EFORMAT);
}

Test(rootbuf, tstrings_short_and_long)
{
    dn_root_wbuf_t w;
    dn_root_wbuf_init(&w);
    char longer[300];
    memset(longer, 'x', sizeof longer - 1);
    longer[299] = '\0';
    dn_root_wbuf_tstring(&w, "hpx");
    dn_root_wbuf_tstring(&w, longer);
    dn_root_wbuf_tstring(&w, "");
    cr_assert(dn_root_wbuf_ok(&w));
    cr_assert_eq(w.len, 4 + 5 + 299 + 1);
    cr_assert_eq(w.data[4], 255, "long strings: 255, then a 4-byte length");
    dn_root_rbuf_t r;
    dn_root_rbuf_init(&r, w.data, w.len);
    char *s = NULL;
    cr_assert_eq(dn_root_rbuf_tstring_dup(&r, &s), 0);
    cr_assert_str_eq(s, "hpx");
    free(s);
    cr_assert_eq(dn_root_rbuf_tstring_dup(&r, &s), 0);
    cr_assert_str_eq(s, longer);
    free(s);
    const char *p;
    size_t n;
    cr_assert_eq(dn_root_rbuf_tstring(&r, &p, &n), 0);
    cr_assert_eq(n, 0);
    /* a length running past the end */
    const unsigned char cut[] = {255, 0, 0, 1, 0, 'a'};
    dn_root_rbuf_init(&r, cut, sizeof cut);
    cr_assert_eq(dn_root_rbuf_tstring(&r, &p, &n), DN_EFORMAT);
    cr_assert_null(p);
    dn_root_wbuf_free(&w);
}

Test(rootbuf, object_headers_with_and_without_byte_count)
{
    dn_root_wbuf_t w;
    dn_root_wbuf_init(&w);
    size_t at = dn_root_wbuf_begin_object(&w, 8);
    dn_root_wbuf_u32(&w, 42);
    dn_root_wbuf_u32(&w, 43); /* a member the reader skips */
    dn_root_wbuf_end_object(&w, at);
    dn_root_wbuf_u16(&w, 3);  /* a bare version (no count) */
    dn_root_wbuf_u8(&w, 7);
    dn_root_rbuf_t r;
    dn_root_rbuf_init(&r, w.data, w.len);
    dn_root_vers_t v;
    cr_assert_eq(dn_root_rbuf_version(&r, &v), 0);
    cr_assert_eq(v.version, 8);
    cr_assert_eq(v.end, 14);
    cr_assert_eq(dn_root_rbuf_u32(&r), 42);
    cr_assert_eq(dn_root_rbuf_leave(&r, &v, "TH1"), 0);
    cr_assert_eq(r.pos, 14);
    cr_assert_eq(dn_root_rbuf_version(&r, &v), 0);
    cr_assert_eq(v.version, 3);
    cr_assert_eq(v.end, 0, "no count");
    cr_assert_eq(dn_root_rbuf_leave(&r, &v, "TH1"), 0);
    cr_assert_eq(dn_root_rbuf_u8(&r), 7);
    /* members that ran past the count */
    dn_root_rbuf_init(&r, w.data, w.len);
    cr_assert_eq(dn_root_rbuf_version(&r, &v), 0);
    dn_root_rbuf_skip(&r, 10);
    cr_assert_eq(dn_root_rbuf_leave(&r, &v, "TAxis"), DN_EFORMAT);
    cr_assert_str_eq(r.why, "TAxis at offset 0: the members read run 2 bytes past its byte "
                            "count");
    /* a count beyond the buffer */
    const unsigned char big[] = {0x40, 0, 1, 0, 0, 1};
    dn_root_rbuf_init(&r, big, sizeof big);
    cr_assert_eq(dn_root_rbuf_version(&r, &v), DN_EFORMAT);
    cr_assert(strstr(r.why, "byte count 256 at offset 0 runs past"), "%s", r.why);
    dn_root_wbuf_free(&w);
}

Test(rootbuf, arrays_of_every_width_become_doubles)
{
    const unsigned char c[] = {0xff, 0x7f};
    const unsigned char s[] = {0xff, 0xfe, 0x01, 0x00};
    const unsigned char i[] = {0xff, 0xff, 0xff, 0xfd};
    const unsigned char f[] = {0x3f, 0xc0, 0x00, 0x00};
    const unsigned char d[] = {0xc0, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18};
    double out[2];
    dn_root_rbuf_t r;
    dn_root_rbuf_init(&r, c, sizeof c);
    cr_assert_eq(dn_root_rbuf_array(&r, 2, 1, 0, out), 0);
    cr_assert(out[0] == -1 && out[1] == 127);
    dn_root_rbuf_init(&r, s, sizeof s);
    cr_assert_eq(dn_root_rbuf_array(&r, 2, 2, 0, out), 0);
    cr_assert(out[0] == -2 && out[1] == 256);
    dn_root_rbuf_init(&r, i, sizeof i);
    cr_assert_eq(dn_root_rbuf_array(&r, 1, 4, 0, out), 0);
    cr_assert_eq(out[0], -3);
    dn_root_rbuf_init(&r, f, sizeof f);
    cr_assert_eq(dn_root_rbuf_array(&r, 1, 4, 1, out), 0);
    cr_assert_eq(out[0], 1.5);
    dn_root_rbuf_init(&r, d, sizeof d);
    cr_assert_eq(dn_root_rbuf_array(&r, 1, 8, 0, out), 0);
    cr_assert_eq(out[0], -3.141592653589793);
    dn_root_rbuf_init(&r, d, sizeof d);
    cr_assert_eq(dn_root_rbuf_array(&r, 2, 8, 0, out), DN_EFORMAT, "16 bytes from 8");
    cr_assert(strstr(r.why, "an array of 2 elements of 8 bytes"), "%s", r.why);
    dn_root_rbuf_init(&r, d, sizeof d);
    cr_assert_eq(dn_root_rbuf_array(&r, (size_t)1 << 62, 8, 0, out), DN_EFORMAT, "no overflow");
}

Test(rootbuf, the_writer_patches_and_grows)
{
    dn_root_wbuf_t w;
    dn_root_wbuf_init(&w);
    for (int k = 0; k < 100000; k++)
        dn_root_wbuf_f64(&w, k * 0.5);
    dn_root_wbuf_patch_u32(&w, 8, 0xdeadbeef);
    cr_assert(dn_root_wbuf_ok(&w));
    dn_root_rbuf_t r;
    dn_root_rbuf_init(&r, w.data, w.len);
    cr_assert_eq(dn_root_rbuf_f64(&r), 0.0);
    cr_assert_eq(dn_root_rbuf_u32(&r), 0xdeadbeef);
    dn_root_rbuf_seek(&r, 8 * 99999);
    cr_assert_eq(dn_root_rbuf_f64(&r), 99999 * 0.5);
    dn_root_wbuf_free(&w);
    cr_assert_null(w.data);
}
