# SPDX-License-Identifier: Apache-2.0
"""The asyncio client of tacet: one `AsyncClient` per daemon connection,
`AsyncGroup` for many. All protocol work is done by the sans-I/O core in
`tacet.protocol`; this module only moves its bytes over asyncio streams
and routes its events to the waiting calls, processes and streams.

    import asyncio, tacet.aio

    async def main():
        async with await tacet.aio.connect("tcp://127.0.0.1:7340", key_file="key") as c:
            p = await c.start(["echo", "hi"])
            out = await p.output(1)
            print(await out.read_all(), (await p.wait()).code)

    asyncio.run(main())
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import io
import os
import posixpath
import signal as _signal
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from . import files as F
from . import protocol as P
from . import types as T
from .errors import (BadArgs, ConnectionLost, NotFound, OutputGap, ProtocolError, TacetError,
                     Unauthenticated, Unsupported, SpawnFailed)

DEFAULT_WINDOW = 1 << 20
DEFAULT_PORT = 7340
READ_MAX = 262144
# The first capability version whose daemons confine a file transfer
# beneath its `root` (11.16); an older one ignores the key.
CAPVER_FILE_ROOT = 3

Pathish = Union[str, bytes, os.PathLike]


# ---------------------------------------------------------------------------
# Addresses and keys


def parse_url(url: str):
    """("tcp", host, port) or ("unix", path) for a tacet URL; unix://@name
    is an abstract socket."""
    if url.startswith("tcp://"):
        rest = url[6:].rstrip("/")
        if rest.startswith("["):
            host, _, port = rest[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = rest.rpartition(":")
            if not host:
                host, port = rest, ""
        return ("tcp", host or "127.0.0.1", int(port) if port else DEFAULT_PORT)
    if url.startswith("unix://"):
        path = url[7:]
        if not path:
            raise ValueError("unix:// URL without a path")
        return ("unix", "\0" + path[1:] if path.startswith("@") else path)
    if url.startswith(("tls://", "kcp://")):
        raise Unsupported("%s: this Python client speaks tcp:// and unix:// only" % url, host=url)
    raise ValueError("not a tacet URL (tcp://HOST:PORT or unix:///PATH): %r" % url)


def default_key_path() -> str:
    """The default key file: /etc/tacet/key for root, else $XDG_CONFIG_HOME/tacet/key."""
    if os.geteuid() == 0:
        return "/etc/tacet/key"
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "tacet", "key")


def resolve_key(key=None, key_file=None, need=True) -> Optional[bytes]:
    """The psk from `key` (32 bytes or 64 hex digits), `key_file`,
    $TACET_KEY_FILE, or the default key path; None if none and not `need`."""
    if key is not None:
        if isinstance(key, (bytes, bytearray)) and len(key) == 32:
            return bytes(key)
        return P.parse_key(key)
    path = key_file or os.environ.get("TACET_KEY_FILE")
    if path:
        return P.load_key_file(path)
    path = default_key_path()
    if os.path.exists(path):
        return P.load_key_file(path)
    if need:
        raise ValueError("no key: pass key= or key_file=, or set TACET_KEY_FILE")
    return None


def _hash_part(f, h) -> int:
    """Hash what the part file f holds into h; the bytes it holds."""
    have = 0
    while True:
        b = f.read(1 << 20)
        if not b:
            return have
        h.update(b)
        have += len(b)


def _write_chunk(f, h, data: bytes) -> None:
    """Write a chunk of a get to its part file and hash it. It runs in a
    worker thread, one chunk at a time, in order."""
    f.write(data)
    h.update(data)


# ---------------------------------------------------------------------------
# Result records that are not on the wire


@dataclass
class ClockEstimate:
    """Offset of the daemon's REALTIME clock from ours (daemon − controller,
    ns) from the PONG of smallest delay in a burst."""
    offset: int
    delay: int
    samples: List[P.PongEvent] = field(default_factory=list, repr=False)
    host: Optional[str] = None

    @property
    def error_bound(self) -> int:
        return self.delay // 2

    def to_daemon(self, t_ns: int) -> int:
        """A controller REALTIME instant (ns) on the daemon's clock."""
        return t_ns + self.offset

    def from_daemon(self, t_ns: int) -> int:
        """A daemon REALTIME instant (ns) on the controller's clock."""
        return t_ns - self.offset


@dataclass
class Completed:
    """What `run` returns: the exit record and all output."""
    exit: T.Exit
    stdout: bytes
    stderr: bytes
    host: Optional[str] = None

    @property
    def code(self):
        return self.exit.code

    @property
    def returncode(self):
        return self.exit.returncode


# ---------------------------------------------------------------------------
# Building StartArgs


def _dur(v) -> int:
    """Seconds (int or float) to ns; None → 0."""
    if v is None:
        return 0
    if v < 0:
        raise ValueError("negative duration")
    return int(round(v * 1e9))


def build_start_args(argv, *, args: Optional[T.StartArgs] = None, env=None, clear_env=False,
                     unset_env=(), cwd=None, stdin=None, stdin_file=None, pty=False, rows=0,
                     cols=0, memonly=False, user="", group="", rlimits=None, cpus=(),
                     nice=None, pg="", memmax=0, cpuquota=0, cpuperiod=0, timeout=None,
                     grace=None, tag="", stage=False, at=0, lease=None,
                     collect=()) -> T.StartArgs:
    """StartArgs from friendly options. Durations (`timeout`, `grace`,
    `lease`) are seconds; `at` is a REALTIME instant in ns on the daemon's
    clock. `env` is a mapping or a sequence of "KEY=VALUE"; `rlimits` a
    mapping name → (soft, hard) or soft, or a sequence of Rlimit; `stdin`
    "none" or "pipe", or `stdin_file` a path. `args` is a StartArgs whose
    non-zero fields are the base."""
    a = args if args is not None else T.StartArgs()
    if isinstance(argv, (str, bytes)):
        raise TypeError("argv is a sequence of arguments, not a string (tacet runs no shell)")
    if argv is not None:
        a.argv = [T.as_bytes(x) for x in argv]
    if env is not None:
        items = env.items() if isinstance(env, Mapping) else None
        if items is not None:
            a.env.set = [T.as_bytes(k) + b"=" + T.as_bytes(v) for k, v in items]
        else:
            a.env.set = [T.as_bytes(x) for x in env]
    if clear_env:
        a.env.mode = "clear"
    if unset_env:
        a.env.unset = [T.as_bytes(x) for x in unset_env]
    if cwd is not None:
        a.cwd = T.as_bytes(cwd)
    if stdin_file is not None:
        a.stdin = T.StdinSpec(mode="file", path=T.as_bytes(stdin_file))
    elif stdin is not None:
        if stdin not in ("", "none", "pipe"):
            raise ValueError('stdin is "none" or "pipe"; use stdin_file= for a file')
        a.stdin.mode = stdin
    if pty:
        a.out.pty = True
    if rows:
        a.out.rows = rows
    if cols:
        a.out.cols = cols
    if memonly:
        a.out.memonly = True
    if user:
        a.user = str(user)
    if group:
        a.group = str(group)
    if rlimits:
        if isinstance(rlimits, Mapping):
            rl = []
            for r, v in rlimits.items():
                soft, hard = (v, v) if isinstance(v, int) else v
                rl.append(T.Rlimit(r=r, soft=soft, hard=hard))
            a.rlim = rl
        else:
            a.rlim = list(rlimits)
    if cpus:
        a.cpus = list(cpus)
    if nice is not None:
        a.nice, a.hasnice = int(nice), True
    if pg:
        a.pg = pg
    if memmax:
        a.cg.memmax = memmax
    if cpuquota:
        a.cg.cpuquota = cpuquota
    if cpuperiod:
        a.cg.cpuperiod = cpuperiod
    if timeout is not None:
        a.timeout = _dur(timeout)
    if grace is not None:
        a.grace = _dur(grace)
    if tag:
        a.tag = tag
    if stage:
        a.stage = True
    if at:
        a.at = int(at)
    if lease is not None:
        a.lease = _dur(lease)
    if collect:
        a.collect = [T.as_bytes(x) for x in collect]
    return a


