/* session.h: the dashboard's logins: a bounded table of sessions, each a
 * cookie and a CSRF token for one user, and the header checks around them.
 *
 * A login (after dn_users_verify) opens a session: the browser gets the
 * cookie value in `Set-Cookie: dinamo_session=VALUE; HttpOnly;
 * SameSite=Strict; Path=/`, the page gets the CSRF token in the JSON body and
 * sends it back in `X-CSRF-Token` with every change. Both are 32 random
 * bytes from libsodium as 64 lowercase hex characters. The table keeps a
 * BLAKE2b digest of the cookie, not the cookie itself, so neither a lookup's
 * timing nor a memory dump hands a live cookie over.
 *
 * A session ends when idle longer than idle_s (default 8 h), or absolute_s
 * (default 24 h) after it opened, or when dropped (logout). The table holds at
 * most max_sessions (default 1024): opening one more first forgets the
 * expired, then the least recently used session (whose user must log in
 * again). Time is passed in (wall or monotonic seconds, the caller's choice,
 * the same clock throughout), so tests inject it.
 *
 * Pure: no HTTP library. Thread rules: a dash_session_t may be used from any
 * number of threads at once (libmicrohttpd's): every call takes its mutex
 * and copies results out. The header helpers are pure and thread-free. */
#ifndef DASH_SESSION_H
#define DASH_SESSION_H

#include <stddef.h>

#include "error.h"

#define DASH_SESSION_COOKIE_NAME "dinamo_session"
#define DASH_SESSION_TOKEN_LEN 64 /* hex characters of a cookie or CSRF token */
#define DASH_SESSION_USER_MAX 64  /* bytes of a user name, as users.h */

typedef struct dash_session_t dash_session_t;

typedef struct dash_session_opts_t {
    int max_sessions;  /* 1 .. 1 << 20; default 1024 */
    double idle_s;     /* > 0; default 8 h */
    double absolute_s; /* > 0; default 24 h */
} dash_session_opts_t;

/* A session as found: copies, the caller's. */
typedef struct dash_session_info_t {
    char user[DASH_SESSION_USER_MAX + 1];
    char csrf[DASH_SESSION_TOKEN_LEN + 1];
    double opened, last_used;
} dash_session_info_t;

void dash_session_opts_default(dash_session_opts_t *o);

/* A new empty table (opts NULL: the defaults). Initialises libsodium. Returns
 * the table (the caller frees it with dash_session_destroy) or NULL with *err
 * set: DN_EINVAL (an option out of its range, named), DN_EIO (libsodium),
 * DN_ENOMEM. */
dash_session_t *dash_session_new(const dash_session_opts_t *opts, dn_err_t *err);

void dash_session_destroy(dash_session_t **self_p);

/* Opens a session for user (1 to 64 bytes, printable ASCII) at time now:
 * writes its cookie value and CSRF token, each 64 hex characters and a NUL,
 * into cookie and csrf. May forget the least recently used session (see
 * above). Returns 0 or DN_EINVAL (bad user name). */
int dash_session_open(dash_session_t *self, const char *user, double now,
                      char cookie[DASH_SESSION_TOKEN_LEN + 1], char csrf[DASH_SESSION_TOKEN_LEN + 1],
                      dn_err_t *err);

/* Finds the live session of cookie (a value as the browser sent it) at time
 * now, marks it used at now, and copies it into *info (may be NULL). An
 * expired session found is forgotten. Returns 0, or DN_ENOTFOUND (no such
 * session, expired, or not a well-formed cookie value). */
int dash_session_find(dash_session_t *self, const char *cookie, double now,
                      dash_session_info_t *info);

/* As dash_session_find, for every dinamo_session value of a Cookie header
 * in turn (a browser may send several, e.g. one planted by another site of
 * the same host): the first live one wins. header may be NULL. Returns 0 with
 * *info set and, when cookie_out is not NULL, the value that matched copied
 * into it; or DN_ENOTFOUND. */
int dash_session_find_header(dash_session_t *self, const char *header, double now,
                             dash_session_info_t *info, char cookie_out[DASH_SESSION_TOKEN_LEN + 1]);

/* Checks the CSRF token a request carries (X-CSRF-Token; may be NULL) against
 * the session's in constant time (sodium_memcmp). Returns 0 when it is the
 * session's, DN_EPERM when missing or wrong. */
int dash_session_check_csrf(const dash_session_info_t *info, const char *token);

/* Forgets cookie's session (logout). Returns 0, or DN_ENOTFOUND. */
int dash_session_drop(dash_session_t *self, const char *cookie);

/* Number of sessions held (live or not yet swept). */
int dash_session_count(dash_session_t *self);

/* ---- headers (pure) ------------------------------------------------------------ */

/* Writes the Set-Cookie header value that hands cookie to the browser
 * ("dinamo_session=VALUE; Path=/; HttpOnly; SameSite=Strict", and "; Secure"
 * when secure: a server behind https), or, with cookie NULL, the one that
 * makes the browser forget it (logout: an empty value, Max-Age=0). No Max-Age
 * on a live cookie: the browser keeps it until it closes, the table decides
 * when it expires. Returns 0, or DN_EINVAL (cookie not a token, cap too
 * small: DASH_SESSION_SET_COOKIE_MAX is enough). */
#define DASH_SESSION_SET_COOKIE_MAX 160
int dash_session_set_cookie(char *buf, size_t cap, const char *cookie, int secure);

/* Iterates the dinamo_session values of a Cookie header ("a=1; dinamo_session=
 * VALUE; b=2"): from byte *pos (0 first), finds the next pair named exactly
 * dinamo_session whose value (double quotes around it removed, as RFC 6265
 * allows) is 64 lowercase hex characters, copies the value into out, moves
 * *pos past it and returns 1; returns 0 when there is none left (header NULL
 * included). Pairs are split at ';' (and ','), white space around names and
 * values is ignored, anything malformed (no '=', a bad value, control bytes)
 * is skipped. Only the first DASH_SESSION_HEADER_MAX bytes of a header are
 * read. */
#define DASH_SESSION_HEADER_MAX 16384
int dash_session_cookie_next(const char *header, size_t *pos,
                             char out[DASH_SESSION_TOKEN_LEN + 1]);

/* Checks a request's Origin header against its Host header for scheme (the
 * server's, "http" or "https"): same scheme, host (ASCII case-insensitive,
 * IPv6 in brackets) and port (the scheme's default when absent). Returns 0
 * when they agree, DN_EPERM when they do not or either is malformed (Origin
 * "null" included), DN_ENOTFOUND when there is no Origin (NULL or empty):
 * browsers send one with every cross-site POST, other clients may not, so the
 * caller decides (the CSRF token still applies). */
int dash_session_origin_check(const char *origin, const char *host, const char *scheme);

#endif
