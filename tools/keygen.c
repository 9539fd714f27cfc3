/* keygen.c: `dinamo keygen`, the CURVE key pairs of the services and people
 * who may speak on a secured cluster's bus (lib/pipe/auth.h).
 *
 * A pair that exists is kept, never replaced: re-running keygen (as
 * cluster.sh and the compose cluster do at every start) only lists the name
 * under the roles asked for, so a key that the others already trust stays
 * valid, and a person's key cannot be swapped by re-running a script. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cli.h"

static const char keygen_help[] =
    "usage: dinamo keygen NAME [--dir DIR] [--role ROLE ...]\n"
    "\n"
    "Makes a CURVE key pair for NAME in DIR (default: keys, or $DINAMO_KEYS_DIR):\n"
    "NAME.secret (mode 0600: give it to NAME only) and NAME.pub, unless NAME has\n"
    "one already (it is kept). Each --role lists NAME in DIR/roles as allowed to\n"
    "speak in that role: runs (a feed), labels (a shifter, the evaluator, the\n"
    "dashboard), scores (a scorer), weights (a trainer), registry, delegate (with\n"
    "labels: its labels keep the person they name as who, the dashboard). A service\n"
    "or person with a key but no role may still read and acknowledge. Prints NAME's\n"
    "public key.\n";

int cmd_keygen(args_t *a)
{
    const char *name = NULL, *dir = getenv("DINAMO_KEYS_DIR");
    int roles = 0, made = 0;
    char *opt;
    const char *v;
    int r;
    dn_err_t err = {0};
    if (!dir || !dir[0])
        dir = "keys";
    while ((r = next_arg(a, "--help", &opt, &v)) > 0) {
        if (!opt) {
            if (name)
                return usage_error(a->cmd, "unexpected argument '%s'", v);
            name = v;
        } else if (!strcmp(opt, "--help")) {
            fputs(keygen_help, stdout);
            return 0;
        } else if (!strcmp(opt, "--dir")) {
            dir = v;
        } else if (!strcmp(opt, "--role")) {
            int role;
            if (dn_auth_role_parse(v, &role, &err))
                return usage_error(a->cmd, "%s", err.msg);
            roles |= role;
        } else {
            return usage_error(a->cmd, "unknown option %s", opt);
        }
    }
    if (r < 0)
        return 2;
    if (!name)
        return usage_error(a->cmd, "%s", "give the key's NAME");
    int rc = dn_auth_keygen(dir, name, roles, &made, &err);
    dn_keyring_t *keys = rc ? NULL : dn_keyring_load(dir, NULL, &err);
    if (!keys)
        return fail_with(a->cmd, &err, rc ? rc : err.code);
    char z85[DN_AUTH_Z85_LEN + 1], list[128];
    int has = dn_keyring_roles(keys, name);
    dn_auth_z85(dn_keyring_public(keys, name), z85);
    printf("%s %s %s (roles: %s)\n", name, z85, made ? "made" : "kept",
           has ? dn_auth_roles_str(has, list, sizeof list) : "none");
    dn_keyring_destroy(&keys);
    return 0;
}