# ---------------------------------------------------------------------------
# Streams


class _Queue:
    """Items delivered by the reader task, taken by one consumer."""

    def __init__(self):
        self.items = collections.deque()
        self.waiter: Optional[asyncio.Future] = None
        self.error: Optional[BaseException] = None
        self.ended = False

    def put(self, item):
        self.items.append(item)
        self._wake()

    def fail(self, err):
        if self.error is None and not self.ended:
            self.error = err
        self._wake()

    def _wake(self):
        w, self.waiter = self.waiter, None
        if w is not None and not w.done():
            w.set_result(None)

    async def get(self):
        while not self.items:
            if self.error is not None:
                raise self.error
            if self.ended:
                return None
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return self.items.popleft()


class AsyncOutput:
    """One output subscription (out.subscribe) of stream `s` of a process.

    Iterate it (`async for item in out`) to get `Out` chunks and `Gap`
    records in stream order, until the stream's end (`eos`). Or read it
    like a file: `await out.read(n)`, `await out.read_all()`. Credit is
    returned to the daemon as the chunks are consumed, so at most `window`
    bytes wait in this process."""

    def __init__(self, client: "AsyncClient", h: int, s: int, res: T.SubscribeResult,
                 from_: int, window: int):
        self.client, self.h, self.s = client, h, s
        self.sub = res.sub
        self.start = res.start
        self.len_at_subscribe = res.len
        self.window = window
        self.offset = from_            # next offset the consumer gets
        self._expect = from_           # next offset the daemon must send
        self._consumed = 0
        self._q = _Queue()
        self._buf = b""
        self.gaps: List[T.Gap] = []
        self.eos: Optional[T.Eos] = None

    # reader side
    def _deliver(self, name, rec):
        if name == "out":
            if rec.o != self._expect or not rec.d:
                self._q.fail(ProtocolError("out event at offset %d, expected %d" % (rec.o, self._expect),
                                           host=self.client.host))
                return
            self._expect = rec.end
        elif name == "gap":
            if rec.from_ != self._expect or rec.to < rec.from_:
                self._q.fail(ProtocolError("gap [%d, %d), expected offset %d" % (rec.from_, rec.to, self._expect),
                                           host=self.client.host))
                return
            self._expect = rec.to
        elif name == "eos":
            self.client._subs.pop(self.sub, None)
        else:
            return
        self._q.put(rec)

    def _fail(self, err):
        self._q.fail(err)

    @property
    def done(self) -> bool:
        return self._q.ended

    def __aiter__(self):
        return self

    async def __anext__(self):
        item = await self.next()
        if item is None:
            raise StopAsyncIteration
        return item

    async def next(self):
        """The next Out or Gap, or None at the end of the stream."""
        if self._q.ended:
            return None
        rec = await self._q.get()
        if rec is None:
            return None
        if isinstance(rec, T.Eos):
            self.eos = rec
            self._q.ended = True
            return None
        if isinstance(rec, T.Out):
            self._consumed += len(rec.d)
            if self._consumed >= self.window // 2:
                self.client._credit(self.sub, self._consumed)
                self._consumed = 0
            self.offset = rec.end
        else:
            self.gaps.append(rec)
            self.offset = rec.to
        return rec

    async def read(self, n: int = -1, on_gap: str = "raise") -> bytes:
        """Up to n bytes (all until the end when n < 0); b"" at the end.
        A lost range raises OutputGap, or is skipped with on_gap="skip"."""
        chunks = [self._buf] if self._buf else []
        have = len(self._buf)
        self._buf = b""
        while n < 0 or have < max(n, 1):
            if n >= 0 and have:
                break
            rec = await self.next()
            if rec is None:
                break
            if isinstance(rec, T.Gap):
                if on_gap != "skip":
                    self._buf = b"".join(chunks)
                    raise OutputGap(host=self.client.host, start=rec.from_, end=rec.to, why=rec.why)
                continue
            chunks.append(rec.d)
            have += len(rec.d)
        data = b"".join(chunks)
        if n >= 0 and len(data) > n:
            data, self._buf = data[:n], data[n:]
        return data

    async def read_all(self, on_gap: str = "raise") -> bytes:
        """Every byte to the end of the stream (see read)."""
        return await self.read(-1, on_gap=on_gap)

    async def close(self):
        """End the subscription (out.unsubscribe) unless it has ended."""
        if self._q.ended or self.client._subs.get(self.sub) is not self:
            self._q.ended = True
            return
        self.client._subs.pop(self.sub, None)
        self._q.ended = True
        try:
            await self.client.call("out.unsubscribe", T.UnsubscribeArgs(sub=self.sub))
        except (NotFound, ConnectionLost):
            pass


class AsyncSamples:
    """A sample subscription: `async for s in samples` yields Sample records."""

    def __init__(self, client, res: T.SampleSubResult):
        self.client, self.sub, self.period = client, res.sub, res.period
        self._q = _Queue()

    def _deliver(self, name, rec):
        if name == "sample":
            self._q.put(rec)

    def _fail(self, err):
        self._q.fail(err)

    def __aiter__(self):
        return self

    async def __anext__(self):
        rec = await self._q.get()
        if rec is None:
            raise StopAsyncIteration
        return rec

    async def close(self):
        """End the subscription (sample.unsubscribe); iteration then stops."""
        if self._q.ended:
            return
        self._q.ended = True
        self._q._wake()
        self.client._subs.pop(self.sub, None)
        try:
            await self.client.call("sample.unsubscribe", T.UnsubscribeArgs(sub=self.sub))
        except (NotFound, ConnectionLost):
            pass


class _FileGet:
    def __init__(self, client, res: T.GetResult, window):
        self.client, self.x, self.res, self.window = client, res.x, res, window
        self._q = _Queue()
        self._consumed = 0

    def _deliver(self, name, rec):
        if name in ("file", "fileend"):
            if name == "fileend":
                self.client._subs.pop(self.x, None)
            self._q.put(rec)

    def _fail(self, err):
        self._q.fail(err)

    async def next(self):
        rec = await self._q.get()
        if isinstance(rec, T.FileChunk):
            self._consumed += len(rec.d)
            if self._consumed >= self.window // 2:
                self.client._credit(self.x, self._consumed)
                self._consumed = 0
        return rec


# ---------------------------------------------------------------------------
# Processes


