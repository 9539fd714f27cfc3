/* test_session.c: the dashboard's session table and header checks
 * (services/dashboard/session.h): expiry (idle and absolute) with injected
 * times, the bound on sessions (the expired, then the least recently used
 * forgotten), CSRF tokens compared, the Cookie header's dinamo_session values
 * found among others and hostile input skipped, Origin against Host, and the
 * table used from several threads at once. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

#define HOUR 3600.0

static dash_session_t *table(int max, double idle, double absolute)
{
    dash_session_opts_t o;
    dash_session_opts_default(&o);
    if (max)
        o.max_sessions = max;
    if (idle > 0)
        o.idle_s = idle;
    if (absolute > 0)
        o.absolute_s = absolute;
    dn_err_t err = {0};
    dash_session_t *t = dash_session_new(&o, &err);
    cr_assert_not_null(t, "%s", err.msg);
    return t;
}

static int is_token(const char *s)
{
    if (strlen(s) != DASH_SESSION_TOKEN_LEN)
        return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return 0;
    return 1;
}

Test(session, opts_are_checked)
{
    dn_err_t err = {0};
    dash_session_opts_t o;
    dash_session_opts_default(&o);
    cr_assert_eq(o.max_sessions, 1024);
    cr_assert_float_eq(o.idle_s, 8 * HOUR, 1e-9);
    cr_assert_float_eq(o.absolute_s, 24 * HOUR, 1e-9);
    dash_session_opts_t bad[4] = {o, o, o, o};
    bad[0].max_sessions = 0;
    bad[1].idle_s = 0;
    bad[2].absolute_s = -1;
    bad[3].idle_s = 0.0 / 0.0;
    for (int i = 0; i < 4; i++) {
        cr_assert_null(dash_session_new(&bad[i], &err), "bad options %d accepted", i);
        cr_assert_eq(err.code, DN_EINVAL, "%d: %s", i, err.msg);
    }
    dash_session_t *t = dash_session_new(NULL, &err);
    cr_assert_not_null(t, "%s", err.msg);
    dash_session_destroy(&t);
    cr_assert_null(t);
    dash_session_destroy(&t);
}

Test(session, open_find_drop)
{
    dash_session_t *t = table(0, 0, 0);
    char cookie[65], csrf[65], cookie2[65], csrf2[65];
    dn_err_t err = {0};
    cr_assert_eq(dash_session_open(t, "alice", 100.0, cookie, csrf, &err), 0, "%s", err.msg);
    cr_assert_eq(dash_session_open(t, "bob", 100.0, cookie2, csrf2, &err), 0, "%s", err.msg);
    cr_assert(is_token(cookie) && is_token(csrf), "cookie %s csrf %s", cookie, csrf);
    cr_assert(strcmp(cookie, csrf) && strcmp(cookie, cookie2) && strcmp(csrf, csrf2),
              "tokens repeat: %s %s %s %s", cookie, csrf, cookie2, csrf2);
    cr_assert_eq(dash_session_count(t), 2);

    dash_session_info_t info;
    cr_assert_eq(dash_session_find(t, cookie, 101.0, &info), 0);
    cr_assert_str_eq(info.user, "alice");
    cr_assert_str_eq(info.csrf, csrf);
    cr_assert_float_eq(info.opened, 100.0, 0);
    cr_assert_float_eq(info.last_used, 101.0, 0);
    cr_assert_eq(dash_session_find(t, cookie2, 101.0, &info), 0);
    cr_assert_str_eq(info.user, "bob");

    /* The CSRF token of one session is not another's; a cookie is no token. */
    cr_assert_eq(dash_session_find(t, cookie, 102.0, &info), 0);
    cr_assert_eq(dash_session_check_csrf(&info, csrf), 0);
    cr_assert_eq(dash_session_check_csrf(&info, csrf2), DN_EPERM);
    cr_assert_eq(dash_session_check_csrf(&info, cookie), DN_EPERM);
    cr_assert_eq(dash_session_find(t, csrf, 102.0, &info), DN_ENOTFOUND, "a token as a cookie");

    cr_assert_eq(dash_session_drop(t, cookie), 0);
    cr_assert_eq(dash_session_drop(t, cookie), DN_ENOTFOUND);
    cr_assert_eq(dash_session_find(t, cookie, 103.0, &info), DN_ENOTFOUND);
    cr_assert_eq(dash_session_find(t, cookie2, 103.0, &info), 0, "dropping one lost the other");
    cr_assert_eq(dash_session_count(t), 1);

    /* User names: printable, 1 to 64 bytes. */
    cr_assert_eq(dash_session_open(t, "", 1, cookie, csrf, &err), DN_EINVAL);
    cr_assert_eq(dash_session_open(t, NULL, 1, cookie, csrf, &err), DN_EINVAL);
    cr_assert_eq(dash_session_open(t, "a b", 1, cookie, csrf, &err), DN_EINVAL);
    cr_assert_eq(dash_session_open(t, "a\nb", 1, cookie, csrf, &err), DN_EINVAL);
    char long_name[70];
    memset(long_name, 'x', 65);
    long_name[65] = '\0';
    cr_assert_eq(dash_session_open(t, long_name, 1, cookie, csrf, &err), DN_EINVAL);
    long_name[64] = '\0';
    cr_assert_eq(dash_session_open(t, long_name, 1, cookie, csrf, &err), 0, "%s", err.msg);
    cr_assert_eq(dash_session_find(t, cookie, 2, &info), 0);
    cr_assert_str_eq(info.user, long_name);
    dash_session_destroy(&t);
}

