# SPDX-License-Identifier: Apache-2.0
"""The package's own decoder and encoder against spec/vectors/ and the
worked example of PROTOCOL.md section 17 (no daemon needed)."""

import hashlib
import json
import os
import re
import struct
import unittest

import daemons  # noqa: F401  (sets sys.path when run from the checkout)
from tacet import protocol as P
from tacet import types as T


def tagged(v):
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", v)
    if isinstance(v, bytes):
        return ("bin", v.hex())
    if isinstance(v, str):
        return ("str", v)
    if isinstance(v, list):
        return ("array", [tagged(x) for x in v])
    if isinstance(v, dict):
        return ("map", [(k, tagged(x)) for k, x in v.items()])
    raise TypeError(type(v))


def tagged_json(v):
    if isinstance(v, list) and v and isinstance(v[0], tuple):  # object pairs
        if len(v) == 1 and v[0][0] == "bin" and isinstance(v[0][1], str):
            return ("bin", v[0][1])
        return ("map", [(k, tagged_json(x)) for k, x in v])
    if isinstance(v, list):
        return ("array", [tagged_json(x) for x in v])
    if v == []:
        return ("array", [])
    return tagged(v)


def _pairs(p):
    return p if p else _EmptyMap()


class _EmptyMap(list):
    pass


def tj(v):
    if isinstance(v, _EmptyMap):
        return ("map", [])
    if isinstance(v, list) and v and isinstance(v[0], tuple):
        if len(v) == 1 and v[0][0] == "bin" and isinstance(v[0][1], str):
            return ("bin", v[0][1])
        return ("map", [(k, tj(x)) for k, x in v])
    if isinstance(v, list):
        return ("array", [tj(x) for x in v])
    return tagged(v)


def typed_body(kind, body, method):
    """Decode a body into the package's record and encode it again."""
    simple = {P.HELLO: T.Hello, P.WELCOME: T.Welcome, P.AUTH: T.Auth, P.READY: T.Ready,
              P.CREDIT: T.Credit, P.PING: T.Ping, P.PONG: T.Pong, P.GOAWAY: T.Goaway}
    if kind in simple:
        return T.to_wire(T.from_wire(simple[kind], body))
    if kind == P.REQUEST:
        cls = T.ARGS[body["m"]]
        return {"m": body["m"], "a": T.to_wire(T.from_wire(cls, body["a"]))}
    if kind == P.RESPONSE:
        if "e" in body:
            return {"e": T.to_wire(T.from_wire(T.WireError, body["e"]))}
        cls = T.RESULTS.get(method)
        return {"r": T.to_wire(T.from_wire(cls, body["r"])) if cls else {}}
    if kind == P.EVENT:
        cls = T.EVENTS[body["k"]]
        return T.to_wire(T.from_wire(cls, body))
    raise AssertionError(kind)


# Keys a vector has that this package's records (written from
# PROTOCOL.md) do not define: skipped on decode as section 7 says, and
# listed at the end of the run so that spec and codec can be reconciled.
UNKNOWN_KEYS = {}


def tearDownModule():
    if UNKNOWN_KEYS:
        print("\nvector keys not in PROTOCOL.md (skipped): %s" % UNKNOWN_KEYS)


def _strip(cls, d, extras):
    import dataclasses
    spec = T._spec(cls)
    wires = {w: k for _, w, k in spec}
    out = {}
    for key, v in d.items():
        if key not in wires:
            extras.add("%s.%s" % (cls.__name__.replace("ProcSample", "Proc"), key))
            continue
        kind = wires[key]
        if isinstance(kind, tuple) and kind[0] == "R":
            v = _strip(kind[1], v, extras)
        elif isinstance(kind, tuple) and isinstance(kind[1], type):
            v = [_strip(kind[1], x, extras) for x in v]
        out[key] = v
    return out


def strip_unknown(kind, body, method, extras):
    if kind == P.REQUEST:
        return {"m": body["m"], "a": _strip(T.ARGS[body["m"]], body["a"], extras)}
    if kind == P.RESPONSE and "r" in body and T.RESULTS.get(method):
        return {"r": _strip(T.RESULTS[method], body["r"], extras)}
    if kind == P.EVENT:
        return _strip(T.EVENTS[body["k"]], body, extras)
    return body


