/* msg.h: encoding, decoding and validation of the pipeline's protobuf messages
 * (proto/dinamo.proto), and the per-producer sequence tracker.
 *
 * Every message on the wire is a Dinamo__Envelope. dn_msg_decode() parses bytes
 * and then validates the semantics, so a service only ever sees envelopes that
 * satisfy the invariants below; anything else is refused with a sentence naming
 * the run, histogram and bin, and counted by reason in a dn_msg_stats_t.
 *
 * Invariants of a valid envelope (dn_msg_validate):
 *   - producer non-empty, seq present, exactly one body;
 *   - histogram keys: non-empty, <= DN_MSG_KEY_MAX bytes, no control characters
 *     (so they work as LMDB keys and ZeroMQ topics), unique within a run;
 *   - a histogram has 1 .. DN_MSG_BINS_MAX bins of finite counts >= 0;
 *     variances empty or n_bins finite values >= 0; edges empty or n_bins + 1
 *     finite strictly increasing values;
 *   - required fields per message as documented in the .proto, enums in range,
 *     ModelWeights blob exactly 4 bytes per parameter of its architecture;
 *   - a Threshold: a valid histogram key, method S or ML, bad present,
 *     neither NaN nor -inf (+inf: untunable, never bad), warning absent, NaN
 *     (no warning level) or > -inf and <= bad, origin absent or one of
 *     "policy", "tuned", "untunable";
 *   - Score.horizons only with status OK, at most DN_MSG_HORIZONS_MAX, each
 *     named (1 .. DN_MSG_HORIZON_NAME_MAX bytes, no control characters); age
 *     finite >= 0 when present, chi2 (finite >= 0) and score present exactly
 *     when it is; pulls, reference, reference uncertainty each empty or as
 *     long as the Score's own (and empty without an age), finite, the
 *     uncertainty >= 0 (the reference may dip below 0: a snapshot moved by
 *     an accepted change, horizon.h).
 * A histogram whose counts are all zero is valid (the scorers report it as
 * insufficient statistics).
 *
 * Thread rules: functions keep no global state; a dn_seq_tracker_t or
 * dn_msg_stats_t belongs to one thread at a time. */
#ifndef DN_MSG_H
#define DN_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "dinamo.pb-c.h"
#include "error.h"

#define DN_MSG_KEY_MAX 255            /* bytes in a histogram key */
#define DN_MSG_BINS_MAX (1 << 20)     /* bins in one histogram */
#define DN_MSG_SIZE_MAX (256u << 20)  /* bytes in one encoded envelope */
#define DN_MSG_HORIZONS_MAX 7         /* Score.horizons entries (horizon.h: DN_HZ_MAX - 1) */
#define DN_MSG_HORIZON_NAME_MAX 24    /* bytes in a HorizonScore name */

/* Why a message was refused; index of dn_msg_stats_t.rejected. */
typedef enum dn_reject_t {
    DN_REJECT_PARSE = 0,     /* bytes are not a protobuf Envelope (truncated, garbage, too big) */
    DN_REJECT_ENVELOPE,      /* producer/seq missing, no body */
    DN_REJECT_MISSING,       /* a required field of the body is missing */
    DN_REJECT_KEY,           /* empty, too long or control characters in a key */
    DN_REJECT_DUPLICATE_KEY, /* two histograms with one key in a run */
    DN_REJECT_NO_BINS,       /* a histogram with 0 bins or more than DN_MSG_BINS_MAX */
    DN_REJECT_COUNT,         /* a NaN, infinite or negative count */
    DN_REJECT_VARIANCE,      /* a NaN, infinite or negative variance */
    DN_REJECT_LENGTH,        /* variances, edges, pulls or blob of the wrong length */
    DN_REJECT_EDGES,         /* non-finite or non-increasing edges */
    DN_REJECT_ENUM,          /* an enum value unspecified or unknown */
    DN_REJECT_VALUE,         /* another out-of-domain value (NaN time, bad architecture) */
    DN_REJECT_UNKNOWN,       /* fields this version does not know (protobuf-c kept them) */
    DN_REJECT__N
} dn_reject_t;

/* Short static name of a reason ("parse", "count", ...); "?" when out of range. */
const char *dn_reject_name(int reason);

/* Counters of a receiver: accepted envelopes and refusals by reason. Plain
 * data; zero-initialise it. */