class AsyncProcess:
    """A process on one daemon, named by its handle `h`. `state`, `exit`
    and `failed` follow the daemon's events on this connection."""

    def __init__(self, client: "AsyncClient", h: int, pid: int = 0, state: str = "",
                 new: bool = True, streams=(1, 2)):
        self.client, self.h, self.pid, self.state, self.new = client, h, pid, state, new
        self.streams = streams
        self.exit: Optional[T.Exit] = None
        self.failed: Optional[T.Failed] = None
        self.states: List[T.State] = []
        self._ended = asyncio.Event()

    @property
    def host(self):
        return self.client.host

    def __repr__(self):
        return "<AsyncProcess %s h=%#x pid=%d %s>" % (self.host, self.h, self.pid, self.state)

    def _event(self, name, rec):
        if name == "state":
            self.state = rec.state
            if rec.pid:
                self.pid = rec.pid
            self.states.append(rec)
        elif name == "exit":
            self.exit, self.state = rec, "exited"
            self._ended.set()
        elif name == "failed":
            self.failed, self.state = rec, "failed"
            self._ended.set()

    async def wait(self, timeout: Optional[float] = None) -> T.Exit:
        """The exit record (proc.wait). A staged process that failed after
        release raises SpawnFailed; `timeout` seconds raise asyncio.TimeoutError."""
        coro = self.client.call("proc.wait", T.HandleArgs(h=self.h))
        ex = await (asyncio.wait_for(coro, timeout) if timeout is not None else coro)
        ex.host = self.host
        self.exit, self.state = ex, "exited"
        return ex

    async def signal(self, sig: int = _signal.SIGTERM, tree: bool = False, at: int = 0) -> None:
        """Send signal `sig` (proc.signal) to the process, or with `tree` to its whole tree; `at`: at that REALTIME instant (daemon clock, ns)."""
        await self.client.call("proc.signal", T.SignalArgs(h=self.h, sig=int(sig), tree=tree, at=at))

    async def terminate(self, tree: bool = True):
        """SIGTERM, by default to the whole tree."""
        await self.signal(_signal.SIGTERM, tree=tree)

    async def kill(self, tree: bool = True):
        """SIGKILL, by default to the whole tree."""
        await self.signal(_signal.SIGKILL, tree=tree)

    async def write(self, data: bytes, eof: bool = False) -> None:
        """Write to stdin (a pipe or the terminal), in chunks that fit a
        frame, each acknowledged before the next (11.8)."""
        data = bytes(data)
        chunk = max(1, min(self.client.maxf - 1024, 1 << 20))
        if not data:
            await self.client.call("proc.stdin", T.StdinArgs(h=self.h, d=b"", eof=eof))
            return
        for i in range(0, len(data), chunk):
            last = i + chunk >= len(data)
            await self.client.call("proc.stdin", T.StdinArgs(h=self.h, d=data[i:i + chunk],
                                                             eof=eof and last))

    async def close_stdin(self) -> None:
        """Close stdin (proc.stdin with eof)."""
        await self.write(b"", eof=True)

    async def resize(self, rows: int, cols: int) -> None:
        """Set the terminal's size (proc.resize; SIGWINCH to the process)."""
        await self.client._require("proc.resize")
        await self.client.call("proc.resize", T.ResizeArgs(h=self.h, rows=rows, cols=cols))

    async def freeze(self) -> None:
        """Stop the process's cgroup (proc.freeze); needs cgroup v2."""
        await self.client._require("proc.freeze")
        await self.client.call("proc.freeze", T.FreezeArgs(h=self.h, thaw=False))

    async def thaw(self) -> None:
        """Let a frozen cgroup run again (proc.freeze thaw)."""
        await self.client._require("proc.freeze")
        await self.client.call("proc.freeze", T.FreezeArgs(h=self.h, thaw=True))

    async def trigger(self, at: int = 0) -> None:
        """Release this staged process now, or at REALTIME `at` (daemon clock, ns)."""
        await self.client.trigger([self.h], at=at)

    async def status(self) -> T.ProcInfo:
        """The ProcInfo record (proc.status): state, argv, tag, lengths, exit."""
        pi = await self.client.call("proc.status", T.HandleArgs(h=self.h))
        self.state = pi.state
        return pi

    async def release(self) -> None:
        """Forget the process and its output (proc.release); the handle is then NOT_FOUND."""
        await self.client.call("proc.release", T.HandleArgs(h=self.h))
        self.client._procs.pop(self.h, None)

    async def collect(self) -> T.CollectResult:
        """The files named by `collect=` at start, kept at the reap (proc.collect): CollectResult."""
        await self.client._require("proc.collect")
        return await self.client.call("proc.collect", T.HandleArgs(h=self.h))

    async def output(self, stream: int = 1, from_: int = 0, window: Optional[int] = None) -> AsyncOutput:
        """Subscribe to a stream (1 stdout, 2 stderr, 3 terminal) from byte
        offset `from_` (2**64-1: only new bytes)."""
        return await self.client.subscribe(self.h, stream, from_, window)

    def follow(self, stream: int = 1, from_: int = 0, **opts) -> "AsyncFollower":
        """Follow a stream from `from_` to its end, over this connection
        first and over new ones (to the same URL, with the same key) if it
        drops: no duplicate, no hole. Options as AsyncFollower."""
        o = dict(self.client.connect_opts)
        o.update(opts)
        return AsyncFollower(self.client.url, self.h, stream, from_, client=self.client, **o)

    async def read(self, stream: int = 1, offset: int = 0, max: int = 0) -> T.ReadResult:
        """One out.read: up to `max` bytes (0: 256 KiB) at `offset`."""
        return await self.client.call("out.read", T.ReadArgs(h=self.h, s=stream, o=offset, max=max))

    async def read_output(self, stream: int = 1, offset: int = 0, on_gap: str = "raise") -> bytes:
        """Every retained byte of a stream from `offset` to its current end,
        by out.read (after exit: the whole output)."""
        parts = []
        while True:
            r = await self.read(stream, offset, READ_MAX)
            if r.gapto:
                if on_gap != "skip":
                    raise OutputGap(host=self.host, start=r.o, end=r.gapto, why=r.why)
                offset = r.gapto
                continue
            parts.append(r.d)
            offset = r.o + len(r.d)
            if r.eof or not r.d:
                return b"".join(parts)


# ---------------------------------------------------------------------------
# The client


