/* memout.h: what a writer writes, captured in memory, for the suites that
 * compare written bytes (test_writer, test_results):
 *
 *     static void write_it(FILE *f, void *arg) { ... writes to f ... }
 *     size_t len;
 *     char *text = dn_test_capture(write_it, NULL, &len);  // NUL-terminated
 *     ...
 *     free(text);
 */
#ifndef DN_TEST_MEMOUT_H
#define DN_TEST_MEMOUT_H

#include <criterion/criterion.h>
#include <stdio.h>

static inline char *dn_test_capture(void (*write)(FILE *f, void *arg), void *arg, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    cr_assert_not_null(f, "open_memstream failed");
    write(f, arg);
    cr_assert_eq(fclose(f), 0, "the captured stream failed");
    if (len)
        *len = n;
    return buf;
}

#endif