typedef struct dn_msg_stats_t {
    uint64_t accepted;
    uint64_t rejected[DN_REJECT__N];
    dn_reject_t last_reason; /* of the most recent refusal */
} dn_msg_stats_t;

/* Sum of stats->rejected. */
uint64_t dn_msg_stats_rejected(const dn_msg_stats_t *stats);

/* Which body an envelope carries. */
typedef enum dn_msg_type_t {
    DN_MSG_NONE = 0,
    DN_MSG_RUN,
    DN_MSG_LABEL,
    DN_MSG_SCORE,
    DN_MSG_WEIGHTS,
    DN_MSG_CONTROL,
    DN_MSG_THRESHOLD,
} dn_msg_type_t;

/* The body type of env (DN_MSG_NONE for NULL or no body). */
dn_msg_type_t dn_msg_type(const Dinamo__Envelope *env);

/* Lower-case name of a type: "run", "label", "score", "weights", "control",
 * "threshold", "none". Static string. */
const char *dn_msg_type_name(dn_msg_type_t type);

/* Checks every invariant listed at the top of this file. Returns 0, or
 * DN_EFORMAT (missing field, bad key, duplicate key, no bins, no body),
 * DN_ERANGE (NaN/inf/negative value, bad edges, bad enum), DN_EMISMATCH
 * (array of the wrong length); *reason (may be NULL) gets the dn_reject_t and
 * *err the sentence, e.g. "run 1234: histogram 'calo/e': bin 7: count -3 is
 * negative". Never modifies env. */
int dn_msg_validate(const Dinamo__Envelope *env, dn_reject_t *reason, dn_err_t *err);

/* 0 when key is a valid histogram key (non-empty, at most DN_MSG_KEY_MAX
 * bytes, no control character), else DN_EFORMAT with *err naming what
 * (e.g. "histogram key") and where. */
int dn_msg_check_key(const char *key, const char *what, const char *where, dn_err_t *err);

/* Validates env, then packs it into a new malloc'd buffer *buf (caller frees)
 * of *len bytes. Returns 0, a validation code as above (nothing allocated), or
 * DN_ENOMEM. Refusing to send invalid messages keeps bad data at its source. */
int dn_msg_encode(const Dinamo__Envelope *env, uint8_t **buf, size_t *len, dn_err_t *err);

/* Packs env into a new buffer without validating (for tests and relays of
 * already-validated envelopes). Returns 0 or DN_ENOMEM. */
int dn_msg_encode_unchecked(const Dinamo__Envelope *env, uint8_t **buf, size_t *len);

/* Parses len bytes (any content; never reads past buf + len) and validates the
 * result. On success *out is a new envelope the caller frees with
 * dn_msg_free(). Returns 0, DN_EFORMAT ("cannot parse envelope of 37 bytes")
 * for bytes that are not an Envelope, or a validation code; on failure *out is
 * NULL. stats (may be NULL) counts the outcome. */
int dn_msg_decode(const uint8_t *buf, size_t len, Dinamo__Envelope **out,
                  dn_msg_stats_t *stats, dn_err_t *err);

/* The log offset (Envelope.offset) that len bytes of an encoded envelope
 * carry, read without decoding or validating the rest: the top-level fields
 * are walked up to the first offset field, so bytes damaged after it do not
 * matter (a log source stamps the offset in front of every entry it
 * publishes: stream.h). Returns 0 with *offset, or DN_ENOTFOUND (no offset
 * before the end or before the bytes stop being protobuf). Never reads past
 * buf + len. */
int dn_msg_peek_offset(const uint8_t *buf, size_t len, uint64_t *offset);

/* Frees an envelope returned by dn_msg_decode(); accepts NULL and *env_p ==
 * NULL; sets *env_p to NULL. Not for envelopes built on the stack. */
void dn_msg_free(Dinamo__Envelope **env_p);

/* Number of float32 parameters of the SPEC 3 architecture (n_bins, d_model,
 * n_layers, d_ff); 254700 at the defaults (100, 100, 3, 100). 0 when any
 * dimension is 0 or the count overflows. */
uint64_t dn_msg_weights_params(uint64_t n_bins, uint64_t d_model, uint64_t n_layers,
                               uint64_t d_ff);

/* ---- sequence tracking ------------------------------------------------- */