Test(session, malformed_cookies_are_not_found)
{
    dash_session_t *t = table(0, 0, 0);
    char cookie[65], csrf[65], c[80];
    cr_assert_eq(dash_session_open(t, "alice", 0, cookie, csrf, NULL), 0);
    cr_assert_eq(dash_session_find(t, NULL, 1, NULL), DN_ENOTFOUND);
    cr_assert_eq(dash_session_find(t, "", 1, NULL), DN_ENOTFOUND);
    snprintf(c, sizeof c, "%.63s", cookie); /* one short */
    cr_assert_eq(dash_session_find(t, c, 1, NULL), DN_ENOTFOUND);
    snprintf(c, sizeof c, "%s0", cookie); /* one long */
    cr_assert_eq(dash_session_find(t, c, 1, NULL), DN_ENOTFOUND);
    snprintf(c, sizeof c, "%s", cookie);
    for (char *p = c; *p; p++) /* upper case: not the value handed out */
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    if (strcmp(c, cookie))
        cr_assert_eq(dash_session_find(t, c, 1, NULL), DN_ENOTFOUND);
    snprintf(c, sizeof c, "%s", cookie);
    c[10] = c[10] == '0' ? '1' : '0'; /* one character off */
    cr_assert_eq(dash_session_find(t, c, 1, NULL), DN_ENOTFOUND);
    cr_assert_eq(dash_session_find(t, cookie, 1, NULL), 0, "the right one still works");
    dash_session_destroy(&t);
}

Test(session, idle_expiry_renewed_by_use)
{
    dash_session_t *t = table(0, 0, 0); /* 8 h idle, 24 h absolute */
    char cookie[65], csrf[65];
    cr_assert_eq(dash_session_open(t, "alice", 0, cookie, csrf, NULL), 0);
    cr_assert_eq(dash_session_find(t, cookie, 8 * HOUR - 1, NULL), 0);
    cr_assert_eq(dash_session_find(t, cookie, 16 * HOUR - 2, NULL), 0, "use renews the idle "
                 "time");
    cr_assert_eq(dash_session_find(t, cookie, 24 * HOUR - 2, NULL), DN_ENOTFOUND,
                 "8 h idle exactly is expired");
    cr_assert_eq(dash_session_count(t), 0, "an expired session found is forgotten");
    cr_assert_eq(dash_session_find(t, cookie, 16 * HOUR, NULL), DN_ENOTFOUND,
                 "forgotten for good, even back in time");
    dash_session_destroy(&t);
}

