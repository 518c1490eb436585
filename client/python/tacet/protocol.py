# SPDX-License-Identifier: Apache-2.0
"""The sans-I/O core of a tacet controller: protocol v1 without sockets.

`Protocol` is a state machine. Feed it the bytes read from the daemon
with `receive_data`; it returns the events they complete (`Ready`,
`Response`, `ProcEvent`, `StreamEvent`, `PongEvent`, `GoawayEvent`,
`Closed`). Ask it to `request`, `credit` or `ping`; it queues the frames,
and `data_to_send` hands out the bytes to write. It answers the daemon's
PINGs by itself. It never blocks, reads a clock only for PING/PONG, and
knows nothing of asyncio or threads: the asyncio client (`tacet.aio`)
drives it, and the blocking client drives that.

Also here: the key file, HKDF-SHA256 (RFC 5869) written with hmac and
hashlib, the handshake proofs (8.7) and the frame MAC (section 9).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import time
from dataclasses import dataclass
from typing import Any, List, Optional

import msgpack

from . import types as T
from .errors import (ConnectionLost, ProtocolError, TacetError, Unauthenticated,
                     Unsupported, from_wire_error)

PREFACE = b"tacet\x00\x00\x01"
PRE_READY_MAX = 4096
MAX_FRAME = 16 * 1024 * 1024
TAG_LEN = 16
MAX_DEPTH = 16

HELLO, WELCOME, AUTH, READY = 1, 2, 3, 4
REQUEST, RESPONSE, EVENT = 8, 9, 10
CREDIT, PING, PONG, GOAWAY = 12, 14, 15, 16
KNOWN_KINDS = frozenset([HELLO, WELCOME, AUTH, READY, REQUEST, RESPONSE, EVENT,
                         CREDIT, PING, PONG, GOAWAY])

PV = (1, 1)
CV = 1

_CLOCK_MONOTONIC = getattr(time, "CLOCK_MONOTONIC", 1)


def realtime_ns() -> int:
    return time.time_ns()


def mono_ns() -> int:
    return time.clock_gettime_ns(_CLOCK_MONOTONIC)


# ---------------------------------------------------------------------------
# Keys and cryptography (8.7, 9)


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF of RFC 5869 with SHA-256: extract, then expand."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, i = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        okm += block
        i += 1
    return okm[:length]


def parse_key(text) -> bytes:
    """The 32-byte psk from a key file's content: 64 hex digits, either
    case, an optional final newline."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    s = text[:-1] if text.endswith("\n") else text
    if len(s) != 64 or any(c not in "0123456789abcdefABCDEF" for c in s):
        raise ValueError("a tacet key is 64 hexadecimal digits followed by a newline")
    return bytes.fromhex(s)


def load_key_file(path) -> bytes:
    with open(path, "rb") as f:
        data = f.read(200)
    try:
        return parse_key(data)
    except ValueError as e:
        raise ValueError("%s: %s" % (path, e)) from None


def key_id(psk: bytes) -> str:
    return hashlib.sha256(psk).hexdigest()[:16]


def auth_key(psk: bytes) -> bytes:
    return hkdf_sha256(psk, b"tacet/1", b"auth")


def client_proof(k: bytes, p_hello: bytes, p_welcome: bytes) -> bytes:
    t = hashlib.sha256(p_hello).digest() + hashlib.sha256(p_welcome).digest()
    return hmac.new(k, b"tacet/1 client proof" + t, hashlib.sha256).digest()


def daemon_proof(k: bytes, p_hello: bytes, p_welcome: bytes, p_auth: bytes) -> bytes:
    t = hashlib.sha256(p_hello).digest() + hashlib.sha256(p_welcome).digest()
    return hmac.new(k, b"tacet/1 daemon proof" + t + hashlib.sha256(p_auth).digest(),
                    hashlib.sha256).digest()


def mac_keys(k: bytes, cn: bytes, sn: bytes):
    """(Kc2d, Kd2c) of section 9."""
    salt = cn + sn
    return (hkdf_sha256(k, salt, b"tacet/1 mac c2d"), hkdf_sha256(k, salt, b"tacet/1 mac d2c"))


