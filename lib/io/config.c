/* config.c: declared keys filled from defaults, an INI file, the environment
 * and the command line (see config.h).
 *
 * Each key remembers the precedence level of the value it holds; a source
 * only overwrites a value from an equal or lower level, so the loading order
 * of the sources does not matter and a per-service file section beats
 * [common] wherever it appears in the file. Values are parsed into their type
 * when set, so an error names the place the bad text came from, and getters
 * cannot fail on format. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fileio.h"

enum {
    PRIO_DEFAULT,
    PRIO_FILE_COMMON,
    PRIO_FILE_SERVICE,
    PRIO_ENV_COMMON,
    PRIO_ENV_SERVICE,
    PRIO_ARGS,
    PRIO_SET,
};

#define NAME_MAX_LEN 64
#define SOURCE_MAX 160

typedef struct entry_t {
    char name[NAME_MAX_LEN];
    dn_cfg_type_t type;
    const char *def;
    const char *help;
    char *text;   /* current value as text; NULL: unset */
    int prio;
    char source[SOURCE_MAX];
    int64_t i;
    double d;
    int b;
    int file_line[2]; /* line that set it in [common] / [service] of the current file */
} entry_t;

struct dn_config_t {
    char service[NAME_MAX_LEN];
    entry_t *entries;
    int n;
};

static const dn_config_key_t common_keys[] = {
    {"log_level", DN_CFG_STRING, "info", "debug, info, warn or error"},
    {"data_dir", DN_CFG_STRING, "data", "directory of the service's LMDB store"},
    {"tick_ms", DN_CFG_INT, "1000", "period of the service's housekeeping tick"},
    {"policy", DN_CFG_STRING, "", "policy file: min_entries and thresholds per key or "
                                  "subsystem (lib/policy.h); empty: none"},
    {"security", DN_CFG_STRING, "on", "on: every socket speaks CURVE and admits only the keys "
                                      "of keys_dir (lib/pipe/auth.h); off: none (warned)"},
    {"keys_dir", DN_CFG_STRING, "keys", "the keys directory: NAME.pub, this service's "
                                        "NAME.secret, roles (`dinamo keygen`)"},
    {"identity", DN_CFG_STRING, "", "this service's key name; empty: the service's name"},
    {"max_message_bytes", DN_CFG_INT, "268439552", "largest message a socket accepts"},
    {"health_file", DN_CFG_STRING, "", "heartbeat file replaced every tick (lib/io/health.h; "
                                       "`dinamo health` reads it); empty: <data_dir>/<name>/health"},
    {"producers_max", DN_CFG_INT, "1024", "producers whose sequence numbers each receiving "
                                          "socket tracks (the least recently seen are forgotten)"},
};
#define N_COMMON ((int)(sizeof common_keys / sizeof common_keys[0]))

static const char *type_name(dn_cfg_type_t t)
{
    switch (t) {
    case DN_CFG_INT: return "int";
    case DN_CFG_DOUBLE: return "double";
    case DN_CFG_BOOL: return "bool";
    default: return "string";
    }
}

static int valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
            return 0;
    return 1;
}

/* Parses text as e's type into e's typed fields (not the text). On failure
 * writes "'x' is not an integer" into why. */
