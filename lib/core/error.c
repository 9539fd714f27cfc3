/* error.c: error code names and the dn_err_t detail buffer (see error.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *dn_strerror(int code)
{
    switch (code) {
    case DN_OK: return "success";
    case DN_ENOMEM: return "out of memory";
    case DN_EINVAL: return "invalid argument";
    case DN_EIO: return "input/output error";
    case DN_EFORMAT: return "malformed input";
    case DN_ERANGE: return "value out of range";
    case DN_EEMPTY: return "insufficient statistics";
    case DN_ENOTFOUND: return "not found";
    case DN_ESTATE: return "invalid state";
    case DN_EMISMATCH: return "dimension mismatch";
    case DN_ENOSPACE: return "no space left";
    case DN_EPERM: return "not permitted";
    default: return "unknown error";
    }
}

int dn_err_set(dn_err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int dn_err_prefix(dn_err_t *err, const char *fmt, ...)
{
    if (!err)
        return DN_OK;
    char prefix[DN_ERRMSG_MAX], old[DN_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Truncation is acceptable here: the message stays NUL-terminated. */
    size_t n = strnlen(prefix, sizeof prefix - 1);
    memcpy(err->msg, prefix, n);
    if (n + 2 < sizeof err->msg) {
        memcpy(err->msg + n, ": ", 2);
        n += 2;
    }
    size_t m = strnlen(old, sizeof old - 1);
    if (m > sizeof err->msg - 1 - n)
        m = sizeof err->msg - 1 - n;
    memcpy(err->msg + n, old, m);
    err->msg[n + m] = '\0';
    return err->code;
}

void dn_err_clear(dn_err_t *err)
{
    if (err) {
        err->code = DN_OK;
        err->msg[0] = '\0';
    }
}
