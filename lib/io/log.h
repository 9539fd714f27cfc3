/* log.h: one-line log records on stderr for the services.
 *
 *     2025-11-22T21:12:03.123Z scorer_s[1234] INFO run 17: 3 histograms scored
 *
 * Each record is formatted into one buffer and written with a single write(2),
 * so lines of concurrent processes sharing a terminal or a docker log never
 * interleave mid-line (records are cut at DN_LOG_LINE_MAX bytes). Records below
 * the current level cost one comparison. Times are UTC with milliseconds.
 *
 * This is the one place in lib/ that prints; library functions themselves
 * report errors through return codes and leave logging to the service.
 *
 * Records about rejected outside input go through a rate limit
 * (dn_log_limited, DN_LOG_LIMITED), so that a flood of garbage cannot flood
 * the log: each limit writes at most `per_s` records in a one-second window,
 * counts the rest, and reports them in one record when the window is over,
 *
 *     ... WARN 99990 similar messages suppressed in the last 1.0 s (first: rejected message: ...)
 *
 * at the next record of that limit or at dn_log_limits_flush (the service
 * loop calls it every round, and with force at its end), so that every
 * suppressed record is accounted for exactly.
 *
 * Thread rules: dn_log and dn_log_limited may be called from any thread (the
 * limits share one mutex); dn_log_init and dn_log_set_* are meant for
 * start-up (they are not synchronised with dn_log). */
#ifndef DN_LOG_H
#define DN_LOG_H

#include <stdint.h>

#include "error.h"

typedef enum dn_log_level_t {
    DN_LOG_DEBUG = 0,
    DN_LOG_INFO,
    DN_LOG_WARN,
    DN_LOG_ERROR,
    DN_LOG_OFF, /* as a threshold only */
} dn_log_level_t;

#define DN_LOG_LINE_MAX 2048

/* Parses "debug", "info", "warn"/"warning", "error", "off" (any case) into
 * *level. Returns 0 or DN_EINVAL ("log level 'loud': want debug, info, warn,
 * error or off"). */
int dn_log_level_parse(const char *name, dn_log_level_t *level, dn_err_t *err);

/* Sets the service name shown in records (copied, cut at 63 bytes) and the
 * threshold from level_name (NULL: keep). The environment variable
 * DINAMO_LOG_LEVEL, when set, overrides level_name (so a single misbehaving
 * service can be turned to debug without editing the shared config). Returns
 * 0 or DN_EINVAL for a bad level name (the threshold then stays). */
int dn_log_init(const char *service, const char *level_name, dn_err_t *err);

/* Sets / gets the threshold: records below it are dropped. Default INFO. */
void dn_log_set_level(dn_log_level_t level);
dn_log_level_t dn_log_get_level(void);

/* Sends records to file descriptor fd instead of 2 (tests). */
void dn_log_set_fd(int fd);

/* How many records of level (DN_LOG_WARN or DN_LOG_ERROR; 0 for the others)
 * this process asked for since it started, whether or not the threshold let
 * them through (the service heartbeat, lib/io/health.h, carries them). Any
 * thread. */
unsigned long long dn_log_count(dn_log_level_t level);

/* Writes one record (printf format; a trailing newline is added). */
void dn_log(dn_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define DN_LOG_LIMIT_PER_S 10 /* records a limit writes per second by default */

/* The rate limit of one kind of record (a call site, or one reason of one):
 * zero-initialise it (a static one lives as long as the process) and set
 * per_s if the default will not do; the rest is the limiter's. A limit must
 * stay valid until the process ends (it joins a list dn_log_limits_flush
 * walks): a static or global one. */
typedef struct dn_log_limit_t {
    int per_s;                    /* records written per one-second window; 0: DN_LOG_LIMIT_PER_S */
    int registered;
    dn_log_level_t level;         /* of the suppressed records */
    int64_t window_ms;            /* start of the current window (monotonic) */
    int written;                  /* records written in it */
    uint64_t suppressed;          /* records counted, not written, since the last summary */
    uint64_t suppressed_total;    /* since the process started */
    int64_t suppressed_from_ms;   /* when the first of them came */
    char first[192];              /* the text of the first of them */
    struct dn_log_limit_t *next;
} dn_log_limit_t;

/* Writes one record as dn_log does, unless lim has written its per_s records
 * in the current one-second window: then counts it (and keeps the text of
 * the first one counted). The record that opens a new window first writes
 * the summary of the last one: "N similar message(s) suppressed in the last
 * T s (first: ...)", at the level of the suppressed records. Records below
 * the threshold are neither written nor counted as suppressed. */
void dn_log_limited(dn_log_limit_t *lim, dn_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* dn_log_limited with a limit of its own for this call site. */
#define DN_LOG_LIMITED(level, ...)                                                            \
    do {                                                                                      \
        static dn_log_limit_t dn_log_site_limit_;                                             \
        dn_log_limited(&dn_log_site_limit_, (level), __VA_ARGS__);                            \
    } while (0)

/* Writes the summary of every limit whose window is over and that counted
 * suppressed records (force: of every limit that counted any, window over or
 * not), so that a flood that stopped is still accounted for. Returns the
 * number of summaries written. Any thread. */
int dn_log_limits_flush(int force);

#endif