static int parse_value(entry_t *e, const char *text, char *why, size_t cap)
{
    char *end;
    switch (e->type) {
    case DN_CFG_STRING:
        return 0;
    case DN_CFG_INT: {
        errno = 0;
        long long v = strtoll(text, &end, 0);
        if (!text[0] || *end || errno == ERANGE || isspace((unsigned char)text[0])) {
            snprintf(why, cap, "'%s' is not an integer%s", text,
                     errno == ERANGE ? " (out of range)" : "");
            return DN_EFORMAT;
        }
        e->i = v;
        return 0;
    }
    case DN_CFG_DOUBLE: {
        double v = strtod(text, &end);
        if (!text[0] || *end || !isfinite(v) || isspace((unsigned char)text[0])) {
            snprintf(why, cap, "'%s' is not a finite number", text);
            return DN_EFORMAT;
        }
        e->d = v;
        return 0;
    }
    case DN_CFG_BOOL: {
        static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
        for (int k = 0; k < 4; k++) {
            if (strcasecmp(text, yes[k]) == 0) {
                e->b = 1;
                return 0;
            }
            if (strcasecmp(text, no[k]) == 0) {
                e->b = 0;
                return 0;
            }
        }
        snprintf(why, cap, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", text);
        return DN_EFORMAT;
    }
    }
    return DN_EINVAL;
}

/* Sets e from text at prio (when prio >= the current one). `where` is the
 * source; errors are "WHERE: key 'k': why". */
static int assign(entry_t *e, const char *text, int prio, const char *where, dn_err_t *err)
{
    char why[DN_ERRMSG_MAX / 2];
    entry_t tmp = *e;
    if (parse_value(&tmp, text, why, sizeof why))
        return dn_err_set(err, DN_EFORMAT, "%s: key '%s': %s", where, e->name, why);
    if (prio < e->prio)
        return 0;
    char *copy = strdup(text);
    if (!copy)
        return dn_err_set(err, DN_ENOMEM, "%s: out of memory", where);
    free(e->text);
    e->text = copy;
    e->i = tmp.i;
    e->d = tmp.d;
    e->b = tmp.b;
    e->prio = prio;
    snprintf(e->source, sizeof e->source, "%s", where);
    return 0;
}

static entry_t *find(const dn_config_t *self, const char *name)
{
    for (int i = 0; i < self->n; i++)
        if (strcmp(self->entries[i].name, name) == 0)
            return &self->entries[i];
    return NULL;
}

void dn_config_destroy(dn_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (int i = 0; i < (*self_p)->n; i++)
        free((*self_p)->entries[i].text);
    free((*self_p)->entries);
    free(*self_p);
    *self_p = NULL;
}

dn_config_t *dn_config_new(const char *service, const dn_config_key_t *keys, int n_keys,
                           dn_err_t *err)
{
    dn_config_t *self = NULL;
    if (!valid_name(service) || strcmp(service, "common") == 0 || n_keys < 0 ||
        (n_keys && !keys)) {
        dn_err_set(err, DN_EINVAL, "config: invalid service name '%s'", service ? service : "");
        return NULL;
    }
    if (!(self = calloc(1, sizeof *self)) ||
        !(self->entries = calloc((size_t)(n_keys + N_COMMON), sizeof *self->entries))) {
        dn_err_set(err, DN_ENOMEM, "config: out of memory");
        goto fail;
    }
    snprintf(self->service, sizeof self->service, "%s", service);
    for (int k = 0; k < N_COMMON + n_keys; k++) {
        const dn_config_key_t *key = k < N_COMMON ? &common_keys[k] : &keys[k - N_COMMON];
        if (!valid_name(key->name)) {
            dn_err_set(err, DN_EINVAL, "config: invalid key name '%s'",
                       key->name ? key->name : "");
            goto fail;
        }
        if (find(self, key->name)) {
            dn_err_set(err, DN_EINVAL, "config: key '%s' declared twice", key->name);
            goto fail;
        }
        if (key->type < DN_CFG_STRING || key->type > DN_CFG_BOOL) {
            dn_err_set(err, DN_EINVAL, "config: key '%s': unknown type", key->name);
            goto fail;
        }
        entry_t *e = &self->entries[self->n++];
        snprintf(e->name, sizeof e->name, "%s", key->name);
        e->type = key->type;
        e->def = key->def;
        e->help = key->help ? key->help : "";
        snprintf(e->source, sizeof e->source, "%s", key->def ? "default" : "unset");
        if (key->def && assign(e, key->def, PRIO_DEFAULT, "config: default", err))
            goto fail;
        snprintf(e->source, sizeof e->source, "%s", key->def ? "default" : "unset");
    }
    return self;
fail:
    dn_config_destroy(&self);
    return NULL;
}

const char *dn_config_service(const dn_config_t *self)
{
    return self->service;
}

/* ---- file -------------------------------------------------------------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Extracts the value part in place: a quoted string or text up to a
 * whitespace-prefixed '#'. NULL on an unterminated quote or junk after it. */
static char *parse_file_value(char *v)
{
    v = trim(v);
    if (*v == '"') {
        char *out = v, *in = v + 1;
        while (*in && *in != '"') {
            if (*in == '\\' && (in[1] == '"' || in[1] == '\\'))
                in++;
            *out++ = *in++;
        }
        if (*in != '"')
            return NULL;
        char *rest = trim(in + 1);
        if (*rest && *rest != '#' && *rest != ';')
            return NULL;
        *out = '\0';
        return v;
    }
    for (char *p = v; *p; p++)
        if (*p == '#' && p > v && isspace((unsigned char)p[-1])) {
            *p = '\0';
            break;
        }
    return trim(v);
}

int dn_config_load_file(dn_config_t *self, const char *path, dn_err_t *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = dn_read_file(path, &buf, &len, err);
    if (rc) {
        dn_err_prefix(err, "config");
        return rc;
    }
    for (int i = 0; i < self->n; i++)
        self->entries[i].file_line[0] = self->entries[i].file_line[1] = 0;
    int section = 0; /* 0 [common], 1 [service], -1 another service's */
    char section_name[NAME_MAX_LEN] = "common";
    int lineno = 0;
    char *save = NULL;
    for (char *line = buf; line; line = save) {
        save = strchr(line, '\n');
        if (save)
            *save++ = '\0';
        lineno++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r') /* CRLF files */
            line[ll - 1] = '\0';
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || *trim(close + 1)) {
                rc = dn_err_set(err, DN_EFORMAT, "config %s:%d: malformed section header",
                                path, lineno);
                goto done;
            }
            *close = '\0';
            char *name = trim(s + 1);
            if (!valid_name(name)) {
                rc = dn_err_set(err, DN_EFORMAT, "config %s:%d: invalid section name '%s'", path,
                                lineno, name);
                goto done;
            }
            snprintf(section_name, sizeof section_name, "%s", name);
            section = strcmp(name, "common") == 0 ? 0 : strcmp(name, self->service) == 0 ? 1 : -1;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = dn_err_set(err, DN_EFORMAT, "config %s:%d: expected 'key = value'", path,
                            lineno);
            goto done;
        }
        *eq = '\0';
        char *key = trim(s), *value = parse_file_value(eq + 1);
        if (!*key) {
            rc = dn_err_set(err, DN_EFORMAT, "config %s:%d: empty key", path, lineno);
            goto done;
        }
        if (!value) {
            rc = dn_err_set(err, DN_EFORMAT, "config %s:%d: key '%s': unterminated quote or "
                            "text after the closing quote", path, lineno, key);
            goto done;
        }
        if (section < 0)
            continue;
        for (char *p = key; *p; p++)
            if (*p == '-')
                *p = '_';
        entry_t *e = find(self, key);
        if (!e) {
            rc = dn_err_set(err, DN_EFORMAT, "config %s:%d: unknown key '%s' in [%s]", path,
                            lineno, key, section_name);
            goto done;
        }
        if (e->file_line[section]) {
            rc = dn_err_set(err, DN_EFORMAT, "config %s:%d: key '%s' already set on line %d",
                            path, lineno, key, e->file_line[section]);
            goto done;
        }
        e->file_line[section] = lineno;
        char where[SOURCE_MAX];
        snprintf(where, sizeof where, "config %s:%d", path, lineno);
        if ((rc = assign(e, value, section ? PRIO_FILE_SERVICE : PRIO_FILE_COMMON, where, err)))
            goto done;
        /* the source reads better without the "config " prefix */
        if (e->prio == (section ? PRIO_FILE_SERVICE : PRIO_FILE_COMMON))
            snprintf(e->source, sizeof e->source, "%s:%d", path, lineno);
    }
    rc = 0;