class AsyncClient:
    """One authenticated connection to one daemon. Use `connect()`."""

    def __init__(self, url: str, proto: P.Protocol, reader, writer, label: str):
        self.url = url
        self.host = label
        self._proto = proto
        self._reader, self._writer = reader, writer
        self._calls: Dict[int, tuple] = {}
        self._pings: Dict[int, asyncio.Future] = {}
        self._procs: Dict[int, AsyncProcess] = {}
        self._subs: Dict[int, Any] = {}
        self._subscribing = 0
        self._orphans: Dict[int, list] = {}
        self._info: Optional[T.HostInfo] = None
        self._ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self._closed = asyncio.Event()
        self.error: Optional[TacetError] = None
        self.on_event: Optional[Callable[[str, Any], None]] = None
        self.welcome: Optional[T.Welcome] = None
        # Stream events for no known subscription (none is expected after
        # an unsubscribe's response, 11.14): a diagnostic for tests.
        self.stray_events = 0
        # The options connect() was given (key resolved), to dial again.
        self.connect_opts: Dict[str, Any] = {}
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    # -- plumbing --------------------------------------------------------

    @property
    def maxf(self) -> int:
        return self._proto.maxf

    @property
    def mac(self) -> bool:
        return self._proto.mac

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _flush(self):
        data = self._proto.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)

    async def _read_loop(self):
        try:
            while True:
                try:
                    data = await self._reader.read(1 << 18)
                except (OSError, asyncio.IncompleteReadError) as e:
                    self._dispatch(self._proto.connection_lost(e))
                    break
                if not data:
                    self._dispatch(self._proto.connection_lost())
                    break
                self._dispatch(self._proto.receive_data(data))
                self._flush()
                if self._proto.state == "closed":
                    break
        except asyncio.CancelledError:
            self._dispatch(self._proto.close())
            raise
        except BaseException as e:  # a bug: end the connection, never hang callers
            self._dispatch(self._proto.connection_lost(e))
        finally:
            try:
                self._writer.close()
            except Exception:
                pass

    def _dispatch(self, events):
        for ev in events:
            if isinstance(ev, P.Response):
                entry = self._calls.pop(ev.id, None)
                if entry is None:
                    continue
                fut, hook = entry
                if ev.error is not None:
                    if hook is not None:
                        hook(None)
                    if not fut.done():
                        fut.set_exception(ev.error)
                else:
                    try:
                        res = hook(ev.result) if hook is not None else ev.result
                    except TacetError as e:
                        if not fut.done():
                            fut.set_exception(e)
                        continue
                    if not fut.done():
                        fut.set_result(res)
            elif isinstance(ev, P.ProcEvent):
                p = self._procs.get(ev.record.h)
                if p is not None:
                    p._event(ev.name, ev.record)
                if self.on_event is not None:
                    try:
                        self.on_event(ev.name, ev.record)
                    except Exception:
                        pass
            elif isinstance(ev, P.StreamEvent):
                s = self._subs.get(ev.id)
                if s is not None:
                    s._deliver(ev.name, ev.record)
                elif self._subscribing:
                    self._orphans.setdefault(ev.id, []).append(ev)
                else:
                    self.stray_events += 1
            elif isinstance(ev, P.PongEvent):
                fut = self._pings.pop(ev.id, None)
                if fut is not None and not fut.done():
                    fut.set_result(ev)
            elif isinstance(ev, P.Ready):
                self.welcome = ev.welcome
                if not self._ready.done():
                    self._ready.set_result(ev)
            elif isinstance(ev, P.Closed):
                self._on_closed(ev.error)

    def _on_closed(self, err):
        lost = self._proto.error or ConnectionLost("connection closed", host=self.host)
        self.error = lost
        if not self._ready.done():
            e = err
            if isinstance(e, ConnectionLost) and e.cause is not None:
                e = e.cause
            self._ready.set_exception(e or lost)
        for fut in self._pings.values():
            if not fut.done():
                fut.set_exception(lost)
        self._pings.clear()
        for s in list(self._subs.values()):
            s._fail(lost)
        self._subs.clear()
        for p in self._procs.values():
            p._ended.set()
        self._closed.set()

    def _register(self, sub_id, obj):
        self._subs[sub_id] = obj
        for ev in self._orphans.pop(sub_id, ()):
            obj._deliver(ev.name, ev.record)

    def _credit(self, sub, n):
        if self._proto.state == "ready":
            self._proto.credit(sub, n)
            self._flush()

    async def call(self, method: str, args=None, hook=None):
        """Send one request and return its decoded result (None for `{}`);
        raise the daemon's error as a TacetError naming host and method.
        `hook(result)` runs in the reader as the response arrives."""
        fut = self._begin(method, args, hook)
        if self._writer.transport.get_write_buffer_size() > (1 << 20):
            await self._writer.drain()
        return await fut

    def _begin(self, method: str, args=None, hook=None) -> asyncio.Future:
        """Send one request now; the future of its result, as `call`'s."""
        if self._proto.state != "ready":
            if hook is not None:
                hook(None)
            raise self.error or ConnectionLost("not connected", host=self.host, method=method)
        fut = asyncio.get_running_loop().create_future()
        try:
            id_ = self._proto.request(method, args)
        except BaseException:
            if hook is not None:
                hook(None)
            raise
        self._calls[id_] = (fut, hook)
        self._flush()
        return fut

    async def _handshake(self, timeout):
        self._proto.initiate()
        self._flush()
        await asyncio.wait_for(asyncio.shield(self._ready), timeout)

    # -- host ------------------------------------------------------------

    async def host_info(self, refresh: bool = False) -> T.HostInfo:
        """The daemon's HostInfo (host.info), cached unless `refresh`."""
        if self._info is None or refresh:
            self._info = await self.call("host.info")
        return self._info

    async def methods(self) -> List[str]:
        """The methods this daemon serves (host.info `methods`)."""
        return list((await self.host_info()).methods)

    async def _require(self, method):
        if method in T.ALWAYS_SERVED:
            return
        info = await self.host_info()
        if method not in info.methods:
            raise Unsupported("%s is not served by this daemon (host.info methods: %s)"
                              % (method, ", ".join(info.methods)), host=self.host, method=method)

    async def ping(self) -> P.PongEvent:
        """One PING/PONG: `.offset` (θ) and `.delay` (δ) in ns."""
        if self._proto.state != "ready":
            raise self.error or ConnectionLost("not connected", host=self.host)
        fut = asyncio.get_running_loop().create_future()
        id_ = self._proto.ping()
        self._pings[id_] = fut
        self._flush()
        return await fut

    async def clock(self, n: int = 8, spacing: float = 0.002) -> ClockEstimate:
        """A burst of n PINGs; the estimate of smallest delay."""
        samples = []
        for i in range(n):
            samples.append(await self.ping())
            if spacing and i + 1 < n:
                await asyncio.sleep(spacing)
        best = min(samples, key=lambda s: s.delay)
        return ClockEstimate(best.offset, best.delay, samples, self.host)

    # -- processes -------------------------------------------------------

    async def start(self, argv: Sequence[Union[str, bytes]] = None, **opts) -> AsyncProcess:
        """Start a process (proc.start) with every option of StartArgs; see
        build_start_args for the options. Returns once execve succeeded
        (with stage=True, the program then waits for its release before
        its first instruction)."""
        a = build_start_args(argv, **opts)
        streams = (3,) if a.out.pty else (1, 2)

        def hook(res):
            if res is None:
                return None
            p = self._procs.get(res.h)
            if p is None:
                p = AsyncProcess(self, res.h, res.pid, res.state, res.new, streams)
                self._procs[res.h] = p
            else:
                p.new = res.new
            return p
        return await self.call("proc.start", a, hook)

    def process(self, h: int, streams=(1, 2)) -> AsyncProcess:
        """An AsyncProcess for an existing handle (from proc.list, another
        connection, or before a reconnect). Process events reach this
        connection only through an output subscription (12.1)."""
        p = self._procs.get(h)
        if p is None:
            p = self._procs[h] = AsyncProcess(self, h, streams=streams)
        return p

    async def run(self, argv, input: Optional[bytes] = None, wait_timeout: Optional[float] = None,
                  release: bool = True, **opts) -> Completed:
        """Start, feed `input` to stdin, collect all output, wait for the exit
        (at most `wait_timeout` s; `timeout` is the process timeout of StartArgs)."""
        if input is not None:
            opts.setdefault("stdin", "pipe")
        p = await self.start(argv, **opts)

        async def body():
            # Input first, then the subscriptions: output is retained from
            # offset 0, so nothing is missed, and the daemon has the whole
            # input before any output is asked for.
            if input is not None:
                await p.write(input, eof=True)
            outs = [await p.output(s) for s in p.streams]
            return await asyncio.gather(p.wait(), *(o.read_all(on_gap="skip") for o in outs))
        ex, *data = await (asyncio.wait_for(body(), wait_timeout) if wait_timeout else body())
        if release and not ex.open:
            try:
                await p.release()
            except TacetError:
                pass
        if len(data) == 1:
            return Completed(ex, data[0], b"", self.host)
        return Completed(ex, data[0], data[1], self.host)

    async def trigger(self, handles: Iterable[int], at: int = 0) -> None:
        """Release staged processes `handles` now, or at REALTIME `at` (daemon clock, ns)."""
        await self.call("proc.trigger", T.TriggerArgs(h=[int(h) for h in handles], at=at))

    async def status(self, h: int) -> T.ProcInfo:
        """ProcInfo of handle `h` (proc.status)."""
        return await self.call("proc.status", T.HandleArgs(h=h))

    async def list(self) -> List[T.ProcInfo]:
        """ProcInfo of every process the daemon holds (proc.list)."""
        return (await self.call("proc.list")).procs

    async def subscribe(self, h: int, stream: int = 1, from_: int = 0,
                        window: Optional[int] = None) -> AsyncOutput:
        """Subscribe to stream `stream` of handle `h` from offset `from_` (out.subscribe) with `window` bytes of credit (default 1 MiB)."""
        window = window or DEFAULT_WINDOW

        def hook(res):
            if res is None:
                self._subscribing -= 1
                if not self._subscribing:
                    self._orphans.clear()
                return None
            out = AsyncOutput(self, h, stream, res, from_, window)
            self._subscribing -= 1
            self._register(res.sub, out)
            if not self._subscribing:
                self._orphans.clear()
            return out
        self._subscribing += 1
        return await self.call("out.subscribe", T.SubscribeArgs(h=h, s=stream, from_=from_,
                                                                credit=window), hook)

    # -- samples ---------------------------------------------------------

    async def sample_once(self, src: Sequence[str] = (), h: Sequence[int] = (),
                          pids: Sequence[int] = (), dev: Sequence[Pathish] = ()) -> T.Sample:
        """One Sample now (sample.once): sources `src` (empty: all), processes by handle `h` or `pids`, devices `dev`."""
        await self._require("sample.once")
        s = await self.call("sample.once", T.SampleArgs(
            src=list(src), h=list(h), pids=list(pids), dev=[T.as_bytes(d) for d in dev]))
        s.host = self.host
        return s

    async def sample_subscribe(self, period: float, src: Sequence[str] = (),
                               h: Sequence[int] = (), pids: Sequence[int] = (),
                               dev: Sequence[Pathish] = ()) -> AsyncSamples:
        """Samples every `period` seconds (rounded up to 1 ms by the daemon)."""
        await self._require("sample.subscribe")

        def hook(res):
            self._subscribing -= 1
            if res is None:
                return None
            s = AsyncSamples(self, res)
            self._register(res.sub, s)
            return s
        self._subscribing += 1
        return await self.call("sample.subscribe", T.SampleArgs(
            src=list(src), h=list(h), pids=list(pids), dev=[T.as_bytes(d) for d in dev],
            period=_dur(period)), hook)

    # -- files -----------------------------------------------------------

    async def put_file(self, data_or_path, remote_path: Pathish, mode: Optional[int] = None,
                       mtime: Optional[int] = None, resume: Optional[bool] = None,
                       sync: bool = False, mkdirs: bool = False,
                       root: Pathish = b"") -> T.PutResult:
        """Copy a local file (a path) or bytes to `remote_path` (file.put),
        in chunks under the daemon's credit: a file is read piece by
        piece, never whole. A local file keeps its mode and mtime unless
        given. `resume` (default: for files over 64 KiB) continues from the
        part file an interrupted put of the same bytes left. `mkdirs`
        creates missing parents; `root` confines the put beneath it
        (11.16). The PutResult that reported the file done."""
        await self._require("file.put")
        if isinstance(data_or_path, (bytes, bytearray, memoryview)):
            data = bytes(data_or_path)
            e = F.PutEntry(local=b"", rel=b"", dir=False, size=len(data),
                           mode=0o644 if mode is None else mode, mtime=mtime or 0,
                           sha=hashlib.sha256(data).digest())
            src = io.BytesIO(data)
        else:
            path = os.fsencode(data_or_path)
            st = os.stat(path)
            e = F.PutEntry(local=path, rel=b"", dir=False, size=st.st_size,
                           mode=(st.st_mode & 0o7777) if mode is None else mode,
                           mtime=st.st_mtime_ns if mtime is None else mtime,
                           sha=await asyncio.to_thread(F.hash_file, path))
            src = open(path, "rb")
        with src:
            if resume is None:
                resume = e.size > F.SMALL_FILE
            r, _ = await self._put_one(e, src, T.as_bytes(remote_path), T.as_bytes(root),
                                       resume, sync, mkdirs, F.Tracker(None, 1, e.size))
        return r

    async def _put_one(self, e: F.PutEntry, src, target: bytes, root: bytes, resume: bool,
                       sync: bool, mkdirs: bool, t: F.Tracker):
        """Send one file read from src (a seekable binary file) to target:
        (the last PutResult, bytes of file data sent). With resume the
        opening request asks where the daemon's part file ends; else it
        carries the first bytes, so that a small file takes one round trip."""
        a = T.PutArgs(x=0, path=target, size=e.size, sha=e.sha, mode=e.mode, mtime=e.mtime,
                      resume=resume, sync=sync, mkdirs=mkdirs, root=root)
        if not resume:
            a.d = src.read(min(e.size, F.SMALL_FILE))
            if len(a.d) < min(e.size, F.SMALL_FILE):
                raise TacetError("put %r: the local file is shorter than %d bytes" % (target, e.size))
        r = await self.call("file.put", a)
        sent = len(a.d)
        t.add(r.have, len(a.d))
        if r.done:
            return r, sent
        chunk = max(4096, min(r.chunk or 65536, self.maxf - 1024))
        credit = max(r.credit, chunk)
        off, held = r.have, 0
        src.seek(off)
        inflight: collections.deque = collections.deque()
        try:
            while True:
                while off < e.size and held < credit:
                    d = src.read(min(chunk, e.size - off))
                    if not d:
                        raise TacetError("put %r: the local file ended at %d of %d bytes"
                                         % (target, off, e.size))
                    fut = self._begin("file.put", T.PutArgs(x=r.x, o=off, d=d))
                    inflight.append((len(d), fut))
                    off, held, sent = off + len(d), held + len(d), sent + len(d)
                if self._writer.transport.get_write_buffer_size() > (1 << 20):
                    await self._writer.drain()
                if not inflight:
                    raise ProtocolError("file.put %r: the daemon did not report the file done"
                                        % (target,), host=self.host)
                n, fut = inflight.popleft()
                r = await fut
                held -= n
                t.add(n, n)
                if r.done:
                    return r, sent
        finally:
            for _, fut in inflight:  # answered with errors after a failure: not waited for
                if not fut.done():
                    fut.cancel()
                elif not fut.cancelled():
                    fut.exception()

    async def put(self, local: Pathish, remote: Pathish, sync: bool = False,
                  progress: Optional[Callable[[F.Progress], None]] = None) -> F.TransferResult:
        """Copy `local`, a file or a directory tree, to the absolute path
        `remote`, creating missing parents, keeping modes and mtimes; every
        file checked by its SHA-256 and streamed in chunks. A tree's files
        are put with `remote` as their root, so the daemon refuses any
        name or symbolic link that would lead out of it; links and special
        files inside the local tree are skipped. An interrupted put resumes
        where the daemon's part files end when called again. `progress`
        is called with a Progress after each chunk is acknowledged."""
        entries, tree = await asyncio.to_thread(F.plan_put, local)
        return await self._put_plan(entries, tree, remote, sync, progress)

    async def _put_plan(self, entries: List[F.PutEntry], tree: bool, remote: Pathish, sync: bool,
                        progress) -> F.TransferResult:
        """Send what plan_put found to remote (put's second half, shared by
        the hosts of a group put)."""
        await self._require("file.put")
        target = F.clean_remote(remote)
        root = b""
        if tree:
            self._check_root("put")
            root = target
        res = F.TransferResult()
        t = F.Tracker(progress, sum(1 for e in entries if not e.dir),
                      sum(e.size for e in entries))
        for e in entries:
            path = target if not e.rel else target + b"/" + e.rel
            if e.dir:
                await self.call("file.put", T.PutArgs(path=path, mode=e.mode, mtime=e.mtime,
                                                      mkdirs=True, dir=True, root=root))
                res.dirs += 1
                continue
            with open(os.open(e.local, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as src:
                _, sent = await self._put_one(e, src, path, root, e.size > F.SMALL_FILE, sync, True, t)
            t.file_done()
            res.files, res.bytes, res.sent = res.files + 1, res.bytes + e.size, res.sent + sent
        return res

    def _check_root(self, what):
        cv = self.welcome.cv if self.welcome is not None else 0
        if cv < CAPVER_FILE_ROOT:
            raise Unsupported("%s: the daemon's capability version %d cannot confine a tree (%d needed)"
                              % (what, cv, CAPVER_FILE_ROOT), host=self.host)

    async def _open_get(self, args: T.GetArgs, window: int) -> "_FileGet":
        def hook(res):
            self._subscribing -= 1
            g = None
            if res is not None:
                g = _FileGet(self, res, window)
                self._register(res.x, g)
            if not self._subscribing:  # what is left is for no transfer, e.g. a cancelled one
                self._orphans.clear()
            return g
        self._subscribing += 1
        return await self.call("file.get", args, hook)

    def _cancel_get(self, g: "_FileGet") -> None:
        """Stop a transfer given up before its fileend; its events stop
        after the answer (11.17), which nobody waits for."""
        if self._subs.pop(g.x, None) is None:
            return  # ended, or the connection is gone
        try:
            fut = self._begin("file.get", T.GetArgs(x=g.x))
        except TacetError:
            return
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def get_file(self, remote_path: Pathish, window: Optional[int] = None):
        """(GetResult, bytes, FileEnd) of a remote file (file.get), held in
        memory; the SHA-256 is checked. `get` streams to a local file."""
        await self._require("file.get")
        window = window or DEFAULT_WINDOW
        g = await self._open_get(T.GetArgs(x=0, path=T.as_bytes(remote_path), o=0, credit=window),
                                 window)
        parts = []
        while True:
            rec = await g.next()
            if rec is None or isinstance(rec, T.FileEnd):
                break
            parts.append(rec.d)
        data = b"".join(parts)
        if rec is None or hashlib.sha256(data).digest() != rec.sha:
            raise ProtocolError("file.get %r: SHA-256 mismatch" % (remote_path,), host=self.host)
        return g.res, data, rec

    async def list_files(self, remote: Pathish) -> List[T.FileEntry]:
        """The tree at `remote` (file.get with list): the path itself, then
        its directories and regular files, parents first."""
        await self._require("file.get")
        r = await self.call("file.get", T.GetArgs(path=F.clean_remote(remote), list=True))
        return r.files

    async def get(self, remote: Pathish, local_dir: Pathish, window: int = F.GET_WINDOW,
                  progress: Optional[Callable[[F.Progress], None]] = None) -> F.TransferResult:
        """Copy the file or tree at the absolute path `remote` into
        `local_dir`, under remote's last name, with modes and mtimes, each
        file streamed to disk through a part file and checked by its
        SHA-256. A get resumes from the part file an interrupted one left.
        A listing that names a path leaving the tree is refused before
        anything is fetched; nothing is written outside local_dir, not even
        through a symbolic link already there; a tree's files are read with
        `remote` as their root, so the daemon follows no link out of it.
        `progress` is called with a Progress after each chunk is written."""
        src = F.clean_remote(remote)
        files = await self.list_files(src)
        F.check_listing(files, remote)
        base = posixpath.basename(src)
        if not base:
            raise ValueError("get: %r has no name to copy it under" % (remote,))
        root = b""
        if files and files[0].path == b"" and files[0].dir:
            self._check_root("get")
            root = src
        res = F.TransferResult()
        t = F.Tracker(progress, sum(1 for e in files if not e.dir),
                      sum(e.size for e in files if not e.dir))
        with F.LocalRoot(local_dir) as dst:
            for e in files:
                rel = base if not e.path else base + b"/" + e.path
                if e.dir:
                    os.close(dst.open_dir(rel, create=True))
                    continue
                path = src if not e.path else src + b"/" + e.path
                sent = await self._get_one(path, root, dst, rel, window, t)
                t.file_done()
                res.files, res.bytes, res.sent = res.files + 1, res.bytes + e.size, res.sent + sent
            # Directories last, deepest first, so that their times stay as set.
            for e in reversed(files):
                if e.dir:
                    dst.set_dir(base if not e.path else base + b"/" + e.path, e.mode, e.mtime)
                    res.dirs += 1
        return res

    async def _get_one(self, remote: bytes, root: bytes, dst: F.LocalRoot, rel: bytes,
                       window: int, t: F.Tracker) -> int:
        """Fetch one file into rel beneath dst through its part file,
        continuing after what the part file holds; the bytes received."""
        parent, _, name = rel.rpartition(b"/")
        dfd = dst.open_dir(parent, create=True)
        try:
            part = F.part_name(name)
            fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dfd)
            with open(fd, "r+b") as f:
                h = hashlib.sha256()
                have = await asyncio.get_running_loop().run_in_executor(None, _hash_part, f, h)
                try:
                    g = await self._open_get(T.GetArgs(path=remote, o=have, credit=window, root=root),
                                             window)
                except BadArgs:
                    if have:  # e.g. a part file longer than the file: start again next time
                        os.unlink(part, dir_fd=dfd)
                    raise
                off, recv = have, 0
                t.add(have, 0)
                try:
                    while True:
                        rec = await g.next()
                        if rec is None:
                            raise ProtocolError("file.get %r: the transfer ended without fileend"
                                                % (remote,), host=self.host)
                        if isinstance(rec, T.FileEnd):
                            break
                        if rec.o != off:
                            raise ProtocolError("file.get %r: file event at offset %d, want %d"
                                                % (remote, rec.o, off), host=self.host)
                        # In a worker thread: a slow local disk must not stall
                        # the connection's other work, which runs on this loop.
                        await asyncio.get_running_loop().run_in_executor(None, _write_chunk, f, h, rec.d)
                        off, recv = off + len(rec.d), recv + len(rec.d)
                        t.add(len(rec.d), len(rec.d))
                except BaseException:
                    self._cancel_get(g)
                    raise
                if rec.changed:
                    raise TacetError("file.get %r: the file changed while it was read" % (remote,),
                                     host=self.host)
                if h.digest() != rec.sha or off != g.res.size:
                    f.truncate(0)
                    raise ProtocolError("file.get %r: the bytes received do not match the daemon's "
                                        "SHA-256" % (remote,), host=self.host)
                f.flush()
                os.fchmod(f.fileno(), g.res.mode & 0o7777)
                os.utime(f.fileno(), ns=(g.res.mtime, g.res.mtime))
            os.rename(part, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            return recv
        finally:
            os.close(dfd)

    # -- life ------------------------------------------------------------

    async def close(self):
        """Close the connection; pending calls raise ConnectionLost."""
        if not self._closed.is_set():
            self._dispatch(self._proto.close())
            try:
                self._writer.close()
            except Exception:
                pass
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):
            pass

    async def wait_closed(self):
        """Wait until the connection has ended."""
        await self._closed.wait()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


async def connect(url: str, *, key=None, key_file=None, who: Optional[str] = None,
                  frame_mac: bool = False, require_mac: bool = False,
                  timeout: float = 10.0, name: Optional[str] = None,
                  expect_uid: Optional[int] = None) -> AsyncClient:
    """Dial a daemon and complete the handshake.

    url        tcp://HOST:PORT or unix:///PATH (unix://@NAME: abstract)
    key        32 bytes or 64 hex digits; else key_file, $TACET_KEY_FILE,
               or the default key file (on unix:// a key is optional:
               without one, the daemon's auth "none" is accepted if its
               uid (SO_PEERCRED) is ours, 0, or expect_uid)
    frame_mac  offer frame.mac; require_mac refuses a daemon that does not grant it
    name       label of this host in exceptions and results (default: url)
    """
    addr = parse_url(url)
    label = name or url
    psk = resolve_key(key, key_file, need=addr[0] != "unix")
    loop = asyncio.get_running_loop()
    try:
        if addr[0] == "tcp":
            conn = asyncio.open_connection(addr[1], addr[2], limit=1 << 20)
        else:
            conn = asyncio.open_unix_connection(addr[1], limit=1 << 20)
        reader, writer = await asyncio.wait_for(conn, timeout)
    except (OSError, asyncio.TimeoutError) as e:
        raise ConnectionLost("cannot connect: %s" % (e or "timeout"), host=label) from None
    sock = writer.get_extra_info("socket")
    if addr[0] == "tcp" and sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    allow_none = False
    if addr[0] == "unix" and sock is not None and psk is None:
        cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", cred)
        ok = {os.getuid(), 0} if expect_uid is None else {expect_uid}
        if uid not in ok:
            writer.close()
            raise Unauthenticated("daemon socket is owned by uid %d, not %s" % (uid, sorted(ok)),
                                  host=label)
        allow_none = True
    proto = P.Protocol(psk, who=who or "tacet-python/%d@%s" % (os.getpid(), socket.gethostname()),
                       frame_mac=frame_mac, require_mac=require_mac, allow_none=allow_none,
                       host=label)
    c = AsyncClient(url, proto, reader, writer, label)
    c.connect_opts = dict(key=psk, who=who, frame_mac=frame_mac, require_mac=require_mac,
                          timeout=timeout, name=name, expect_uid=expect_uid)
    try:
        await c._handshake(timeout)
    except asyncio.TimeoutError:
        await c.close()
        raise ConnectionLost("no handshake within %g s" % timeout, host=label) from None
    except BaseException:
        await c.close()
        raise
    return c


# ---------------------------------------------------------------------------
# Following a stream across dropped connections


class AsyncFollower:
    """Stream `stream` of process `h` on the daemon at `url`, followed
    from byte offset `from_` to its end across dropped connections.

    Iterate it (`async for rec in f`) for `Out` and `Gap` records in
    stream order, or `await f.read_all()`. When the connection is lost
    (ConnectionLost: EOF, reset, GOAWAY), the follower dials `url` again
    and subscribes from `offset`, the offset after the last record it
    handed out, so the records it yields have no duplicate and no hole
    (14.2). Records already received before the loss are handed out
    first.

    client    a connection to use first (not closed by the follower);
              later connections are the follower's own and closed by it
    retries   consecutive failures to reconnect and resubscribe, without
              a record in between, before the last ConnectionLost is raised
    backoff   first pause between attempts, seconds, doubled up to max_backoff
    connect_opts  as connect() (key, key_file, timeout, ...)

    `reconnects` counts the connections lost while following and `losses`
    holds their exceptions. Errors other than ConnectionLost (NotFound
    for a released handle, Unauthenticated, ...) are raised at once.
    """

    def __init__(self, url: str, h: int, stream: int = 1, from_: int = 0, *,
                 client: Optional["AsyncClient"] = None, window: Optional[int] = None,
                 retries: int = 8, backoff: float = 0.05, max_backoff: float = 2.0,
                 **connect_opts):
        self.url, self.h, self.stream = url, h, stream
        self.offset = from_
        self.window = window
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self.connect_opts = connect_opts
        self.client: Optional[AsyncClient] = client
        self._borrowed = client
        self._out: Optional[AsyncOutput] = None
        self._failures = 0
        self.reconnects = 0
        self.losses: List[ConnectionLost] = []
        self.gaps: List[T.Gap] = []
        self.eos: Optional[T.Eos] = None
        self._closed = False

    async def _drop(self, err: ConnectionLost):
        self.losses.append(err)
        c, self.client, self._out = self.client, None, None
        if c is not None and c is not self._borrowed:
            await c.close()

    async def _ensure(self):
        while self._out is None:
            try:
                if self.client is None or self.client.closed:
                    self.client = await connect(self.url, **self.connect_opts)
                self._out = await self.client.subscribe(self.h, self.stream, self.offset,
                                                        self.window)
            except ConnectionLost as e:
                await self._drop(e)
                self._failures += 1
                if self._failures > self.retries:
                    raise
                await asyncio.sleep(min(self.backoff * 2 ** (self._failures - 1),
                                        self.max_backoff))

    def __aiter__(self):
        return self

    async def __anext__(self):
        rec = await self.next()
        if rec is None:
            raise StopAsyncIteration
        return rec

    async def next(self):
        """The next Out or Gap record, or None once the stream has ended."""
        while True:
            if self.eos is not None or self._closed:
                return None
            await self._ensure()
            try:
                rec = await self._out.next()
            except ConnectionLost as e:
                self.reconnects += 1
                await self._drop(e)
                continue
            if rec is None:
                self.eos = self._out.eos
                self._out = None
                return None
            if rec.o != self.offset:  # AsyncOutput checks this per subscription
                raise ProtocolError("resubscribed stream resumed at %d, expected %d"
                                    % (rec.o, self.offset), host=self.url)
            self._failures = 0
            self.offset = rec.end
            if isinstance(rec, T.Gap):
                self.gaps.append(rec)
            return rec

    async def read_all(self, on_gap: str = "raise") -> bytes:
        """Every byte from the current offset to the end of the stream. A
        lost range raises OutputGap, or is skipped with on_gap="skip"."""
        parts = []
        while True:
            rec = await self.next()
            if rec is None:
                return b"".join(parts)
            if isinstance(rec, T.Gap):
                if on_gap != "skip":
                    raise OutputGap(host=self.url, start=rec.from_, end=rec.to, why=rec.why)
                continue
            parts.append(rec.d)

    async def close(self):
        """Stop following: unsubscribe, and close the follower's own connection."""
        self._closed = True
        out, c = self._out, self.client
        self._out = self.client = None
        if out is not None:
            try:
                await out.close()
            except TacetError:
                pass
        if c is not None and c is not self._borrowed:
            await c.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


def follow(url: str, h: int, stream: int = 1, from_: int = 0, **opts) -> AsyncFollower:
    """An AsyncFollower of stream `stream` of handle `h` on `url` from
    offset `from_`, which reconnects and resubscribes after a dropped
    connection; options as AsyncFollower and connect()."""
    return AsyncFollower(url, h, stream, from_, **opts)


# ---------------------------------------------------------------------------
# Groups


class GroupError(TacetError):
    """Some hosts of a group failed; `errors` maps host → exception."""

    def __init__(self, errors: Dict[str, BaseException], what: str = ""):
        super().__init__("%s failed on %d host(s): %s" % (
            what or "operation", len(errors), "; ".join(str(e) for e in errors.values())))
        self.errors = errors


class GroupResult(dict):
    """host → result, or host → the exception it raised. `ok` and
    `errors` split them; `raise_on_error()` raises GroupError if any failed."""

    def __init__(self, items=(), what=""):
        super().__init__(items)
        self.what = what

    @property
    def ok(self) -> Dict[str, Any]:
        return {h: v for h, v in self.items() if not isinstance(v, BaseException)}

    @property
    def errors(self) -> Dict[str, BaseException]:
        return {h: v for h, v in self.items() if isinstance(v, BaseException)}

    def raise_on_error(self) -> "GroupResult":
        """Raise GroupError if any host failed; else return self."""
        if self.errors:
            raise GroupError(self.errors, self.what)
        return self


@dataclass
class SyncHost:
    """One host of a synchronized start."""
    host: str
    proc: AsyncProcess
    clock: ClockEstimate
    at: int                     # release instant sent, daemon REALTIME ns
    exit: Optional[T.Exit] = None

    @property
    def exec_real(self) -> int:
        """Exec instant (times.xreal) on the controller's clock, ns."""
        return self.exit.times.xreal - self.clock.offset if self.exit else 0

    @property
    def release_real(self) -> int:
        """Gate opening (times.rreal) on the controller's clock, ns."""
        return self.exit.times.rreal - self.clock.offset if self.exit else 0


@dataclass
class SyncStart:
    """A synchronized start: `target` is the common instant (controller
    REALTIME ns); after `wait()`, each host's exec instant on the
    controller's clock and its lateness `exec_real − target`."""
    target: int
    hosts: Dict[str, SyncHost]

    def lateness(self) -> Dict[str, int]:
        """host → exec instant minus the target, ns (controller clock), after wait()."""
        return {h: s.exec_real - self.target for h, s in self.hosts.items() if s.exit}

    def spread(self) -> int:
        """Largest minus smallest exec instant across hosts, ns."""
        xs = [s.exec_real for s in self.hosts.values() if s.exit]
        return max(xs) - min(xs) if xs else 0

    async def wait(self, timeout: Optional[float] = None) -> GroupResult:
        """Wait for every host's exit record; a GroupResult."""
        async def one(s):
            s.exit = await s.proc.wait(timeout)
            return s.exit
        return await _gather({h: one(s) for h, s in self.hosts.items()}, "wait")


async def _gather(coros: Dict[str, Any], what="") -> GroupResult:
    hosts = list(coros)
    res = await asyncio.gather(*coros.values(), return_exceptions=True)
    for r in res:
        if isinstance(r, (KeyboardInterrupt, SystemExit)):
            raise r
    return GroupResult(zip(hosts, res), what)


class AsyncGroup:
    """Connections to several daemons, with parallel operations that
    return per-host results (GroupResult). A host that failed to connect
    is in `errors` and left out of later operations."""

    def __init__(self, urls: Sequence[str], **connect_opts):
        self.urls = list(urls)
        self.opts = connect_opts
        self.clients: Dict[str, AsyncClient] = {}
        self.errors: Dict[str, BaseException] = {}

    async def connect(self) -> GroupResult:
        """Connect to every URL at once; failures go to `errors`."""
        r = await _gather({u: connect(u, **self.opts) for u in self.urls}, "connect")
        self.clients = r.ok
        self.errors = r.errors
        return r

    def __getitem__(self, host) -> AsyncClient:
        return self.clients[host]

    def __len__(self):
        return len(self.clients)

    def _hosts(self, hosts):
        if hosts is None:
            return self.clients
        missing = [h for h in hosts if h not in self.clients]
        if missing:
            raise KeyError("not connected in this group: %s" % ", ".join(missing))
        return {h: self.clients[h] for h in hosts}

    async def each(self, fn: Callable[[AsyncClient], Any], what="",
                   hosts: Optional[Sequence[str]] = None) -> GroupResult:
        """Run the coroutine fn(client) on every host at once (or on
        `hosts`, a subset of the connected ones)."""
        return await _gather({h: fn(c) for h, c in self._hosts(hosts).items()}, what)

    async def host_info(self) -> GroupResult:
        """host → HostInfo."""
        return await self.each(lambda c: c.host_info(), "host.info")

    async def start(self, argv=None, per_host: Optional[Callable[[str], dict]] = None,
                    hosts: Optional[Sequence[str]] = None, **opts) -> GroupResult:
        """Start the same command everywhere (or on `hosts`), with the
        options of AsyncClient.start; per_host(host) may return extra
        options for one host."""
        def one(c):
            o = dict(opts)
            if per_host:
                o.update(per_host(c.host))
            return c.start(argv, **o)
        return await self.each(one, "proc.start", hosts)

    async def run(self, argv, **opts) -> GroupResult:
        """Run the same command on every host (AsyncClient.run); host → Completed."""
        return await self.each(lambda c: c.run(argv, **opts), "run")

    async def wait(self, procs: Mapping[str, AsyncProcess], timeout=None) -> GroupResult:
        """host → Exit for a mapping host → process."""
        return await _gather({h: p.wait(timeout) for h, p in _live(procs).items()}, "proc.wait")

    async def signal(self, procs: Mapping[str, AsyncProcess], sig=_signal.SIGTERM,
                     tree=False) -> GroupResult:
        """Signal a mapping host → process."""
        return await _gather({h: p.signal(sig, tree) for h, p in _live(procs).items()}, "proc.signal")

    async def put(self, local: Pathish, remote: Union[Pathish, Callable[[str], Pathish]],
                  sync: bool = False, progress: Optional[Callable[[str, F.Progress], None]] = None,
                  hosts: Optional[Sequence[str]] = None) -> GroupResult:
        """Put a local file or tree on every host at once (AsyncClient.put),
        hashed once for all; `remote` is a path, or host → path.
        `progress(host, Progress)`. host → TransferResult. Each host is
        sent the bytes by this controller: the uplink is paid per host."""
        entries, tree = await asyncio.to_thread(F.plan_put, local)

        def one(c):
            cb = (lambda p, u=c.url: progress(u, p)) if progress else None
            return c._put_plan(entries, tree, remote(c.url) if callable(remote) else remote, sync, cb)
        return await self.each(one, "put", hosts)

    async def get(self, remote: Pathish, local_dir: Callable[[str], Pathish],
                  progress: Optional[Callable[[str, F.Progress], None]] = None,
                  hosts: Optional[Sequence[str]] = None) -> GroupResult:
        """Get a remote file or tree from every host at once into
        local_dir(host) (AsyncClient.get). host → TransferResult."""
        def one(c):
            cb = (lambda p, u=c.url: progress(u, p)) if progress else None
            return c.get(remote, local_dir(c.url), progress=cb)
        return await self.each(one, "get", hosts)

    async def clocks(self, n: int = 8, spacing: float = 0.002) -> GroupResult:
        """host → ClockEstimate from a burst of n PINGs."""
        return await self.each(lambda c: c.clock(n, spacing), "ping")

    async def sample_once(self, **kw) -> GroupResult:
        """host → Sample (sample.once with the same arguments)."""
        return await self.each(lambda c: c.sample_once(**kw), "sample.once")

    async def sync_start(self, argv=None, lead: float = 0.5, pings: int = 8,
                         per_host: Optional[Callable[[str], dict]] = None,
                         hosts: Optional[Sequence[str]] = None, **opts) -> SyncStart:
        """Stage the command on every host (or on `hosts`), measure each
        clock offset with `pings` PINGs, then release all at one instant
        `lead` seconds ahead, corrected per host: at = T + θ_host. If a
        host fails to stage, the others are killed before they run and
        GroupError is raised. Other options as AsyncClient.start."""
        opts["stage"] = True
        opts.pop("at", None)
        staged = await self.start(argv, per_host=per_host, hosts=hosts, **opts)
        if staged.errors:
            await _gather({h: p.kill(tree=True) for h, p in staged.ok.items()}, "kill")
            raise GroupError(staged.errors, "staged proc.start")
        clocks = await _gather({h: self.clients[h].clock(pings) for h in staged}, "ping")
        if clocks.errors:
            await _gather({h: p.kill(tree=True) for h, p in staged.items()}, "kill")
            raise GroupError(clocks.errors, "clock estimate")
        target = P.realtime_ns() + _dur(lead)
        hosts = {h: SyncHost(h, p, clocks[h], target + clocks[h].offset) for h, p in staged.items()}
        trig = await _gather({h: s.proc.trigger(s.at) for h, s in hosts.items()}, "proc.trigger")
        if trig.errors:
            await _gather({h: p.kill(tree=True) for h, p in staged.items()}, "kill")
            raise GroupError(trig.errors, "proc.trigger")
        return SyncStart(target, hosts)

    async def close(self):
        """Close every connection."""
        await asyncio.gather(*(c.close() for c in self.clients.values()), return_exceptions=True)

    async def __aenter__(self):
        await self.connect()
        return self

    async def __aexit__(self, *exc):
        await self.close()


def _live(procs):
    return {h: p for h, p in procs.items() if not isinstance(p, BaseException)}
