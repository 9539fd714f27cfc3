/* fuzz_keys.c: what a secured service reads from its keys directory at start
 * (lib/pipe/auth.c): the roles file (dn_auth_parse_roles) and a key file
 * (dn_auth_parse_key), in memory.
 *
 * The input is split at its first NUL byte: before it, a roles file; after
 * it, a key file. Beyond "no crash, no leak": every name a parsed roles file
 * hands over is a valid key name with a known role bit, a refusal comes with
 * a negative code and a message, and a key that parses encodes back to the
 * same 40 characters. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

static int check_name(int role, const char *name, void *arg, dn_err_t *err)
{
    (void)err;
    ++*(int *)arg;
    size_t n = strlen(name);
    int known = DN_ROLE_RUNS | DN_ROLE_LABELS | DN_ROLE_SCORES | DN_ROLE_WEIGHTS |
                DN_ROLE_REGISTRY;
    if (n == 0 || n >= DN_AUTH_NAME_MAX || !role || (role & ~known) || (role & (role - 1)))
        abort();
    for (const char *c = name; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *c))
            abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t roles_len = nul ? (size_t)(nul - data) : size;
    dn_err_t err = {0};
    int names = 0;
    int rc = dn_auth_parse_roles("roles", (const char *)data, roles_len, check_name, &names,
                                 &err);
    if (rc && (rc > 0 || !err.msg[0]))
        abort();
    if (nul) {
        const char *key = (const char *)nul + 1;
        size_t len = size - roles_len - 1;
        uint8_t k[32];
        memset(&err, 0, sizeof err);
        rc = dn_auth_parse_key(key, len, k, &err);
        if (rc && (rc > 0 || !err.msg[0]))
            abort();
        if (!rc) {
            char z85[DN_AUTH_Z85_LEN + 1];
            dn_auth_z85(k, z85);
            if (memcmp(z85, key, DN_AUTH_Z85_LEN))
                abort();
        }
    }
    return 0;
}