class VectorTest(unittest.TestCase):
    def test_every_vector(self):
        names = sorted(n[:-4] for n in os.listdir(daemons.VECTORS) if n.endswith(".bin"))
        self.assertGreater(len(names), 40)
        for name in names:
            with self.subTest(vector=name):
                with open(os.path.join(daemons.VECTORS, name + ".bin"), "rb") as f:
                    raw = f.read()
                with open(os.path.join(daemons.VECTORS, name + ".json")) as f:
                    desc = dict(json.load(f, object_pairs_hook=_pairs))
                (length,) = struct.unpack(">I", raw[:4])
                payload = raw[4:]
                self.assertEqual(length, len(payload))
                self.assertEqual(length, desc["length"])
                kind, id_, body = P.decode_payload(payload)
                self.assertEqual((kind, id_), (desc["kind"], desc["id"]))
                self.assertEqual(tagged([kind, id_, body]), tj(desc["value"]))
                # Typed decode, then canonical re-encode: the same bytes,
                # apart from keys PROTOCOL.md does not define (skipped on
                # decode, section 7), which only the sample vectors have.
                extras = set()
                want = strip_unknown(kind, body, desc.get("method"), extras)
                if extras:
                    UNKNOWN_KEYS[name] = sorted(extras)
                again = P.encode_payload(kind, id_, typed_body(kind, body, desc.get("method")))
                self.assertEqual(again.hex(), P.encode_payload(kind, id_, want).hex())
                if not extras:
                    self.assertEqual(again.hex(), payload.hex())
                # And the core's own event decoding accepts it.
                if kind == P.EVENT:
                    rec = T.from_wire(T.EVENTS[body["k"]], body)
                    self.assertEqual(rec.k, body["k"])

    def test_file_vectors_typed(self):
        """The tree keys of file.put and file.get (11.16, 11.17) decode
        into their fields, not as skipped unknown keys."""
        def body(name):
            with open(os.path.join(daemons.VECTORS, name + ".bin"), "rb") as f:
                return P.decode_payload(f.read()[4:])[2]
        put = T.from_wire(T.PutArgs, body("request-file.put")["a"])
        self.assertEqual((put.mkdirs, put.dir, put.root, put.resume), (True, False, b"", True))
        get = T.from_wire(T.GetArgs, body("request-file.get")["a"])
        self.assertEqual((get.list, get.root, get.o), (False, b"", 5368721465))
        res = T.from_wire(T.GetResult, body("response-file.get")["r"])
        self.assertEqual([(e.path, e.dir, e.mode) for e in res.files],
                         [(b"", True, 0o755), (b"bin", True, 0o700), (b"bin/run.\xff", False, 0o4755)])
        self.assertEqual(res.files[2].size, 5368721465)
        self.assertEqual(list(T.to_wire(T.PutArgs()))[-3:], ["mkdirs", "dir", "root"])
        self.assertEqual(list(T.to_wire(T.GetArgs()))[-2:], ["list", "root"])

    def test_decoder_refuses(self):
        import msgpack
        bad = [
            msgpack.packb([1, 0]),                      # too short
            msgpack.packb([256, 0, {}]),                # kind not uint8
            msgpack.packb([9, -1, {}]),                 # id negative
            msgpack.packb([9, 1, []]),                  # body not a map
            msgpack.packb([9, 1, {}]) + b"\x00",        # bytes after the value
            b"\x93\x09\x01\x82\xa1r\x80\xa1r\x80",      # duplicate key
            b"\x93\x09\x01\x81\xa1r\xa2\xff\xfe",       # invalid UTF-8 str
        ]
        for b in bad:
            with self.subTest(payload=b.hex()):
                with self.assertRaises(P.ProtocolError):
                    P.decode_payload(b)


def example_dumps():
    """The hex dumps of PROTOCOL.md section 17, in order."""
    with open(daemons.PROTOCOL_MD, encoding="utf-8") as f:
        text = f.read()
    sec = text[text.index("## 17. Worked example"):text.index("## 18.")]
    dumps, cur = [], None
    for line in sec.splitlines():
        m = re.match(r"^([0-9a-f]{4})  ((?:[0-9a-f]{2} ?)+)$", line)
        if m:
            if m.group(1) == "0000":
                cur = bytearray()
                dumps.append(cur)
            cur += bytes.fromhex(m.group(2).replace(" ", ""))
    return [bytes(d) for d in dumps]


