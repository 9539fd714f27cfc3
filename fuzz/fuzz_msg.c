/* fuzz_msg.c: libFuzzer target for the pipeline's message envelopes
 * (lib/pipe/msg.h), the bytes every service reads from its ZeroMQ sockets and
 * every follower reads back from a durable log: any bytes through
 * dn_msg_decode (parse + validate) and then through the per-producer sequence
 * tracker.
 *
 * Checked beyond "no crash":
 *   - a refusal returns a named error (FUZZ_ERR_NAMED), leaves *out NULL and
 *     counts exactly one rejection by reason in the stats (none on ENOMEM);
 *   - an accepted envelope validates again unchanged, encodes with the
 *     validating encoder (what a producer may send, it may also forward: the
 *     issue 17 poison label passed decode and was refused on the way out), and
 *     the encoding decodes again to an envelope that encodes to the same bytes
 *     (a fixed point: parse -> write -> parse equal);
 *   - the tracker's save/load round trip keeps its totals. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzcheck.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Dinamo__Envelope *env = NULL, *again = NULL;
    dn_msg_stats_t st = {0};
    dn_err_t err = {0};
    int rc = dn_msg_decode(data, size, &env, &st, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(!env, "refused envelope returned");
        FUZZ_CHECK(rc == DN_ENOMEM || (dn_msg_stats_rejected(&st) == 1 && st.accepted == 0),
                   "stats: %llu accepted, %llu rejected", (unsigned long long)st.accepted,
                   (unsigned long long)dn_msg_stats_rejected(&st));
        return 0;
    }
    FUZZ_SAY("accepted %s", dn_msg_type_name(dn_msg_type(env)));
    FUZZ_CHECK(st.accepted == 1 && dn_msg_stats_rejected(&st) == 0, "accepted not counted");
    FUZZ_CHECK(dn_msg_type(env) != DN_MSG_NONE, "accepted envelope without a body");
    dn_err_t e2 = {0};
    rc = dn_msg_validate(env, NULL, &e2);
    FUZZ_CHECK(rc == 0, "decoded envelope fails validation: %s", e2.msg);

    uint8_t *b1 = NULL, *b2 = NULL;
    size_t n1 = 0, n2 = 0;
    rc = dn_msg_encode(env, &b1, &n1, &e2);
    if (rc == DN_ENOMEM)
        goto done;
    FUZZ_CHECK(rc == 0, "accepted envelope refused by the encoder: %s", e2.msg);
    rc = dn_msg_decode(b1, n1, &again, NULL, &e2);
    FUZZ_CHECK(rc == 0 || rc == DN_ENOMEM, "re-encoded envelope refused: %s", e2.msg);
    if (rc)
        goto done;
    FUZZ_CHECK(dn_msg_encode(again, &b2, &n2, &e2) == 0 || b2 == NULL, "%s", e2.msg);
    FUZZ_CHECK(!b2 || (n1 == n2 && memcmp(b1, b2, n1) == 0),
               "parse -> write -> parse -> write: %zu bytes, then %zu, differing", n1, n2);

    dn_seq_tracker_t *t = dn_seq_tracker_new(), *u = dn_seq_tracker_new();
    if (t && u && dn_seq_tracker_feed_env(t, env, NULL) >= 0 &&
        dn_seq_tracker_feed_env(t, again, NULL) >= 0) {
        uint8_t *sb = NULL;
        size_t sn = 0;
        if (dn_seq_tracker_save(t, &sb, &sn) == 0) {
            rc = dn_seq_tracker_load(u, sb, sn, &e2);
            FUZZ_CHECK(rc == 0 || rc == DN_ENOMEM, "saved tracker does not load: %s", e2.msg);
            dn_seq_totals_t a = dn_seq_tracker_totals(t), b = dn_seq_tracker_totals(u);
            FUZZ_CHECK(rc || memcmp(&a, &b, sizeof a) == 0, "tracker totals changed by save/load");
            FUZZ_CHECK(rc || a.duplicates == 1, "the same envelope twice: %llu duplicates",
                       (unsigned long long)a.duplicates);
            free(sb);
        }
    }
    dn_seq_tracker_destroy(&t);
    dn_seq_tracker_destroy(&u);
done:
    free(b1);
    free(b2);
    dn_msg_free(&again);
    dn_msg_free(&env);
    return 0;
}
