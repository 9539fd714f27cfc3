/* smallstack.h: runs a function on a thread with a small stack, for the tests
 * that show a kernel keeps its scratch off the stack.
 *
 *     dn_test_on_small_stack(256 * 1024, work, &ctx);  // fails the test if the
 *                                                      // thread cannot run
 *
 * A function that puts more than the stack on it crashes the test process
 * (SIGSEGV on the guard page), which Criterion reports as a failed test. The
 * function runs while the test's thread waits, so it may use the test's data,
 * but it must not call cr_assert (Criterion's asserts unwind the test's own
 * thread): it stores what it found and the test asserts after the join. */
#ifndef DN_TEST_SMALLSTACK_H
#define DN_TEST_SMALLSTACK_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

static inline void dn_test_on_small_stack(size_t stack_bytes, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_t t;
    cr_assert_eq(pthread_attr_init(&attr), 0);
    int rc = pthread_attr_setstacksize(&attr, stack_bytes);
    cr_assert_eq(rc, 0, "cannot set a %zu-byte stack: %s", stack_bytes, strerror(rc));
    rc = pthread_create(&t, &attr, fn, arg);
    cr_assert_eq(rc, 0, "cannot start a thread: %s", strerror(rc));
    cr_assert_eq(pthread_join(t, NULL), 0);
    pthread_attr_destroy(&attr);
}

#endif