def frame_tag(key: bytes, seq: int, length: int, envelope: bytes) -> bytes:
    return hmac.new(key, struct.pack(">QI", seq, length) + envelope, hashlib.sha256).digest()[:TAG_LEN]


# ---------------------------------------------------------------------------
# Payloads


def _pairs(pairs):
    d = dict(pairs)
    if len(d) != len(pairs):
        raise ProtocolError("duplicate key in a map")
    return d


def _depth_ok(v, depth):
    if depth > MAX_DEPTH:
        return False
    if isinstance(v, dict):
        return all(_depth_ok(x, depth + 1) for x in v.values())
    if isinstance(v, list):
        return all(_depth_ok(x, depth + 1) for x in v)
    return not isinstance(v, msgpack.ExtType)


def encode_payload(kind: int, id_: int, body: dict) -> bytes:
    return msgpack.packb([kind, id_, body], use_bin_type=True)


def decode_payload(payload: bytes):
    """[kind, id, body] from a payload, checked as section 4.4 asks."""
    try:
        v = msgpack.unpackb(payload, raw=False, strict_map_key=False, use_list=True,
                            object_pairs_hook=_pairs)
    except ProtocolError:
        raise
    except Exception as e:  # ExtraData, UnicodeDecodeError, ValueError ...
        raise ProtocolError("payload is not one MessagePack value: %s" % e) from None
    if not isinstance(v, list) or len(v) < 3:
        raise ProtocolError("payload is not an envelope [kind, id, body]")
    kind, id_, body = v[0], v[1], v[2]
    if isinstance(kind, bool) or not isinstance(kind, int) or not 0 <= kind <= 0xFF:
        raise ProtocolError("envelope kind is not a uint8")
    if isinstance(id_, bool) or not isinstance(id_, int) or not 0 <= id_ <= 0xFFFFFFFF:
        raise ProtocolError("envelope id is not a uint32")
    if not isinstance(body, dict):
        raise ProtocolError("envelope body is not a map")
    if not _depth_ok(body, 1) or not all(_depth_ok(x, 1) for x in v[3:]):
        raise ProtocolError("envelope nested too deep or holds an extension type")
    return kind, id_, body


def frame(payload: bytes, mac_key: Optional[bytes] = None, seq: int = 0) -> bytes:
    if mac_key is None:
        return struct.pack(">I", len(payload)) + payload
    length = len(payload) + TAG_LEN
    return struct.pack(">I", length) + payload + frame_tag(mac_key, seq, length, payload)


# ---------------------------------------------------------------------------
# Events the core produces


@dataclass
class Ready:
    """The handshake is over; `welcome` is the daemon's WELCOME."""
    welcome: T.Welcome
    mac: bool


@dataclass
class Response:
    id: int
    method: str
    result: Any = None            # a record of types.RESULTS, or None
    error: Optional[TacetError] = None


@dataclass
class ProcEvent:
    """state, exit or failed (id 0): `record` is a State, Exit or Failed."""
    name: str
    record: Any


@dataclass
class StreamEvent:
    """An event of a subscription or transfer `id`: out, gap, eos, sample,
    file, fileend (or an unknown name, `record` then the raw map)."""
    id: int
    name: str
    record: Any


@dataclass
class PongEvent:
    id: int
    t1: int
    t2: int
    t3: int
    t4: int
    m2: int
    m3: int

    @property
    def offset(self) -> int:
        """θ = ((t2 − t1) + (t3 − t4)) / 2: daemon clock − controller clock, ns."""
        return ((self.t2 - self.t1) + (self.t3 - self.t4)) // 2

    @property
    def delay(self) -> int:
        """δ = (t4 − t1) − (t3 − t2): the round trip minus the daemon's time, ns."""
        return (self.t4 - self.t1) - (self.t3 - self.t2)


@dataclass
class GoawayEvent:
    error: TacetError
    last: int


@dataclass
class Closed:
    """The connection is over; `error` says why (None: closed by us)."""
    error: Optional[TacetError]


# ---------------------------------------------------------------------------