Test(session, absolute_expiry_despite_use)
{
    dash_session_t *t = table(0, 0, 0);
    char cookie[65], csrf[65];
    cr_assert_eq(dash_session_open(t, "alice", 1000, cookie, csrf, NULL), 0);
    double now = 1000;
    for (int h = 1; h < 24; h++) {
        now = 1000 + h * HOUR;
        cr_assert_eq(dash_session_find(t, cookie, now, NULL), 0, "lost after %d h of use", h);
    }
    cr_assert_eq(dash_session_find(t, cookie, 1000 + 24 * HOUR - 0.5, NULL), 0);
    cr_assert_eq(dash_session_find(t, cookie, 1000 + 24 * HOUR, NULL), DN_ENOTFOUND,
                 "alive 24 h after it opened");
    dash_session_destroy(&t);
}

Test(session, bound_forgets_least_recently_used)
{
    dash_session_t *t = table(4, 0, 0);
    char cookie[6][65], csrf[65];
    char user[8];
    for (int i = 0; i < 4; i++) {
        snprintf(user, sizeof user, "u%d", i);
        cr_assert_eq(dash_session_open(t, user, 10.0 * i, cookie[i], csrf, NULL), 0);
    }
    /* u0 is the oldest but was just used: u1 is the least recently used. */
    cr_assert_eq(dash_session_find(t, cookie[0], 35, NULL), 0);
    cr_assert_eq(dash_session_open(t, "u4", 40, cookie[4], csrf, NULL), 0);
    cr_assert_eq(dash_session_count(t), 4);
    int want[5] = {0, DN_ENOTFOUND, 0, 0, 0};
    dash_session_info_t info;
    for (int i = 0; i < 5; i++) {
        int rc = dash_session_find(t, cookie[i], 41, &info);
        cr_assert_eq(rc, want[i], "u%d: found %d, want %d", i, rc, want[i]);
    }
    /* Every one was used at 41; three are used again later, so u0 is now the
     * least recently used and one more session forgets it alone. */
    cr_assert_eq(dash_session_find(t, cookie[2], 50, NULL), 0);
    cr_assert_eq(dash_session_find(t, cookie[3], 51, NULL), 0);
    cr_assert_eq(dash_session_find(t, cookie[4], 52, NULL), 0);
    cr_assert_eq(dash_session_open(t, "u5", 60, cookie[5], csrf, NULL), 0);
    cr_assert_eq(dash_session_find(t, cookie[0], 61, NULL), DN_ENOTFOUND, "u0 kept");
    for (int i = 2; i < 6; i++)
        cr_assert_eq(dash_session_find(t, cookie[i], 61, NULL), 0, "u%d forgotten", i);
    dash_session_destroy(&t);
}

Test(session, bound_forgets_the_expired_before_the_live)
{
    dash_session_t *t = table(3, 100, 1000);
    char a[65], b[65], c[65], d[65], csrf[65];
    cr_assert_eq(dash_session_open(t, "a", 0, a, csrf, NULL), 0);
    cr_assert_eq(dash_session_open(t, "b", 50, b, csrf, NULL), 0);
    cr_assert_eq(dash_session_open(t, "c", 120, c, csrf, NULL), 0);
    /* At 160 a (idle 160) and b (idle 110) have expired; opening one more
     * forgets both and no live session. */
    cr_assert_eq(dash_session_open(t, "d", 160, d, csrf, NULL), 0);
    cr_assert_eq(dash_session_count(t), 2);
    cr_assert_eq(dash_session_find(t, c, 161, NULL), 0);
    cr_assert_eq(dash_session_find(t, d, 161, NULL), 0);
    dash_session_destroy(&t);
}

