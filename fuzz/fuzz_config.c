/* fuzz_config.c: libFuzzer target for service configuration files
 * (lib/io/config.h), read by every service at start: any bytes as the file,
 * loaded into a configuration of the service "svc" with a key of each type.
 *
 * Checked beyond "no crash":
 *   - a refusal returns a named error with the file's path (and, for a line's
 *     problem, its number);
 *   - after an accepted file every key's typed getter answers and agrees
 *     with its text: the text set again (dn_config_set) into a fresh
 *     configuration gives the same value, and written as a file
 *     (`key = "text"` under [svc], '"' and '\' escaped) and loaded again,
 *     the same value (parse -> write -> parse equal). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzzcheck.h"

static const dn_config_key_t keys[] = {
    {"endpoint", DN_CFG_STRING, "tcp://127.0.0.1:5555", "a string"},
    {"count", DN_CFG_INT, "3", "an integer"},
    {"rate", DN_CFG_DOUBLE, "0.5", "a number"},
    {"flag", DN_CFG_BOOL, "false", "a boolean"},
    {"empty_default", DN_CFG_STRING, "", "a string"},
};
enum { N_KEYS = sizeof keys / sizeof keys[0] };

static dn_config_t *fresh(void)
{
    dn_err_t err = {0};
    dn_config_t *c = dn_config_new("svc", keys, N_KEYS, &err);
    FUZZ_CHECK(c, "dn_config_new: %s", err.msg);
    return c;
}

/* The typed values of two configurations agree for every key. */
static void same_values(const dn_config_t *a, const dn_config_t *b, const char *how)
{
    for (int i = 0; i < N_KEYS; i++) {
        const char *k = keys[i].name;
        int64_t ia = 0, ib = 0;
        double da = 0, db = 0;
        int ba = 0, bb = 0;
        switch (keys[i].type) {
        case DN_CFG_INT:
            FUZZ_CHECK(!dn_config_int(a, k, &ia) && !dn_config_int(b, k, &ib) && ia == ib,
                       "%s: %s: %lld, then %lld", how, k, (long long)ia, (long long)ib);
            break;
        case DN_CFG_DOUBLE:
            FUZZ_CHECK(!dn_config_double(a, k, &da) && !dn_config_double(b, k, &db) &&
                           !memcmp(&da, &db, sizeof da),
                       "%s: %s: %.17g, then %.17g", how, k, da, db);
            break;
        case DN_CFG_BOOL:
            FUZZ_CHECK(!dn_config_bool(a, k, &ba) && !dn_config_bool(b, k, &bb) && ba == bb,
                       "%s: %s: %d, then %d", how, k, ba, bb);
            break;
        default:
            FUZZ_CHECK(dn_config_str(a, k) && dn_config_str(b, k) &&
                           !strcmp(dn_config_str(a, k), dn_config_str(b, k)),
                       "%s: %s: string changed", how, k);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dn_config_t *cfg = fresh(), *set = NULL, *again = NULL;
    dn_err_t err = {0};
    const char *path = fuzz_file(data, size);
    int rc = dn_config_load_file(cfg, path, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(strstr(err.msg, path), "refusal without the file's path: %s", err.msg);
        goto done;
    }
    FUZZ_SAY("accepted: endpoint '%s' count '%s' rate '%s' flag '%s'",
             dn_config_str(cfg, "endpoint"), dn_config_str(cfg, "count"),
             dn_config_str(cfg, "rate"), dn_config_str(cfg, "flag"));
    set = fresh();
    int writable = 1;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    FUZZ_CHECK(f, "open_memstream");
    fputs("[svc]\n", f);
    for (int i = 0; i < N_KEYS; i++) {
        const char *v = dn_config_str(cfg, keys[i].name);
        FUZZ_CHECK(v, "%s: no text after an accepted file", keys[i].name);
        rc = dn_config_set(set, keys[i].name, v, &err);
        FUZZ_CHECK(rc == 0, "%s: its own text '%s' is refused: %s", keys[i].name, v, err.msg);
        if (strpbrk(v, "\r\n"))
            writable = 0;
        fprintf(f, "%s = \"", keys[i].name); /* quoted: \" and \\ escaped */
        for (const char *c = v; *c; c++)
            fprintf(f, "%s%c", *c == '"' || *c == '\\' ? "\\" : "", *c);
        fputs("\"\n", f);
    }
    FUZZ_CHECK(fclose(f) == 0, "fclose");
    same_values(cfg, set, "set again");
    if (writable) {
        again = fresh();
        rc = dn_config_load_file(again, fuzz_file(text, len), &err);
        FUZZ_CHECK(rc == 0, "the values written back are refused: %s\n%s", err.msg, text);
        same_values(cfg, again, "written back");
    }
    free(text);
done:
    dn_config_destroy(&cfg);
    dn_config_destroy(&set);
    dn_config_destroy(&again);
    return 0;
}