/* What one (producer, incarnation, seq) means for a receiver. */
typedef enum dn_seq_status_t {
    DN_SEQ_NEW = 0,       /* the next expected one (seq 0 of a producer not seen yet) */
    DN_SEQ_DUPLICATE,     /* seq at or below the last one seen, or an older
                           * incarnation: a replay or straggler; drop it */
    DN_SEQ_GAP,           /* newer than expected: *missing messages were lost */
    DN_SEQ_RESTART,       /* a higher incarnation of a known producer: seq restarts;
                           * *missing = its seq (messages of it not seen) */
    DN_SEQ_JOIN,          /* the first message of a producer not seen before, at
                           * seq s > 0: this receiver came after s messages were
                           * sent (a late subscriber); *missing = s, not counted
                           * as lost: a log follower gets them by replay */
} dn_seq_status_t;

typedef struct dn_seq_tracker_t dn_seq_tracker_t;

/* Totals over every feed since creation (or load). */
typedef struct dn_seq_totals_t {
    uint64_t fresh;       /* NEW and RESTART and GAP: messages to process */
    uint64_t duplicates;
    uint64_t gaps;        /* GAP events */
    uint64_t missing;     /* messages lost in those gaps */
    uint64_t restarts;
    uint64_t evicted;     /* producers forgotten at the cap (see dn_seq_tracker_set_max) */
} dn_seq_totals_t;

#define DN_SEQ_PRODUCERS_MAX 1024 /* producers a tracker keeps by default */

/* New empty tracker keeping at most DN_SEQ_PRODUCERS_MAX producers; NULL
 * when out of memory. Caller owns it. */
dn_seq_tracker_t *dn_seq_tracker_new(void);

/* Keeps at most max (>= 1) producers: a new one beyond it makes the tracker
 * forget the least recently seen producer among those seen only once (else
 * among the others), counted in totals.evicted; a forgotten producer's next
 * message is a JOIN, like a first one. Evicts at once down to max. Memory is
 * O(max) whatever arrives. Returns 0 or DN_EINVAL. */
int dn_seq_tracker_set_max(dn_seq_tracker_t *self, size_t max);

/* Producers tracked now (<= the max). */
size_t dn_seq_tracker_size(const dn_seq_tracker_t *self);

/* Frees *self_p; accepts NULL; sets *self_p to NULL. */
void dn_seq_tracker_destroy(dn_seq_tracker_t **self_p);

/* Records one arrival and returns its status (a dn_seq_status_t), or
 * DN_EINVAL (producer NULL) / DN_ENOMEM. For DN_SEQ_GAP and DN_SEQ_RESTART,
 * *missing (may be NULL) gets the number of lost messages, otherwise 0. The highest seq seen is what a
 * later arrival is compared with; a duplicate does not change it. Producers are
 * kept in a hash table with recency lists: O(1) per feed, eviction included. */
int dn_seq_tracker_feed(dn_seq_tracker_t *self, const char *producer, uint64_t incarnation,
                        uint64_t seq, uint64_t *missing);

/* Feeds env's producer, incarnation and seq (see above). */
int dn_seq_tracker_feed_env(dn_seq_tracker_t *self, const Dinamo__Envelope *env,
                            uint64_t *missing);

/* The totals since creation (or since the state was loaded: totals are saved). */
dn_seq_totals_t dn_seq_tracker_totals(const dn_seq_tracker_t *self);

/* Last seq seen from producer into *seq and its incarnation into *incarnation
 * (either may be NULL). Returns 0 or DN_ENOTFOUND. */
int dn_seq_tracker_last(const dn_seq_tracker_t *self, const char *producer,
                        uint64_t *incarnation, uint64_t *seq);

/* Serialises the tracker state into a new malloc'd buffer (caller frees), for
 * checkpoints. Returns 0 or DN_ENOMEM. */
int dn_seq_tracker_save(const dn_seq_tracker_t *self, uint8_t **buf, size_t *len);

/* Replaces the tracker state by one saved with dn_seq_tracker_save() (its
 * max stays: a saved state beyond it keeps its most recently seen
 * producers, the others counted as evicted). Returns 0, DN_EFORMAT (bytes not
 * a saved state; the tracker is then unchanged) or DN_ENOMEM. */
int dn_seq_tracker_load(dn_seq_tracker_t *self, const uint8_t *buf, size_t len,
                        dn_err_t *err);

#endif
