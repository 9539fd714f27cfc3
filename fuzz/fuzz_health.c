/* fuzz_health.c: libFuzzer target for the heartbeat file reader
 * (lib/io/health.h), what `dinamo health` (Docker's HEALTHCHECK) reads from a
 * service's data directory: any bytes as the file, then judged.
 *
 * Checked beyond "no crash" (UBSan included: a number too large for its
 * integer field is a finding, not a value):
 *   - a refusal returns a named error with the file's path;
 *   - an accepted heartbeat is judged with a non-empty line, and written back
 *     (dn_health_write) it reads again; written once more, the file is the
 *     same bytes (read -> write -> read equal, up to the writer's
 *     millisecond rounding of the times, which the second write fixes). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "fuzzcheck.h"
#include "health.h"

static char dir[256], out[300];

static void cleanup(void)
{
    unlink(out);
    rmdir(dir);
}

static char *written(const dn_health_t *h, size_t *len)
{
    dn_err_t err = {0};
    int rc = dn_health_write(out, h, &err);
    FUZZ_CHECK(rc == 0, "an accepted heartbeat cannot be written: %s", err.msg);
    char *buf = NULL;
    FUZZ_CHECK(dn_read_file(out, &buf, len, &err) == 0, "%s", err.msg);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        fuzz_dir(dir, sizeof dir, "health");
        snprintf(out, sizeof out, "%s/heartbeat", dir);
        atexit(cleanup);
    }
    dn_health_t h, h2, h3;
    dn_err_t err = {0};
    const char *path = fuzz_file(data, size);
    int rc = dn_health_read(path, &h, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(strstr(err.msg, path), "refusal without the file's path: %s", err.msg);
        return 0;
    }
    FUZZ_SAY("accepted: %s %s", h.service, dn_health_state_name(h.state));
    char line[512];
    int verdict = dn_health_judge(&h, 1.7e9, 0, line, sizeof line);
    FUZZ_CHECK((verdict == 0 || verdict == 1) && line[0], "judge: %d '%s'", verdict, line);
    size_t n1, n2;
    char *b1 = written(&h, &n1);
    rc = dn_health_read(out, &h2, &err);
    FUZZ_CHECK(rc == 0, "the heartbeat written back is refused: %s\n%s", err.msg, b1);
    FUZZ_CHECK(!strcmp(h.service, h2.service) && h.state == h2.state && h.pid == h2.pid &&
                   h.tick_ms == h2.tick_ms && h.rounds == h2.rounds && h.in == h2.in &&
                   h.out == h2.out && h.rejected == h2.rejected && h.warnings == h2.warnings &&
                   h.errors == h2.errors,
               "fields changed when written back:\n%s", b1);
    char *b2 = written(&h2, &n2);
    rc = dn_health_read(out, &h3, &err);
    FUZZ_CHECK(rc == 0 && n1 == n2 && !memcmp(b1, b2, n1), "written twice, differs:\n%s%s", b1,
               b2);
    free(b1);
    free(b2);
    return 0;
}