done:
    free(buf);
    return rc;
}

/* ---- environment ------------------------------------------------------- */

static void env_name(char *out, size_t cap, const char *section, const char *key)
{
    snprintf(out, cap, "DINAMO_%s_%s", section, key);
    for (char *p = out; *p; p++)
        *p = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
}

int dn_config_load_env(dn_config_t *self, dn_err_t *err)
{
    for (int i = 0; i < self->n; i++) {
        entry_t *e = &self->entries[i];
        for (int s = 0; s < 2; s++) {
            char var[2 * NAME_MAX_LEN + 16], where[SOURCE_MAX];
            env_name(var, sizeof var, s ? self->service : "common", e->name);
            const char *v = getenv(var);
            if (!v)
                continue;
            snprintf(where, sizeof where, "environment %s", var);
            int rc = assign(e, v, s ? PRIO_ENV_SERVICE : PRIO_ENV_COMMON, where, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- command line ------------------------------------------------------ */

int dn_config_load_args(dn_config_t *self, int argc, char **argv, dn_err_t *err)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || !arg[2])
            return dn_err_set(err, DN_EFORMAT, "command line: stray argument '%s'", arg);
        char name[NAME_MAX_LEN];
        const char *eq = strchr(arg, '=');
        size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (n >= sizeof name)
            return dn_err_set(err, DN_EFORMAT, "command line: unknown option '%s'", arg);
        memcpy(name, arg + 2, n);
        name[n] = '\0';
        for (char *p = name; *p; p++)
            if (*p == '-')
                *p = '_';
        if (strcmp(name, "help") == 0)
            return DN_CONFIG_HELP;
        if (strcmp(name, "config") == 0) {
            if (!eq)
                i++;
            continue;
        }
        entry_t *e = find(self, name);
        if (!e)
            return dn_err_set(err, DN_EFORMAT, "command line: unknown option '--%.*s'", (int)n,
                              arg + 2);
        const char *value;
        if (eq)
            value = eq + 1;
        else if (e->type == DN_CFG_BOOL && (i + 1 == argc || strncmp(argv[i + 1], "--", 2) == 0))
            value = "true";
        else if (i + 1 < argc)
            value = argv[++i];
        else
            return dn_err_set(err, DN_EFORMAT, "command line: option '%s' needs a value", arg);
        char where[SOURCE_MAX];
        snprintf(where, sizeof where, "command line --%.*s", (int)n, arg + 2);
        int rc = assign(e, value, PRIO_ARGS, where, err);
        if (rc)
            return rc;
    }
    return 0;
}

int dn_config_load(dn_config_t *self, int argc, char **argv, dn_err_t *err)
{
    const char *file = getenv("DINAMO_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return DN_CONFIG_HELP;
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return dn_err_set(err, DN_EFORMAT, "command line: option '--config' needs a "
                                  "value");
            file = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            file = argv[i] + 9;
        }
    }
    int rc;
    if (file && file[0] && (rc = dn_config_load_file(self, file, err)))
        return rc;
    if ((rc = dn_config_load_env(self, err)) || (rc = dn_config_load_args(self, argc, argv, err)))
        return rc;
    for (int i = 0; i < self->n; i++) {
        const entry_t *e = &self->entries[i];
        if (!e->text) {
            char var[2 * NAME_MAX_LEN + 16], flag[NAME_MAX_LEN];
            env_name(var, sizeof var, self->service, e->name);
            snprintf(flag, sizeof flag, "%s", e->name);
            for (char *p = flag; *p; p++)
                if (*p == '_')
                    *p = '-';
            return dn_err_set(err, DN_EFORMAT, "config: required key '%s' is not set (set it "
                              "in [%s], %s or --%s)", e->name, self->service, var, flag);
        }
    }
    return 0;
}

