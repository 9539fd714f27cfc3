/* fuzzcheck.h: what every fuzz target checks beyond "no crash".
 *
 * A violated property is a finding like a sanitizer report: FUZZ_CHECK prints
 * the target's name, the line and the property, and aborts, so libFuzzer
 * saves the input as a crash. FUZZ_ERR_NAMED checks the library's error rule:
 * a refusal comes with a code from lib/core/error.h and a non-empty sentence
 * naming what was wrong. Header-only: each target is one file plus the
 * library sources it exercises. */
#ifndef DN_FUZZCHECK_H
#define DN_FUZZCHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

#define FUZZ_CHECK(cond, ...)                                                                 \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: property violated: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

/* With FUZZ_VERBOSE set in the environment, a target says what became of each
 * input (for writing seeds: run the target on one file). */
#define FUZZ_SAY(...)                                                                         \
    do {                                                                                      \
        if (getenv("FUZZ_VERBOSE")) {                                                         \
            fprintf(stderr, "fuzz: " __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                              \
        }                                                                                     \
    } while (0)

/* rc is a refusal (negative, one of ours) whose err carries a sentence. */
#define FUZZ_ERR_NAMED(rc, err)                                                               \
    FUZZ_SAY("refused (%s): %s", dn_strerror(rc), (err).msg);                                 \
    FUZZ_CHECK((rc) <= DN_ENOMEM && (rc) >= DN_EMISMATCH && (err).msg[0] != 0,                \
               "refusal rc %d (%s) without a named error: \"%s\"", (rc), dn_strerror(rc),     \
               (err).msg)

/* For readers that take a path: the bytes as the content of an in-memory file
 * (one per process, rewritten each call, never on disk); returns its path,
 * "/proc/self/fd/N". */
static inline const char *fuzz_file(const void *data, size_t size)
{
    static int fd = -1;
    static char path[32];
    if (fd < 0) {
        fd = memfd_create("fuzz-input", 0);
        FUZZ_CHECK(fd >= 0, "memfd_create failed");
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0 && pwrite(fd, data, size, 0) == (ssize_t)size,
               "cannot write the input to %s", path);
    return path;
}

/* A new private directory (made once per process) for readers that take a
 * directory: under /dev/shm (memory) when there is one, else $TMPDIR or /tmp.
 * name says whose it is; its path goes into dir (cap bytes). */
static inline void fuzz_dir(char *dir, size_t cap, const char *name)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                       : getenv("TMPDIR")              ? getenv("TMPDIR")
                                                       : "/tmp";
    snprintf(dir, cap, "%s/dinamo-fuzz-%s-%d", base, name, (int)getpid());
    FUZZ_CHECK(mkdir(dir, 0700) == 0 || access(dir, W_OK) == 0, "cannot make %s", dir);
}

#endif
