#!/usr/bin/python3
"""make_seeds.py: writes the hand-made seeds of the protobuf targets
(fuzz/seeds/msg, fuzz/seeds/registry): one valid message of each kind, and the
invalid ones worth keeping (issue 17's poison label, unknown fields, a NaN
count, duplicate keys). Protobuf is encoded by hand here (proto2 wire format:
varints, length-delimited fields, packed doubles) so that no protobuf package
is needed. Run from the repository root; fuzz/run.sh merge NAME then
minimises a seed directory together with a grown corpus.
"""
import os
import struct


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def u(field, n):
    return key(field, 0) + varint(n)


def s(field, data):
    if isinstance(data, str):
        data = data.encode()
    return key(field, 2) + varint(len(data)) + data


def d(field, x):
    return key(field, 1) + struct.pack("<d", x)


def packed(field, xs):
    return s(field, b"".join(struct.pack("<d", x) for x in xs))


def hist(k, counts, variances=None, edges=None, subsystem="calo"):
    b = s(1, k) + s(2, subsystem) + packed(3, counts)
    if variances is not None:
        b += packed(4, variances)
    if edges is not None:
        b += packed(5, edges)
    return b


def env(body_field, body, producer="gen", seq=0, inc=7, offset=None):
    b = s(1, producer) + u(2, inc) + u(3, seq) + d(4, 1.7e9)
    if offset is not None:
        b += u(5, offset)
    return b + s(body_field, body)


def run(seq=3, hists=None):
    hists = hists or [hist("calo/e", [1, 2, 3, 0])]
    return s(1, "synthetic-seed42") + u(2, 1000 + seq) + d(3, 1.7e9) + u(4, seq) + b"".join(
        s(5, h) for h in hists)


MSG = {
    "run": env(10, run()),
    "run_edges_var": env(10, run(hists=[hist("calo/e", [1, 2], [1, 2], [-1, 0, 1]),
                                        hist("trk/pt", [5], subsystem="")]), offset=4),
    "label": env(11, s(1, "s") + u(2, 1003) + u(3, 3) + u(4, 1) + u(5, 2) + s(6, "shifter")
                 + s(7, "looks fine") + s(8, "calo/e") + d(9, 1.7e9)
                 + s(10, d(1, 0.1) + d(2, 1.0) + u(3, 1) + u(4, 0) + u(5, 1000) + u(6, 2))),
    "score": env(12, s(1, "s") + u(2, 1003) + u(3, 3) + u(4, 1) + s(5, "calo/e") + u(6, 1)
                 + d(7, 4.0) + d(8, 0.0) + packed(9, [0.1, -0.2, 0.3, 0.0])
                 + packed(10, [0.25] * 4) + packed(11, [0.01] * 4) + d(14, 0.1)),
    "score_insufficient": env(12, s(1, "s") + u(2, 7) + u(3, 7) + u(4, 2) + s(5, "k")
                              + u(6, 2) + u(12, 3)),
    # architecture 1 bin, d_model 1, 1 head, 1 layer, d_ff 1: the blob must be
    # exactly 4 bytes per parameter; a wrong length is the interesting refusal
    "weights_badlen": env(13, s(1, "calo/e") + u(2, 1) + u(5, 1) + u(6, 1) + u(7, 1) + u(8, 1)
                          + u(9, 1) + u(10, 2) + d(11, 0.1) + u(12, 1) + s(13, b"\0" * 12)),
    "weights": env(13, s(1, "calo/e") + u(2, 1) + u(3, 1003) + u(4, 3) + u(5, 1) + u(6, 1)
                   + u(7, 1) + u(8, 1) + u(9, 1) + u(10, 2) + d(11, 0.1) + u(12, 2)
                   + s(13, b"\0" * 160) + d(14, 0.5) + u(15, 10)),
    "eos": env(14, u(1, 1) + s(2, "s") + u(3, 1099) + u(4, 99) + u(5, 100) + u(6, 100)),
    "heartbeat": env(14, u(1, 4) + s(7, "scorer_s") + s(8, s(1, "runs") + u(2, 5)) + u(9, 12)
                     + s(11, "events")),
    "ack": env(14, u(1, 5) + u(9, 12) + s(10, "scorer_s/1") + s(11, "events")),
    "ack_passive": env(14, u(1, 5) + u(9, 3) + s(10, "dashboard") + s(11, "thresholds")
                       + u(12, 1)),
    "threshold": env(15, s(1, "calo/e") + u(2, 1) + d(3, 2.5) + d(4, 1.25) + u(5, 50)
                     + s(6, "tuned") + s(7, "synthetic-seed42"), offset=0),
    # untunable: bad +inf, no warning level (NaN)
    "threshold_untunable": env(15, s(1, "trk/pt") + u(2, 2) + d(3, float("inf"))
                               + d(4, float("nan")) + u(5, 50) + s(6, "untunable"), offset=1),
    "threshold_warning_above_bad": env(15, s(1, "calo/e") + u(2, 1) + d(3, 1.0) + d(4, 2.0)),
    # issue 17: a label whose body ends in field 0 in a long form
    "poison_label": bytes.fromhex("0a017818005a14102518252001280232076d616c6c6f7279800000"),
    "unknown_field_in_histogram": env(10, run(hists=[hist("calo/e", [1, 2]) + u(9, 1)])),
    "nan_count": env(10, run(hists=[hist("calo/e", [1, float("nan")])])),
    "duplicate_key": env(10, run(hists=[hist("a", [1]), hist("a", [2])])),
    "no_body": s(1, "gen") + u(3, 0),
}


def rec(table, k, v, cas=False, expect=None, absent=False):
    b = s(1, table) + s(2, k) + s(3, v)
    if cas:
        b += u(4, 1)
    if expect is not None:
        b += s(5, expect)
    if absent:
        b += u(6, 1)
    return b


def req(op, *fields, client="trainer/member-0/123", rid=1):
    return s(1, client) + u(2, rid) + u(3, op) + b"".join(fields)


REGISTRY = {
    "get": req(1, s(4, "lease.members"), s(5, b"m0")),
    "cas": req(2, s(4, "trainer.keystate"), s(5, b"calo/e"), s(6, b"v1"), s(7, b"v0")),
    "cas_absent": req(2, s(4, "t"), s(5, b"k"), s(6, b"v"), u(8, 1)),
    "scan": req(3, s(4, "lease.keys"), s(5, b"calo/")),
    "apply": req(4, s(9, rec("t", b"a", b"1")), s(9, rec("t", b"b", b"2", True, b"1")),
                 s(9, rec("u", b"c", b"3", True, None, True))),
    "sync": req(5),
    "weights_put": req(6, s(10, "calo/e"), u(11, 3), s(6, MSG["run"]), u(12, 5)),
    "weights_get": req(7, s(10, "calo/e"), u(11, 3)),
    "weights_latest": req(8, s(10, "calo/e")),
    "ping": req(9),
    "unknown_field": req(9) + u(99, 1),
    "no_client": u(2, 1) + u(3, 9),
    "bad_op": req(42),
}


def write(dirname, seeds):
    os.makedirs(dirname, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(dirname, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("fuzz/seeds/msg", MSG)
    write("fuzz/seeds/registry", REGISTRY)
