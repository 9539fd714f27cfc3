/* fuzz_users.c: the dashboard's users file (lib/io/users.h), parsed in
 * memory by dn_users_parse; never hashed (the fuzzer would spend its time in
 * Argon2id, not in the parser).
 *
 * Beyond "no crash, no leak": a refusal comes with one of our codes and a
 * sentence naming the file and line ("users line N: ..."); every accepted
 * name is a valid user name, listed once, and present in the input before a
 * ':'; the same text after one more comment line parses to the same names (or
 * is refused naming the next line), so lines are counted right. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzcheck.h"
#include "users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    dn_err_t err = {0};
    dn_users_t *u = dn_users_parse("users", text, size, &err);
    int line = 0;
    if (!u) {
        FUZZ_ERR_NAMED(err.code, err);
        FUZZ_CHECK(sscanf(err.msg, "users line %d:", &line) == 1 && line >= 1,
                   "refusal without its line: %s", err.msg);
    } else {
        int n = dn_users_count(u);
        FUZZ_SAY("%d users", n);
        for (int i = 0; i < n; i++) {
            const char *name = dn_users_name(u, i);
            FUZZ_CHECK(dn_users_name_ok(name), "bad name accepted: '%s'", name);
            for (int j = 0; j < i; j++)
                FUZZ_CHECK(strcmp(name, dn_users_name(u, j)), "%s listed twice", name);
            size_t len = strlen(name);
            int present = 0;
            for (size_t at = 0; !present && at + len < size; at++)
                present = !memcmp(text + at, name, len) && text[at + len] == ':';
            FUZZ_CHECK(present, "name %s is not in the input", name);
        }
        FUZZ_CHECK(dn_users_name(u, n) == NULL && dn_users_name(u, -1) == NULL,
                   "a name past the end");
    }
    /* One comment line more: the same outcome, one line further down. */
    char *shifted = malloc(size + 5);
    FUZZ_CHECK(shifted != NULL, "out of memory");
    memcpy(shifted, "# x\n", 4);
    memcpy(shifted + 4, data, size);
    dn_err_t err2 = {0};
    dn_users_t *u2 = dn_users_parse("users", shifted, size + 4, &err2);
    FUZZ_CHECK(!u == !u2, "a comment line changed the outcome: %s / %s", err.msg, err2.msg);
    if (u) {
        FUZZ_CHECK(dn_users_count(u) == dn_users_count(u2), "count %d, then %d",
                   dn_users_count(u), dn_users_count(u2));
        for (int i = 0; i < dn_users_count(u); i++)
            FUZZ_CHECK(!strcmp(dn_users_name(u, i), dn_users_name(u2, i)), "name %d differs", i);
    } else {
        int line2 = 0;
        FUZZ_CHECK(sscanf(err2.msg, "users line %d:", &line2) == 1 && line2 == line + 1,
                   "line %d, then %d", line, line2);
        FUZZ_CHECK(err.code == err2.code, "code %d, then %d", err.code, err2.code);
    }
    dn_users_destroy(&u);
    dn_users_destroy(&u2);
    free(shifted);
    return 0;
}