class Protocol:
    """Controller side of one connection, without I/O.

    key       the 32-byte psk, or None (only for `auth` "none" on unix://)
    frame_mac offer frame.mac; `require_mac` refuses a daemon that does not grant it
    allow_none  accept `auth` "none" (the caller allows it only on unix://)
    host      label used in exceptions (the URL as dialled)
    """

    def __init__(self, key: Optional[bytes] = None, *, who: str = "tacet-python",
                 frame_mac: bool = False, require_mac: bool = False,
                 allow_none: bool = False, host: Optional[str] = None,
                 nonce: Optional[bytes] = None):
        if key is not None and len(key) != 32:
            raise ValueError("a tacet key is 32 bytes")
        self.key = key
        self.who = who
        self.offer_mac = frame_mac or require_mac
        self.require_mac = require_mac
        self.allow_none = allow_none
        self.host = host
        self.state = "new"
        self.welcome: Optional[T.Welcome] = None
        self.maxf = PRE_READY_MAX
        self.mac = False
        self._out = bytearray()
        self._in = bytearray()
        self._got_preface = False
        self._next_id = 1
        self._pending = {}        # request id -> method
        self._ping_t1 = {}        # ping id -> t1
        self._next_ping = 1
        self._p_hello = self._p_welcome = self._p_auth = b""
        self._k = None
        self._cn = b""
        self._nonce = nonce  # tests only: a fixed cn
        self._send_key = self._recv_key = None
        self._send_seq = self._recv_seq = 0
        self.error: Optional[TacetError] = None

    # -- output ----------------------------------------------------------

    def data_to_send(self) -> bytes:
        b = bytes(self._out)
        self._out.clear()
        return b

    def _write(self, kind: int, id_: int, body: dict) -> int:
        payload = encode_payload(kind, id_, body)
        if self._send_key is not None:
            length = len(payload) + TAG_LEN
        else:
            length = len(payload)
        if length > self.maxf:
            raise ValueError("frame of %d bytes exceeds the limit %d" % (length, self.maxf))
        self._out += frame(payload, self._send_key, self._send_seq)
        if self._send_key is not None:
            self._send_seq += 1
        return len(payload)

    # -- handshake -------------------------------------------------------

    def initiate(self) -> None:
        """Queue the preface and HELLO."""
        if self.state != "new":
            raise RuntimeError("already started")
        self._cn = self._nonce if self._nonce is not None else os.urandom(32)
        hello = T.Hello(pv=list(PV), cv=CV, caps=["frame.mac"] if self.offer_mac else [],
                        who=self.who, cn=self._cn, kid=key_id(self.key) if self.key else "")
        payload = encode_payload(HELLO, 0, T.to_wire(hello))
        self._p_hello = payload
        self._out += PREFACE + frame(payload)
        self.state = "hello"

    # -- requests --------------------------------------------------------

    def request(self, method: str, args=None) -> int:
        """Queue a REQUEST; `args` is a record of types.ARGS (or a dict,
        sent as it is). Returns the request id."""
        if self.state != "ready":
            raise self.error or ConnectionLost("not connected", host=self.host, method=method)
        if args is None:
            body_a = {}
        elif isinstance(args, dict):
            body_a = args
        else:
            body_a = T.to_wire(args)
        id_ = self._next_id
        self._write(REQUEST, id_, {"m": method, "a": body_a})
        self._next_id += 1
        self._pending[id_] = method
        return id_

    def credit(self, sub: int, nbytes: int) -> None:
        if self.state == "ready" and nbytes > 0:
            self._write(CREDIT, sub, T.to_wire(T.Credit(b=min(nbytes, (1 << 64) - 1))))

    def ping(self) -> int:
        if self.state != "ready":
            raise self.error or ConnectionLost("not connected", host=self.host)
        id_ = self._next_ping
        self._next_ping = (self._next_ping % 0xFFFFFFFF) + 1
        t1 = realtime_ns()
        self._ping_t1[id_] = t1
        self._write(PING, id_, T.to_wire(T.Ping(t1=t1)))
        return id_

    def close(self) -> List[Any]:
        """Mark the connection closed by us; pending requests fail."""
        return self._fail(ConnectionLost("connection closed", host=self.host), send_goaway=False)

    def connection_lost(self, exc: Optional[BaseException] = None) -> List[Any]:
        """The transport ended (EOF or error)."""
        if self.state == "closed":
            return []
        msg = "connection lost" + (": %s" % exc if exc else " (EOF)")
        if self.state in ("hello", "auth"):
            msg += " during the handshake"
        return self._fail(ConnectionLost(msg, host=self.host), send_goaway=False)

    def _fail(self, err: TacetError, send_goaway: bool) -> List[Any]:
        if self.state == "closed":
            return []
        if send_goaway and self.state == "ready":
            try:
                self._write(GOAWAY, 0, T.to_wire(T.Goaway(
                    e=T.WireError(c=err.code or 1, n=err.name or "PROTOCOL", m=err.message),
                    last=0)))
            except Exception:
                pass
        self.state = "closed"
        self.error = err if isinstance(err, ConnectionLost) else ConnectionLost(
            cause=err, host=self.host)
        evs = [Response(i, m, error=self.error) for i, m in self._pending.items()]
        self._pending.clear()
        evs.append(Closed(err))
        return evs

    # -- input -----------------------------------------------------------

    def receive_data(self, data: bytes) -> List[Any]:
        """Consume bytes read from the daemon; return the events completed."""
        if self.state == "closed":
            return []
        t_read = None
        self._in += data
        events: List[Any] = []
        try:
            if not self._got_preface:
                if len(self._in) < len(PREFACE):
                    if not PREFACE.startswith(bytes(self._in)):
                        raise ProtocolError("the peer is not a tacet daemon (bad preface)")
                    return events
                if bytes(self._in[:8]) != PREFACE:
                    raise ProtocolError("the peer is not a tacet daemon (bad preface %s)"
                                        % bytes(self._in[:8]).hex())
                del self._in[:8]
                self._got_preface = True
            while self.state != "closed" and len(self._in) >= 4:
                if self._in[0] != 0:
                    raise ProtocolError("frame length with a nonzero top byte")
                (length,) = struct.unpack_from(">I", self._in)
                if length == 0:
                    raise ProtocolError("frame of length 0")
                if length > self.maxf:
                    raise ProtocolError("frame of %d bytes exceeds the limit %d" % (length, self.maxf))
                if len(self._in) < 4 + length:
                    break
                if t_read is None:
                    t_read = (realtime_ns(), mono_ns())
                raw = bytes(self._in[4:4 + length])
                del self._in[:4 + length]
                if self._recv_key is not None:
                    if length < TAG_LEN + 1:
                        raise _Silent(ProtocolError("frame shorter than a tag"))
                    payload, tag = raw[:-TAG_LEN], raw[-TAG_LEN:]
                    want = frame_tag(self._recv_key, self._recv_seq, length, payload)
                    if not hmac.compare_digest(tag, want):
                        raise _Silent(ProtocolError("frame.mac tag mismatch"))
                    self._recv_seq += 1
                else:
                    payload = raw
                kind, id_, body = decode_payload(payload)
                self._frame(kind, id_, body, payload, t_read, events)
        except _Silent as e:
            err = e.args[0]
            err.host = self.host
            events += self._fail(err, send_goaway=False)
        except TacetError as e:
            if e.host is None:
                e.host = self.host
            events += self._fail(e, send_goaway=not isinstance(e, Unauthenticated))
        return events

    def _frame(self, kind, id_, body, payload, t_read, events):
        st = self.state
        if kind == GOAWAY:
            g = T.from_wire(T.Goaway, body)
            err = from_wire_error(g.e, host=self.host)
            events.append(GoawayEvent(err, g.last))
            events += self._fail(ConnectionLost("daemon sent GOAWAY: %s" % err.message,
                                                cause=err, host=self.host), send_goaway=False)
            return
        if st == "hello":
            if kind != WELCOME or id_ != 0:
                raise ProtocolError("expected WELCOME, got kind %d" % kind)
            self._on_welcome(body, payload, events)
            return
        if st == "auth":
            if kind != READY or id_ != 0:
                raise ProtocolError("expected READY, got kind %d" % kind)
            self._on_ready(body, events)
            return
        # ready
        if kind >= 0x80:
            return  # extension: skipped
        if kind == RESPONSE:
            method = self._pending.pop(id_, None)
            if method is None:
                raise ProtocolError("RESPONSE to unknown request %d" % id_)
            if "e" in body:
                err = from_wire_error(T.from_wire(T.WireError, body["e"]), host=self.host,
                                      method=method)
                events.append(Response(id_, method, error=err))
            else:
                r = body.get("r", {})
                cls = T.RESULTS.get(method)
                events.append(Response(id_, method, result=T.from_wire(cls, r) if cls else None))
        elif kind == EVENT:
            k = body.get("k")
            if not isinstance(k, str):
                raise ProtocolError("event without a name")
            cls = T.EVENTS.get(k)
            rec = T.from_wire(cls, body, "event " + k) if cls else body
            if id_ == 0 and k in ("state", "exit", "failed"):
                rec.host = self.host
                events.append(ProcEvent(k, rec))
            elif cls is not None:
                if k == "sample":
                    rec.host = self.host
                events.append(StreamEvent(id_, k, rec))
            # unknown event names are ignored (section 7)
        elif kind == PING:
            p = T.from_wire(T.Ping, body)
            t2, m2 = t_read
            t3, m3 = realtime_ns(), mono_ns()
            self._write(PONG, id_, T.to_wire(T.Pong(t1=p.t1, t2=t2, t3=t3, m2=m2, m3=m3)))
        elif kind == PONG:
            t4 = t_read[0]
            p = T.from_wire(T.Pong, body)
            if self._ping_t1.pop(id_, None) is None:
                return  # an answer to a PING we gave up on
            events.append(PongEvent(id_, p.t1, p.t2, p.t3, t4, p.m2, p.m3))
        elif kind in KNOWN_KINDS:
            raise ProtocolError("kind %d is not sent by a daemon after READY" % kind)
        else:
            raise ProtocolError("unknown kind %d" % kind)

    def _on_welcome(self, body, payload, events):
        w = T.from_wire(T.Welcome, body)
        if w.pv != 1:
            raise Unsupported("daemon chose protocol version %d; this controller speaks 1-1" % w.pv)
        if not 4096 <= w.maxf <= MAX_FRAME:
            raise ProtocolError("WELCOME maxf %d out of range" % w.maxf)
        if len(w.sn) != 32:
            raise ProtocolError("WELCOME sn is not 32 bytes")
        for c in w.caps:
            if c not in (["frame.mac"] if self.offer_mac else []):
                raise ProtocolError("daemon granted a capability not offered: %r" % c)
        self.welcome = w
        self._p_welcome = payload
        if w.auth == "hmac":
            if self.key is None:
                raise Unauthenticated("the daemon asks for a key and none was given")
            self._k = auth_key(self.key)
            cp = client_proof(self._k, self._p_hello, payload)
        elif w.auth == "none":
            if not self.allow_none:
                raise Unauthenticated('daemon offered auth "none", refused on this transport')
            if self.offer_mac and self.require_mac:
                raise Unsupported("frame.mac required but the daemon uses no key")
            cp = b""
        else:
            raise Unsupported("unknown auth %r" % w.auth)
        if self.require_mac and "frame.mac" not in w.caps:
            raise Unsupported("frame.mac required but not granted by the daemon")
        ap = encode_payload(AUTH, 0, T.to_wire(T.Auth(cp=cp)))
        self._p_auth = ap
        self._out += frame(ap)
        self.state = "auth"

    def _on_ready(self, body, events):
        r = T.from_wire(T.Ready, body)
        w = self.welcome
        if w.auth == "hmac":
            want = daemon_proof(self._k, self._p_hello, self._p_welcome, self._p_auth)
            if not hmac.compare_digest(r.sp, want):
                # Close without a word (8.1): it does not hold the key.
                raise _Silent(Unauthenticated("daemon proof is wrong: the peer does not hold the key"))
        self.maxf = w.maxf
        if "frame.mac" in w.caps:
            if self._k is None:
                raise ProtocolError("frame.mac granted without a key")
            self._send_key, self._recv_key = mac_keys(self._k, self._cn, w.sn)
            self.mac = True
        self.state = "ready"
        events.append(Ready(w, self.mac))


class _Silent(Exception):
    """An error after which the connection closes without a GOAWAY."""
