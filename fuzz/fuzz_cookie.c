/* fuzz_cookie.c: the headers the dashboard reads before anything else of a
 * request (services/dashboard/session.c): the Cookie header's dinamo_session
 * values (dash_session_cookie_next, dash_session_find_header) and Origin
 * against Host (dash_session_origin_check).
 *
 * The input is split at NUL bytes: a Cookie header, then an Origin, then a
 * Host. Beyond "no crash, no leak": every value handed out is 64 lowercase
 * hex characters found in the header, the scan moves forward and ends; a live
 * session's cookie appended to the header is found whatever came before it
 * (unless the header already holds more well-formed values than are tried);
 * an Origin matching a Host implies that Host is well-formed (its own origin
 * matches it), and an Origin with a path never matches. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzcheck.h"
#include "session.h"

static dash_session_t *table;
static char live[DASH_SESSION_TOKEN_LEN + 1], live_csrf[DASH_SESSION_TOKEN_LEN + 1];

static int is_token(const char *s)
{
    if (strlen(s) != DASH_SESSION_TOKEN_LEN)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static void check_cookie(const char *header, size_t len)
{
    char v[DASH_SESSION_TOKEN_LEN + 1];
    size_t pos = 0, last = 0;
    int n = 0;
    while (dash_session_cookie_next(header, &pos, v)) {
        FUZZ_CHECK(is_token(v), "value '%s' is not a token", v);
        FUZZ_CHECK(strstr(header, v) != NULL, "value %s not in the header", v);
        FUZZ_CHECK(pos > last && pos <= len, "cursor from %zu to %zu (length %zu)", last, pos,
                   len);
        last = pos;
        n++;
    }
    FUZZ_SAY("%d values", n);
    FUZZ_CHECK(n <= (int)(len / (DASH_SESSION_TOKEN_LEN + 16)) + 1, "%d values in %zu bytes", n,
               len);
    /* The live session's cookie after whatever the header held. */
    char *h = malloc(len + 100);
    FUZZ_CHECK(h != NULL, "out of memory");
    snprintf(h, len + 100, "%s; dinamo_session=%s", header, live);
    dash_session_info_t info;
    char matched[DASH_SESSION_TOKEN_LEN + 1];
    int rc = dash_session_find_header(table, h, 1.0, &info, matched);
    if (n < 15) {
        FUZZ_CHECK(rc == 0, "the live cookie after %d values not found", n);
        FUZZ_CHECK(!strcmp(matched, live) && !strcmp(info.user, "alice"), "wrong session");
        FUZZ_CHECK(dash_session_check_csrf(&info, live_csrf) == 0, "csrf differs");
    }
    free(h);
}

static void check_origin(const char *origin, const char *host)
{
    const char *scheme[2] = {"http", "https"};
    for (int s = 0; s < 2; s++) {
        int rc = dash_session_origin_check(origin, host, scheme[s]);
        FUZZ_CHECK(rc == 0 || rc == DN_EPERM || rc == DN_ENOTFOUND, "rc %d", rc);
        FUZZ_CHECK((rc == DN_ENOTFOUND) == !origin[0], "rc %d with origin '%s'", rc, origin);
        if (rc == 0) {
            char own[700], slash[700];
            snprintf(own, sizeof own, "%s://%s", scheme[s], host);
            FUZZ_CHECK(dash_session_origin_check(own, host, scheme[s]) == 0,
                       "Host '%s' matched '%s' but not its own origin", host, origin);
            snprintf(slash, sizeof slash, "%s/", origin);
            FUZZ_CHECK(dash_session_origin_check(slash, host, scheme[s]) == DN_EPERM,
                       "'%s' with a path matched", slash);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!table) {
        dn_err_t err = {0};
        table = dash_session_new(NULL, &err);
        FUZZ_CHECK(table != NULL, "%s", err.msg);
        FUZZ_CHECK(dash_session_open(table, "alice", 0.0, live, live_csrf, &err) == 0, "%s",
                   err.msg);
    }
    char *buf = malloc(size + 3);
    FUZZ_CHECK(buf != NULL, "out of memory");
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = buf[size + 2] = '\0';
    const char *header = buf;
    size_t hlen = strlen(header);
    const char *origin = buf + hlen + 1 <= buf + size ? buf + hlen + 1 : buf + size + 1;
    const char *host = origin + strlen(origin) + 1;
    if (host > buf + size + 2)
        host = buf + size + 2;
    check_cookie(header, hlen);
    check_origin(origin, host);
    free(buf);
    return 0;
}
