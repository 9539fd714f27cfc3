/* fuzz_policy.c: libFuzzer target for judgement policy files
 * (lib/io/policy.h), CSV `match,min_entries,warning,bad` named by every
 * service's `policy` key: any bytes as the file, then lookups of the keys,
 * prefixes and subsystems the file itself names, and of a few others.
 *
 * Checked beyond "no crash":
 *   - a refusal returns a named error with the file's path, and no policy;
 *   - every lookup of an accepted policy gives a finite min_entries >= 0 and
 *     thresholds that are unset (NaN) or finite. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzcheck.h"
#include "policy.h"

static void check(const dn_policy_t *p, const char *key, const char *sub)
{
    dn_judge_t j = dn_policy_lookup(p, key, sub);
    FUZZ_CHECK(isfinite(j.min_entries) && j.min_entries >= 0, "%s: min_entries %g", key,
               j.min_entries);
    FUZZ_CHECK((isnan(j.warning) || isfinite(j.warning)) && (isnan(j.bad) || isfinite(j.bad)),
               "%s: thresholds %g %g", key, j.warning, j.bad);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dn_err_t err = {0};
    const char *path = fuzz_file(data, size);
    dn_policy_t *p = dn_policy_load(path, &err);
    if (!p) {
        FUZZ_ERR_NAMED(err.code, err);
        FUZZ_CHECK(strstr(err.msg, path), "refusal without the file's path: %s", err.msg);
        return 0;
    }
    FUZZ_SAY("accepted");
    check(p, "calo/e", "calo");
    check(p, "", "");
    check(p, NULL, NULL);
    /* the matches of the file's own lines, as keys and subsystems */
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = 0;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *c = strchr(line, ',');
            if (!c || *line == '#')
                continue;
            *c = 0;
            char *m = line;
            while (*m == ' ' || *m == '\t')
                m++;
            size_t ml = strlen(m);
            while (ml && strchr(" \t\r*", m[ml - 1]))
                m[--ml] = 0;
            const char *sub = strncmp(m, "subsystem:", 10) ? "" : m + 10;
            check(p, m, sub);
            check(p, sub, m);
        }
        free(text);
    }
    dn_policy_destroy(&p);
    return 0;
}
