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
 * Thread rules: dn_log may be called from any thread; dn_log_init and
 * dn_log_set_* are meant for start-up (they are not synchronised with dn_log). */
#ifndef DN_LOG_H
#define DN_LOG_H

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

#endif
