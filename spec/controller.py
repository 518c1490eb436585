#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A small tacet controller written from spec/PROTOCOL.md alone.

It shows that the protocol can be spoken without the Go code: the preface,
HELLO with a fresh 32-byte nonce, WELCOME, AUTH with an HMAC-SHA256 proof
under a key derived by HKDF-SHA256, a check of READY's proof, then
requests (proc.start, out.subscribe, ...), output events with credit, and
the exit event. It needs only the standard library and Debian's
python3-msgpack (apt-get install python3-msgpack); run it with
/usr/bin/python3.

It speaks tcp:// and unix:// without frame.mac, and keeps no state across
connections. As a script:

    /usr/bin/python3 spec/controller.py KEYFILE tcp://127.0.0.1:7340 CMD [ARG...]

runs CMD on the daemon, copies its stdout to this process's stdout and
exits with its exit code (128 + the signal if a signal ended it).
"""

import hashlib
import hmac
import os
import socket
import struct
import sys
import time

import msgpack

PREFACE = b"tacet\x00\x00\x01"
PRE_AUTH_MAX_FRAME = 4096
HARD_MAX_FRAME = 16 * 1024 * 1024 - 1

KIND_HELLO, KIND_WELCOME, KIND_AUTH, KIND_READY = 1, 2, 3, 4
KIND_REQUEST, KIND_RESPONSE, KIND_EVENT = 8, 9, 10
KIND_CREDIT, KIND_PING, KIND_PONG, KIND_GOAWAY = 12, 14, 15, 16
KIND_FIRST_EXTENSION = 0x80

STDOUT, STDERR, PTY = 1, 2, 3


def hkdf_sha256(ikm, salt, info, length=32):
    """HKDF of RFC 5869 with SHA-256: extract, then expand."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def key_id(psk):
    """The kid of HELLO: lowercase hex of the first 8 bytes of SHA-256(psk)."""
    return hashlib.sha256(psk).digest()[:8].hex()


def auth_key(psk):
    """K, the key of both proofs."""
    return hkdf_sha256(psk, b"tacet/1", b"auth")


def client_proof(k, hello, welcome):
    """cp = HMAC(K, "tacet/1 client proof" || SHA-256(HELLO) || SHA-256(WELCOME))."""
    t = hashlib.sha256(hello).digest() + hashlib.sha256(welcome).digest()
    return hmac.new(k, b"tacet/1 client proof" + t, hashlib.sha256).digest()


def daemon_proof(k, hello, welcome, auth):
    """sp = HMAC(K, "tacet/1 daemon proof" || T || SHA-256(AUTH))."""
    t = hashlib.sha256(hello).digest() + hashlib.sha256(welcome).digest()
    return hmac.new(k, b"tacet/1 daemon proof" + t + hashlib.sha256(auth).digest(),
                    hashlib.sha256).digest()


def load_key(path):
    """Read a key file: 64 hex digits and a newline."""
    with open(path, "rb") as f:
        text = f.read(256).strip()
    psk = bytes.fromhex(text.decode("ascii"))
    if len(psk) != 32:
        raise ValueError("%s: a key is 32 bytes, this one %d" % (path, len(psk)))
    return psk


class ProtocolError(Exception):
    """The daemon sent something this controller cannot accept."""


class Goaway(Exception):
    """The daemon closed the connection with GOAWAY; .error is its Error map."""

    def __init__(self, error):
        super().__init__("%s: %s" % (error.get("n"), error.get("m")))
        self.error = error


class RequestError(Exception):
    """A request was answered with an error; .error is the Error map."""

    def __init__(self, method, error):
        super().__init__("%s: %s: %s" % (method, error.get("n"), error.get("m")))
        self.error = error