Test(session, csrf_compare)
{
    dash_session_info_t info = {0};
    memset(info.csrf, 'a', 64);
    char tok[80];
    memset(tok, 'a', 64);
    tok[64] = '\0';
    cr_assert_eq(dash_session_check_csrf(&info, tok), 0);
    for (int at = 0; at < 64; at += 21) {
        tok[at] = 'b';
        cr_assert_eq(dash_session_check_csrf(&info, tok), DN_EPERM, "differs at %d", at);
        tok[at] = 'a';
    }
    cr_assert_eq(dash_session_check_csrf(&info, NULL), DN_EPERM);
    cr_assert_eq(dash_session_check_csrf(&info, ""), DN_EPERM);
    tok[63] = '\0';
    cr_assert_eq(dash_session_check_csrf(&info, tok), DN_EPERM, "a prefix");
    tok[63] = 'a', tok[64] = 'a', tok[65] = '\0';
    cr_assert_eq(dash_session_check_csrf(&info, tok), DN_EPERM, "longer");
    cr_assert_eq(dash_session_check_csrf(NULL, tok), DN_EPERM);
    dash_session_info_t none = {0}; /* a session without token matches nothing */
    cr_assert_eq(dash_session_check_csrf(&none, ""), DN_EPERM);
}

/* ---- the Cookie header ---------------------------------------------------------- */

#define V1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define V2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* The values found in header, joined with '|'. */
static void values_of(const char *header, char *out, size_t cap)
{
    char v[65];
    size_t pos = 0, used = 0;
    int n = 0;
    out[0] = '\0';
    while (dash_session_cookie_next(header, &pos, v)) {
        used += (size_t)snprintf(out + used, cap - used, "%s%s", n++ ? "|" : "", v);
        cr_assert_lt(used, cap);
        cr_assert_lt(n, 100, "no end");
    }
}

Test(session, cookie_header_values)
{
    static const struct {
        const char *header, *want;
    } cases[] = {
        {"dinamo_session=" V1, V1},
        {"a=1; dinamo_session=" V1 "; b=2", V1},
        {"a=1;dinamo_session=" V1 ";b=2", V1},
        {"  dinamo_session  =  " V1 "  ", V1},
        {"\tdinamo_session=\t" V1 "\t;", V1},
        {"dinamo_session=\"" V1 "\"", V1},
        {"dinamo_session=" V1 "; dinamo_session=" V2, V1 "|" V2},
        {"dinamo_session=" V1 ", other=x", V1},
        {"theme=dark; lang=en", ""},
        {"", ""},
        {";;;;", ""},
        {"=;=;=" V1, ""},
        {"dinamo_session", ""},
        {"dinamo_session=", ""},
        {"dinamo_session=\"\"", ""},
        {"dinamo_session=\"", ""},
        {"dinamo_session=\"" V1, ""},            /* unbalanced quote */
        {"dinamo_session=" V1 "0", ""},          /* 65 characters */
        {"dinamo_session=" V1 " 0", ""},         /* white space inside */
        {"dinamo_session=0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", ""},
        {"Dinamo_Session=" V1, ""},              /* names are case-sensitive */
        {"xdinamo_session=" V1, ""},
        {"dinamo_sessionx=" V1, ""},
        {"dinamo session=" V1, ""},
        {"dinamo_session==" V1, ""},
        {"dinamo_session=" V1 "=", ""},
        {"other=dinamo_session=" V1, ""},        /* inside another's value */
        {"dinamo_session=junk; dinamo_session=" V2, V2}, /* a bad one does not hide */
        {"dinamo_session=\x01" V1, ""},
        {"dinamo_session=" V1 "\r\nX-Injected: 1", ""},
    };
    char got[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        values_of(cases[i].header, got, sizeof got);
        cr_assert_str_eq(got, cases[i].want, "case %zu: header \"%s\": got \"%s\", want \"%s\"",
                         i, cases[i].header, got, cases[i].want);
    }
    char v[65];
    size_t pos = 0;
    cr_assert_eq(dash_session_cookie_next(NULL, &pos, v), 0);
}