class WorkedExampleTest(unittest.TestCase):
    """Drive the sans-I/O core through section 17 byte for byte."""

    def test_session(self):
        d = example_dumps()
        self.assertEqual(len(d), 13)
        hello, welcome, auth, ready, req1, resp1, st1, req2, st2, ex, resp2, out, eos = d
        psk = bytes(range(32))
        self.assertEqual(P.key_id(psk), "630dcd2966c43366")
        self.assertEqual(P.auth_key(psk).hex(),
                         "0479a7a5430ebe1abce3ab550313946dfa2f847bfbad35a456053c0d60269d54")
        p = P.Protocol(psk, who="ex", frame_mac=True, nonce=b"\xc1" * 32)
        p.initiate()
        self.assertEqual(p.data_to_send().hex(), (P.PREFACE + hello).hex())
        self.assertEqual(hashlib.sha256(hello[4:]).hexdigest(),
                         "a792b16acdcb8cd97a79d787a78ad9125c574d6dd42aa398371d8d52cc1efdf2")
        self.assertEqual(p.receive_data(P.PREFACE + welcome), [])
        self.assertEqual(p.data_to_send().hex(), auth.hex())
        evs = p.receive_data(ready)
        self.assertEqual(len(evs), 1)
        self.assertIsInstance(evs[0], P.Ready)
        self.assertTrue(evs[0].mac)
        k = P.auth_key(psk)
        kc, kd = P.mac_keys(k, b"\xc1" * 32, b"\xd1" * 32)
        self.assertEqual(kc.hex(), "5ec75f23d3d827b29c01c0c4777e09c27b2654b913772d7c2308a16238d00e46")
        self.assertEqual(kd.hex(), "eefad285bb2339202598076a59ea5b7a5af3107ff773450f00f74af82dc37df3")

        a = T.StartArgs(argv=[b"echo", b"hi"], tag="run1")
        self.assertEqual(p.request("proc.start", a), 1)
        self.assertEqual(p.data_to_send().hex(), req1.hex())
        evs = p.receive_data(resp1 + st1)
        self.assertIsInstance(evs[0], P.Response)
        self.assertEqual(evs[0].result, T.StartResult(h=0xa5a5000000000001, pid=4242, new=True,
                                                      state="running"))
        self.assertEqual(evs[1].name, "state")
        self.assertEqual(evs[1].record.state, "running")
        h = evs[0].result.h
        self.assertEqual(p.request("out.subscribe", T.SubscribeArgs(h=h, s=1, from_=0, credit=0)), 2)
        self.assertEqual(p.data_to_send().hex(), req2.hex())
        # Feed the rest one byte at a time: framing must not care.
        evs = []
        for i in range(len(st2 + ex + resp2 + out + eos)):
            evs += p.receive_data((st2 + ex + resp2 + out + eos)[i:i + 1])
        names = [getattr(e, "name", None) or getattr(e, "method", None) for e in evs]
        self.assertEqual(names, ["state", "exit", "out.subscribe", "out", "eos"])
        exit_ = evs[1].record
        self.assertEqual((exit_.code, exit_.sig, exit_.len, exit_.ru.stime, exit_.ru.maxrss),
                         (0, 0, [3, 0], 1000000, 1792))
        self.assertEqual(evs[1].record.times.xreal, 1796292000001000000)
        self.assertEqual(evs[2].result, T.SubscribeResult(sub=1, start=0, len=3))
        self.assertEqual((evs[3].id, evs[3].record.d, evs[3].record.t), (1, b"hi\n", 5001200000))
        self.assertEqual(evs[4].record.len, 3)

    def test_bad_tag_closes_silently(self):
        d = example_dumps()
        psk = bytes(range(32))
        p = P.Protocol(psk, who="ex", frame_mac=True, nonce=b"\xc1" * 32)
        p.initiate()
        p.receive_data(P.PREFACE + d[1])
        p.data_to_send()
        p.receive_data(d[3])
        p.request("proc.start", T.StartArgs(argv=[b"echo", b"hi"], tag="run1"))
        p.data_to_send()
        bad = bytearray(d[5])
        bad[-1] ^= 1
        evs = p.receive_data(bytes(bad))
        self.assertIsInstance(evs[-1], P.Closed)
        self.assertEqual(p.data_to_send(), b"")  # no GOAWAY
        self.assertIsInstance(evs[0].error, P.ConnectionLost)

    def test_wrong_daemon_proof(self):
        d = example_dumps()
        p = P.Protocol(bytes(range(32)), who="ex", frame_mac=True, nonce=b"\xc1" * 32)
        p.initiate()
        p.receive_data(P.PREFACE + d[1])
        bad = bytearray(d[3])
        bad[20] ^= 1
        evs = p.receive_data(bytes(bad))
        self.assertIsInstance(evs[-1], P.Closed)
        self.assertEqual(evs[-1].error.name, "UNAUTHENTICATED")

    def test_ping_formulas(self):
        e = P.PongEvent(1, t1=1000, t2=1600, t3=1700, t4=1300, m2=0, m3=0)
        self.assertEqual(e.offset, ((1600 - 1000) + (1700 - 1300)) // 2)
        self.assertEqual(e.delay, (1300 - 1000) - (1700 - 1600))

    def test_hkdf_rfc5869_case1(self):
        okm = P.hkdf_sha256(bytes.fromhex("0b" * 22), bytes.fromhex("000102030405060708090a0b0c"),
                            bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), 42)
        self.assertEqual(okm.hex(), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                                    "34007208d5b887185865")

    def test_key_file_format(self):
        self.assertEqual(P.parse_key("AB" * 32 + "\n"), b"\xab" * 32)
        for bad in ("ab" * 31 + "\n", "zz" * 32 + "\n", "ab" * 32 + "\n\n"):
            with self.assertRaises(ValueError):
                P.parse_key(bad)


if __name__ == "__main__":
    unittest.main()