int dn_config_set(dn_config_t *self, const char *key, const char *value, dn_err_t *err)
{
    entry_t *e = find(self, key);
    if (!e)
        return dn_err_set(err, DN_ENOTFOUND, "config: unknown key '%s'", key);
    return assign(e, value, PRIO_SET, "set", err);
}

/* ---- getters ----------------------------------------------------------- */

const char *dn_config_str(const dn_config_t *self, const char *key)
{
    const entry_t *e = find(self, key);
    return e ? e->text : NULL;
}

static const entry_t *typed(const dn_config_t *self, const char *key, dn_cfg_type_t t, int *rc)
{
    const entry_t *e = find(self, key);
    *rc = !e || !e->text ? DN_ENOTFOUND : e->type != t ? DN_EMISMATCH : 0;
    return *rc ? NULL : e;
}

int dn_config_int(const dn_config_t *self, const char *key, int64_t *out)
{
    int rc;
    const entry_t *e = typed(self, key, DN_CFG_INT, &rc);
    if (e)
        *out = e->i;
    return rc;
}

int dn_config_double(const dn_config_t *self, const char *key, double *out)
{
    int rc;
    const entry_t *e = typed(self, key, DN_CFG_DOUBLE, &rc);
    if (e)
        *out = e->d;
    return rc;
}

int dn_config_bool(const dn_config_t *self, const char *key, int *out)
{
    int rc;
    const entry_t *e = typed(self, key, DN_CFG_BOOL, &rc);
    if (e)
        *out = e->b;
    return rc;
}

const char *dn_config_source(const dn_config_t *self, const char *key)
{
    const entry_t *e = find(self, key);
    return e ? e->source : NULL;
}

void dn_config_usage(const dn_config_t *self, FILE *out)
{
    /* The variable prefix as dn_config_load_env spells it (upper case). */
    char var[2 * NAME_MAX_LEN + 16];
    env_name(var, sizeof var, self->service, "");
    fprintf(out, "options of %s (also [%s] / [common] in --config FILE, or "
            "%s<KEY>, DINAMO_COMMON_<KEY>):\n", self->service, self->service, var);
    for (int i = 0; i < self->n; i++) {
        const entry_t *e = &self->entries[i];
        char flag[NAME_MAX_LEN];
        snprintf(flag, sizeof flag, "%s", e->name);
        for (char *p = flag; *p; p++)
            if (*p == '_')
                *p = '-';
        fprintf(out, "  --%-22s %-6s %s (%s%s)\n", flag, type_name(e->type), e->help,
                e->def ? "default: " : "required", e->def ? e->def : "");
    }
}

void dn_config_dump(const dn_config_t *self, FILE *out)
{
    for (int i = 0; i < self->n; i++) {
        const entry_t *e = &self->entries[i];
        fprintf(out, "%s = %s  # %s\n", e->name, e->text ? e->text : "(unset)", e->source);
    }
}