Test(session, cookie_header_hostile_sizes)
{
    /* A header of 1 MB of ';' and '=' and one of many cookies: bounded reads
     * (only the first DASH_SESSION_HEADER_MAX bytes), no value invented. */
    size_t n = 1 << 20;
    char *h = malloc(n + 1);
    cr_assert_not_null(h);
    for (size_t i = 0; i < n; i++)
        h[i] = i % 3 == 0 ? ';' : i % 3 == 1 ? '=' : '"';
    h[n] = '\0';
    char got[256];
    values_of(h, got, sizeof got);
    cr_assert_str_eq(got, "");
    /* A real value past the first 16 KiB is not read. */
    size_t at = n - 100;
    memcpy(h + at, ";dinamo_session=" V1 ";", strlen(";dinamo_session=" V1 ";"));
    values_of(h, got, sizeof got);
    cr_assert_str_eq(got, "");
    memcpy(h + 100, ";dinamo_session=" V2 ";", strlen(";dinamo_session=" V2 ";"));
    values_of(h, got, sizeof got);
    cr_assert_str_eq(got, V2);
    free(h);
}

Test(session, find_header_tries_every_value)
{
    dash_session_t *t = table(0, 0, 0);
    char cookie[65], csrf[65], header[400], matched[65];
    cr_assert_eq(dash_session_open(t, "alice", 0, cookie, csrf, NULL), 0);
    dash_session_info_t info;
    /* A well-formed value planted ahead of the real one does not log her out. */
    snprintf(header, sizeof header, "dinamo_session=" V1 "; theme=x; dinamo_session=%s",
             cookie);
    cr_assert_eq(dash_session_find_header(t, header, 1, &info, matched), 0);
    cr_assert_str_eq(info.user, "alice");
    cr_assert_str_eq(matched, cookie);
    cr_assert_eq(dash_session_find_header(t, "dinamo_session=" V1, 1, &info, NULL),
                 DN_ENOTFOUND);
    cr_assert_eq(dash_session_find_header(t, NULL, 1, &info, NULL), DN_ENOTFOUND);
    dash_session_destroy(&t);
}