def start_args(argv, **kw):
    """Return StartArgs with every field present, in table order, as a
    canonical sender writes them. argv items may be str or bytes."""
    a = {
        "argv": [x.encode() if isinstance(x, str) else x for x in argv],
        "env": {"mode": "", "set": [], "unset": []},
        "cwd": b"",
        "stdin": {"mode": "", "path": b""},
        "out": {"pty": False, "rows": 0, "cols": 0, "memonly": False},
        "user": "",
        "group": "",
        "rlim": [],
        "cpus": [],
        "nice": 0,
        "hasnice": False,
        "pg": "",
        "cg": {"memmax": 0, "cpuquota": 0, "cpuperiod": 0},
        "timeout": 0,
        "grace": 0,
        "tag": "",
        "stage": False,
        "at": 0,
        "lease": 0,
        "collect": [],
    }
    for name, value in kw.items():
        if name not in a:
            raise TypeError("StartArgs has no field %r" % name)
        a[name] = value
    return a


class Controller:
    """One authenticated connection to a daemon.

    Requests are answered in any order; request() waits for its own
    response and keeps every event that arrives meanwhile, by envelope id,
    for next_event().
    """

    def __init__(self, sock, psk, who="spec/controller.py", io_timeout=None, kid=None):
        self.sock = sock
        self.io_timeout = io_timeout
        self.psk = psk
        self.kid = key_id(psk) if kid is None else kid
        self.who = who
        self.buf = b""
        self.max_frame = PRE_AUTH_MAX_FRAME
        self.next_id = 0
        self.responses = {}
        self.events = []
        self.welcome = None

    @classmethod
    def connect(cls, url, psk, timeout=5.0, who="spec/controller.py", io_timeout=None, kid=None):
        """Dial tcp://HOST:PORT or unix:///PATH and run the handshake,
        within timeout seconds; io_timeout then bounds each read (None:
        no bound). kid replaces the key id of psk, for tests only."""
        if url.startswith("tcp://"):
            host, _, port = url[len("tcp://"):].rpartition(":")
            sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        elif url.startswith("unix://"):
            path = url[len("unix://"):]
            if path.startswith("@"):
                path = "\0" + path[1:]
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(path)
        else:
            raise ValueError("unsupported address %r" % url)
        c = cls(sock, psk, who, io_timeout, kid)
        try:
            c.handshake()
        except BaseException:
            sock.close()
            raise
        return c

    def close(self):
        self.sock.close()

    # Framing.

    def _recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise ConnectionError("daemon closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _read_frame(self):
        """Return the payload of the next frame, refusing any length the
        limit in force does not allow before reading the payload."""
        (length,) = struct.unpack(">I", self._recv_exact(4))
        if length == 0 or length > self.max_frame:
            raise ProtocolError("frame length %d outside 1..%d" % (length, self.max_frame))
        return self._recv_exact(length)

    def _write_frame(self, payload):
        self.sock.sendall(struct.pack(">I", len(payload)) + payload)

    @staticmethod
    def _envelope(kind, ident, body):
        return msgpack.packb([kind, ident, body], use_bin_type=True)

    @staticmethod
    def _parse(payload):
        env = msgpack.unpackb(payload, raw=False)
        if not isinstance(env, list) or len(env) < 3 or not isinstance(env[2], dict):
            raise ProtocolError("payload is not an envelope")
        return env[0], env[1], env[2]

    # Handshake.

    def handshake(self):
        hello = self._envelope(KIND_HELLO, 0, {
            "pv": [1, 1], "cv": 1, "caps": [], "who": self.who,
            "cn": os.urandom(32), "kid": self.kid,
        })
        self.sock.sendall(PREFACE)
        self._write_frame(hello)
        if self._recv_exact(len(PREFACE)) != PREFACE:
            raise ProtocolError("the peer's preface is not tacet framing 1")

        welcome = self._read_frame()
        kind, _, body = self._parse(welcome)
        if kind == KIND_GOAWAY:
            raise Goaway(body.get("e", {}))
        if kind != KIND_WELCOME:
            raise ProtocolError("expected WELCOME, got kind %d" % kind)
        if body.get("pv") != 1 or body.get("caps"):
            raise ProtocolError("daemon chose pv %r caps %r, not offered" % (body.get("pv"), body.get("caps")))
        if body.get("auth") != "hmac":
            raise ProtocolError("daemon offered auth %r; only hmac is accepted here" % body.get("auth"))
        if len(body.get("sn", b"")) != 32 or not 4096 <= body.get("maxf", 0) <= HARD_MAX_FRAME + 1:
            raise ProtocolError("WELCOME needs a 32-byte sn and a maxf of 4096..16 MiB")
        self.welcome = body

        k = auth_key(self.psk)
        auth = self._envelope(KIND_AUTH, 0, {"cp": client_proof(k, hello, welcome)})
        self._write_frame(auth)
        kind, _, body = self._parse(self._read_frame())
        if kind == KIND_GOAWAY:
            raise Goaway(body.get("e", {}))
        if kind != KIND_READY:
            raise ProtocolError("expected READY, got kind %d" % kind)
        if not hmac.compare_digest(body.get("sp", b""), daemon_proof(k, hello, welcome, auth)):
            raise ProtocolError("daemon proof does not match: the peer does not hold the key")
        self.max_frame = min(self.welcome["maxf"], HARD_MAX_FRAME)
        self.sock.settimeout(self.io_timeout)

    # Requests and events.

    def _pump(self):
        """Read one frame and file it."""
        kind, ident, body = self._parse(self._read_frame())
        if kind == KIND_RESPONSE:
            self.responses[ident] = body
        elif kind == KIND_EVENT:
            self.events.append((ident, body))
        elif kind == KIND_GOAWAY:
            self.close()
            raise Goaway(body.get("e", {}))
        elif kind == KIND_PING:
            # A daemon pings a silent owner of leased processes (16.8).
            t = time.clock_gettime_ns(time.CLOCK_REALTIME)
            m = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            pong = {"t1": body.get("t1", 0), "t2": t, "t3": t, "m2": m, "m3": m}
            self._write_frame(self._envelope(KIND_PONG, ident, pong))
        elif kind < KIND_FIRST_EXTENSION and kind != KIND_PONG:
            raise ProtocolError("unexpected frame kind %d" % kind)

    def request(self, method, args=None):
        """Send a request and return its result map, or raise RequestError."""
        self.next_id += 1
        ident = self.next_id
        self._write_frame(self._envelope(KIND_REQUEST, ident, {"m": method, "a": args or {}}))
        while ident not in self.responses:
            self._pump()
        body = self.responses.pop(ident)
        if "e" in body:
            raise RequestError(method, body["e"])
        return body["r"]

    def next_event(self):
        """Return the oldest event as (envelope id, body), waiting for one."""
        while not self.events:
            self._pump()
        return self.events.pop(0)

    def credit(self, sub, n):
        self._write_frame(self._envelope(KIND_CREDIT, sub, {"b": n}))

    def run(self, argv, **start):
        """Start argv, collect its stdout from offset 0 and wait for its
        exit. Return (stdout bytes, exit record)."""
        r = self.request("proc.start", start_args(argv, **start))
        handle = r["h"]
        sub = self.request("out.subscribe", {"h": handle, "s": STDOUT, "from": 0, "credit": 1 << 20})["sub"]
        out, exit_rec, eos = b"", None, False
        while exit_rec is None or not eos:
            ident, ev = self.next_event()
            k = ev.get("k")
            if k == "out" and ident == sub:
                if ev["o"] != len(out):
                    raise ProtocolError("out event at offset %d, want %d" % (ev["o"], len(out)))
                out += ev["d"]
                self.credit(sub, len(ev["d"]))
            elif k == "gap" and ident == sub:
                raise ProtocolError("bytes [%d, %d) lost: %s" % (ev["from"], ev["to"], ev["why"]))
            elif k == "eos" and ident == sub:
                if ev["len"] != len(out):
                    raise ProtocolError("eos at %d after %d bytes" % (ev["len"], len(out)))
                eos = True
            elif k == "exit" and ev["h"] == handle:
                exit_rec = ev
            elif k == "failed" and ev["h"] == handle:
                raise ProtocolError("process failed at %s: %s" % (ev["step"], ev["sys"]))
        return out, exit_rec


def main(argv):
    if len(argv) < 4:
        sys.stderr.write("usage: controller.py KEYFILE URL CMD [ARG...]\n")
        return 2
    c = Controller.connect(argv[2], load_key(argv[1]))
    try:
        out, ex = c.run(argv[3:])
    finally:
        c.close()
    sys.stdout.buffer.write(out)
    return 128 + ex["sig"] if ex["sig"] else ex["code"]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