Test(session, set_cookie_header)
{
    char buf[DASH_SESSION_SET_COOKIE_MAX];
    cr_assert_eq(dash_session_set_cookie(buf, sizeof buf, V1, 0), 0);
    cr_assert_str_eq(buf, "dinamo_session=" V1 "; Path=/; HttpOnly; SameSite=Strict");
    cr_assert_eq(dash_session_set_cookie(buf, sizeof buf, V1, 1), 0);
    cr_assert_str_eq(buf, "dinamo_session=" V1 "; Path=/; HttpOnly; SameSite=Strict; Secure");
    cr_assert_eq(dash_session_set_cookie(buf, sizeof buf, NULL, 0), 0);
    cr_assert_str_eq(buf, "dinamo_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    /* What it writes, the Cookie parser reads back. */
    cr_assert_eq(dash_session_set_cookie(buf, sizeof buf, V2, 0), 0);
    char got[256];
    values_of(buf, got, sizeof got);
    cr_assert_str_eq(got, V2);
    cr_assert_eq(dash_session_set_cookie(buf, sizeof buf, "x; Domain=evil", 0), DN_EINVAL);
    cr_assert_eq(dash_session_set_cookie(buf, 40, V1, 0), DN_EINVAL);
    cr_assert_str_eq(buf, "", "a truncated header was left");
}

/* ---- Origin against Host -------------------------------------------------------- */

Test(session, origin_against_host)
{
    static const struct {
        const char *origin, *host, *scheme;
        int want;
    } cases[] = {
        {"http://127.0.0.1:8080", "127.0.0.1:8080", "http", 0},
        {"http://localhost:8080", "LocalHost:8080", "http", 0},
        {"HTTP://localhost:8080", "localhost:8080", "http", 0},
        {"http://localhost", "localhost:80", "http", 0},
        {"http://localhost:80", "localhost", "http", 0},
        {"https://example.org", "example.org:443", "https", 0},
        {"http://[::1]:8080", "[::1]:8080", "http", 0},
        {"http://127.0.0.1:8081", "127.0.0.1:8080", "http", DN_EPERM},
        {"http://127.0.0.1", "127.0.0.1:8080", "http", DN_EPERM},
        {"http://evil.example:8080", "127.0.0.1:8080", "http", DN_EPERM},
        {"http://127.0.0.1.evil:8080", "127.0.0.1:8080", "http", DN_EPERM},
        {"https://127.0.0.1:8080", "127.0.0.1:8080", "http", DN_EPERM},
        {"http://127.0.0.1:8080", "127.0.0.1:8080", "https", DN_EPERM},
        {"null", "127.0.0.1:8080", "http", DN_EPERM},
        {"http://127.0.0.1:8080/", "127.0.0.1:8080", "http", DN_EPERM},
        {"http://user@127.0.0.1:8080", "127.0.0.1:8080", "http", DN_EPERM},
        {"http://127.0.0.1:08080", "127.0.0.1:8080", "http", 0},
        {"http://127.0.0.1:99999", "127.0.0.1:99999", "http", DN_EPERM},
        {"http://127.0.0.1:0", "127.0.0.1:0", "http", DN_EPERM},
        {"http://127.0.0.1:", "127.0.0.1", "http", DN_EPERM},
        {"http://", "", "http", DN_EPERM},
        {"http://[::1", "[::1", "http", DN_EPERM},
        {"http://[zz]:1", "[zz]:1", "http", DN_EPERM},
        {"http://a b", "a b", "http", DN_EPERM},
        {"http://127.0.0.1:8080", NULL, "http", DN_EPERM},
        {"http://127.0.0.1:8080", "127.0.0.1:8080", "ftp", DN_EPERM},
        {"ftp://127.0.0.1:8080", "127.0.0.1:8080", "http", DN_EPERM},
        {NULL, "127.0.0.1:8080", "http", DN_ENOTFOUND},
        {"", "127.0.0.1:8080", "http", DN_ENOTFOUND},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = dash_session_origin_check(cases[i].origin, cases[i].host, cases[i].scheme);
        cr_assert_eq(got, cases[i].want, "case %zu: Origin \"%s\" Host \"%s\" (%s): got %d, "
                     "want %d", i, cases[i].origin ? cases[i].origin : "(none)",
                     cases[i].host ? cases[i].host : "(none)", cases[i].scheme, got,
                     cases[i].want);
    }
}

/* ---- threads ------------------------------------------------------------------ */

#define N_THREADS 4
#define ROUNDS 2000

static dash_session_t *shared;

static void *churn(void *arg)
{
    long id = (long)arg;
    char cookie[65], csrf[65], user[16];
    snprintf(user, sizeof user, "t%ld", id);
    long bad = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double now = r;
        if (dash_session_open(shared, user, now, cookie, csrf, NULL))
            bad++;
        dash_session_info_t info;
        /* The table holds 64: another thread's opens may have evicted ours
         * only after at least 64 opens; found, it must be ours. */
        if (dash_session_find(shared, cookie, now, &info) == 0 &&
            (strcmp(info.user, user) || strcmp(info.csrf, csrf)))
            bad++;
        if (r % 3 == 0)
            dash_session_drop(shared, cookie);
    }
    return (void *)bad;
}

Test(session, several_threads_at_once)
{
    shared = table(64, 0, 0);
    pthread_t t[N_THREADS];
    for (long i = 0; i < N_THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, churn, (void *)i), 0);
    long bad = 0;
    for (int i = 0; i < N_THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    cr_assert_eq(bad, 0, "%ld sessions mixed up or refused", bad);
    int n = dash_session_count(shared);
    cr_assert(n > 0 && n <= 64, "count %d beyond the bound", n);
    dash_session_destroy(&shared);
}
