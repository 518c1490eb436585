# SPDX-License-Identifier: Apache-2.0
"""The blocking client: the asyncio client run on an event loop in a
background thread. Every method submits the matching coroutine to that
loop and waits for its result, so the protocol code exists once (the
sans-I/O core in tacet.protocol, driven by tacet.aio) and blocking
callers may use any number of threads at once.

    import tacet
    with tacet.connect("tcp://127.0.0.1:7340", key_file="key") as c:
        r = c.run(["echo", "hi"])
        print(r.stdout, r.exit.code)
"""

from __future__ import annotations

import asyncio
import io
import signal as _signal
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from . import aio
from . import types as T
from .files import Progress, TransferResult
from .aio import ClockEstimate, Completed, GroupError, GroupResult


class _LoopThread:
    """An asyncio loop running in a daemon thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._users = 1
        self.thread = threading.Thread(target=self._main, name="tacet-loop", daemon=True)
        self.thread.start()

    def _main(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro, timeout: Optional[float] = None):
        if threading.current_thread() is self.thread:
            raise RuntimeError("blocking tacet call from inside its own event loop; use tacet.aio")
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except BaseException:
            fut.cancel()
            raise

    def stop(self):
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


class Output:
    """A subscription to one stream. Iterate it for `Out`/`Gap` records
    as they arrive; `read()`/`read_all()` for bytes; `reader()` for a
    file-like object (io.BufferedReader)."""

    def __init__(self, lt: _LoopThread, a: aio.AsyncOutput):
        self._lt, self._a = lt, a

    sub = property(lambda self: self._a.sub)
    start = property(lambda self: self._a.start)
    offset = property(lambda self: self._a.offset)
    gaps = property(lambda self: self._a.gaps)
    eos = property(lambda self: self._a.eos)
    done = property(lambda self: self._a.done)

    def __iter__(self):
        return self

    def __next__(self):
        rec = self._lt.run(self._a.next())
        if rec is None:
            raise StopIteration
        return rec

    def read(self, n: int = -1, on_gap: str = "raise") -> bytes:
        """Up to n bytes (all to the end when n < 0); b"" at the end; a lost range raises OutputGap unless on_gap="skip"."""
        return self._lt.run(self._a.read(n, on_gap))

    def read_all(self, on_gap: str = "raise") -> bytes:
        """Every byte to the end of the stream."""
        return self._lt.run(self._a.read_all(on_gap))

    def reader(self, on_gap: str = "raise") -> io.BufferedReader:
        """A file-like reader (io.BufferedReader) over the stream."""
        return io.BufferedReader(_Raw(self, on_gap), buffer_size=65536)

    def close(self):
        """End the subscription (out.unsubscribe)."""
        self._lt.run(self._a.close())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Raw(io.RawIOBase):
    def __init__(self, out: Output, on_gap):
        self._out, self._on_gap = out, on_gap

    def readable(self):
        return True

    def readinto(self, b):
        data = self._out.read(len(b), self._on_gap)
        b[:len(data)] = data
        return len(data)


class Follower:
    """Blocking view of aio.AsyncFollower: a stream followed to its end
    across dropped connections, with no duplicate and no hole. Iterate it
    for Out/Gap records; `read_all()` for bytes; `offset`, `reconnects`,
    `losses`, `gaps`, `eos` as AsyncFollower."""

    def __init__(self, lt: _LoopThread, a: aio.AsyncFollower, owns_loop: bool = False):
        self._lt, self._a, self._owns = lt, a, owns_loop

    offset = property(lambda self: self._a.offset)
    reconnects = property(lambda self: self._a.reconnects)
    losses = property(lambda self: self._a.losses)
    gaps = property(lambda self: self._a.gaps)
    eos = property(lambda self: self._a.eos)
    aio = property(lambda self: self._a)

    @property
    def client(self) -> Optional[aio.AsyncClient]:
        """The asyncio connection in use now (None between connections)."""
        return self._a.client

    def __iter__(self):
        return self

    def __next__(self):
        rec = self._lt.run(self._a.next())
        if rec is None:
            raise StopIteration
        return rec

    def read_all(self, on_gap: str = "raise") -> bytes:
        """Every byte from the current offset to the end of the stream, across reconnects."""
        return self._lt.run(self._a.read_all(on_gap))

    def close(self):
        """Stop following; close the follower's own connections."""
        if self._lt.loop.is_closed():
            return
        try:
            self._lt.run(self._a.close(), 10)
        finally:
            if self._owns:
                self._lt.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def follow(url: str, h: int, stream: int = 1, from_: int = 0, **opts) -> Follower:
    """Follow stream `stream` of handle `h` on the daemon at `url` from
    byte offset `from_` to its end, reconnecting and resubscribing from the
    last offset whenever the connection drops.

        with tacet.follow(url, h, 1, key_file="key") as f:
            for rec in f:              # Out / Gap, no duplicate, no hole
                sink.write(rec.d)

    Options: those of connect() (key, key_file, timeout, ...) and of
    aio.AsyncFollower (window, retries, backoff, max_backoff)."""
    lt = _LoopThread()
    return Follower(lt, aio.AsyncFollower(url, h, stream, from_, **opts), owns_loop=True)


class Samples:
    """A sample subscription: iterate it for Sample records until close().

    `sub` and `period` (ns, after the daemon's rounding) as SampleSubResult."""

    def __init__(self, lt, a: aio.AsyncSamples):
        self._lt, self._a = lt, a
        self.sub, self.period = a.sub, a.period

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return self._lt.run(self._a.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self):
        """End the subscription (sample.unsubscribe); iteration then stops."""
        self._lt.run(self._a.close())


class Process:
    """A process on one daemon (blocking). Attributes as AsyncProcess:
    h, pid, state, exit, failed, host."""

    def __init__(self, lt: _LoopThread, a: aio.AsyncProcess):
        self._lt, self._a = lt, a

    h = property(lambda self: self._a.h)
    pid = property(lambda self: self._a.pid)
    state = property(lambda self: self._a.state)
    new = property(lambda self: self._a.new)
    exit = property(lambda self: self._a.exit)
    failed = property(lambda self: self._a.failed)
    host = property(lambda self: self._a.host)
    streams = property(lambda self: self._a.streams)
    aio = property(lambda self: self._a)

    def __repr__(self):
        return "<Process %s h=%#x pid=%d %s>" % (self.host, self.h, self.pid, self.state)

    def wait(self, timeout: Optional[float] = None) -> T.Exit:
        """The Exit record (proc.wait), waiting at most `timeout` s; SpawnFailed for a staged start that failed after release."""
        return self._lt.run(self._a.wait(timeout))

    def signal(self, sig: int = _signal.SIGTERM, tree: bool = False, at: int = 0) -> None:
        """Send `sig` to the process, or with `tree` to its whole tree; `at`: at that REALTIME instant (daemon clock, ns)."""
        self._lt.run(self._a.signal(sig, tree, at))

    def terminate(self, tree: bool = True):
        """SIGTERM, by default to the whole tree."""
        self.signal(_signal.SIGTERM, tree)

    def kill(self, tree: bool = True):
        """SIGKILL, by default to the whole tree."""
        self.signal(_signal.SIGKILL, tree)

    def write(self, data: bytes, eof: bool = False) -> None:
        """Write bytes to stdin (stdin="pipe" or a terminal); `eof` closes it after them."""
        self._lt.run(self._a.write(data, eof))

    def close_stdin(self) -> None:
        """Close stdin."""
        self._lt.run(self._a.close_stdin())

    def resize(self, rows: int, cols: int) -> None:
        """Set the terminal's size (proc.resize)."""
        self._lt.run(self._a.resize(rows, cols))

    def freeze(self) -> None:
        """Stop the process's cgroup (proc.freeze; cgroup v2)."""
        self._lt.run(self._a.freeze())

    def thaw(self) -> None:
        """Let a frozen process run again."""
        self._lt.run(self._a.thaw())

    def trigger(self, at: int = 0) -> None:
        """Release this staged process now, or at REALTIME `at` (daemon clock, ns)."""
        self._lt.run(self._a.trigger(at))

    def status(self) -> T.ProcInfo:
        """The ProcInfo record (proc.status)."""
        return self._lt.run(self._a.status())

    def release(self) -> None:
        """Forget the process and its output (proc.release)."""
        self._lt.run(self._a.release())

    def collect(self) -> T.CollectResult:
        """Files kept at the reap (proc.collect): CollectResult, one Collected per `collect=` path."""
        return self._lt.run(self._a.collect())

    def output(self, stream: int = 1, from_: int = 0, window: Optional[int] = None) -> Output:
        """Subscribe to a stream (1 stdout, 2 stderr, 3 terminal) from offset `from_`: an Output."""
        return Output(self._lt, self._lt.run(self._a.output(stream, from_, window)))

    def follow(self, stream: int = 1, from_: int = 0, **opts) -> Follower:
        """Follow a stream to its end over this connection, then over new
        ones if it drops (aio.AsyncProcess.follow); no duplicate, no hole."""
        return Follower(self._lt, self._a.follow(stream, from_, **opts))

    def read(self, stream: int = 1, offset: int = 0, max: int = 0) -> T.ReadResult:
        """One out.read: up to `max` bytes (0: 256 KiB) at `offset`."""
        return self._lt.run(self._a.read(stream, offset, max))

    def read_output(self, stream: int = 1, offset: int = 0, on_gap: str = "raise") -> bytes:
        """Every retained byte of a stream from `offset` by out.read (after the exit: all of it)."""
        return self._lt.run(self._a.read_output(stream, offset, on_gap))


class Client:
    """One connection to one daemon (blocking). Made by tacet.connect()."""

    def __init__(self, lt: _LoopThread, a: aio.AsyncClient, owns_loop: bool):
        self._lt, self._a, self._owns = lt, a, owns_loop

    host = property(lambda self: self._a.host)
    url = property(lambda self: self._a.url)
    welcome = property(lambda self: self._a.welcome)
    mac = property(lambda self: self._a.mac)
    closed = property(lambda self: self._a.closed)
    aio = property(lambda self: self._a)

    def _run(self, coro, timeout=None):
        return self._lt.run(coro, timeout)

    def call(self, method: str, args=None):
        """A raw request: args is a record of tacet.types (or a dict)."""
        return self._run(self._a.call(method, args))

    def host_info(self, refresh: bool = False) -> T.HostInfo:
        """The daemon's HostInfo (host.info), cached unless `refresh`."""
        return self._run(self._a.host_info(refresh))

    def methods(self) -> List[str]:
        """The methods this daemon serves (host.info `methods`)."""
        return self._run(self._a.methods())

    def ping(self):
        """One PING/PONG: a PongEvent with `.offset` (θ) and `.delay` (δ), ns."""
        return self._run(self._a.ping())

    def clock(self, n: int = 8, spacing: float = 0.002) -> ClockEstimate:
        """ClockEstimate of the daemon's clock from n PINGs (the one of smallest delay)."""
        return self._run(self._a.clock(n, spacing))

    def start(self, argv=None, **opts) -> Process:
        """Start a process (proc.start); options as tacet.aio.build_start_args. A Process."""
        return Process(self._lt, self._run(self._a.start(argv, **opts)))

    def process(self, h: int, streams=(1, 2)) -> Process:
        """A Process for an existing handle `h`."""
        return Process(self._lt, self._a.process(h, streams))

    def run(self, argv, input: Optional[bytes] = None, wait_timeout: Optional[float] = None,
            **opts) -> Completed:
        """Start, feed `input`, collect stdout and stderr, wait: Completed(exit, stdout, stderr)."""
        return self._run(self._a.run(argv, input=input, wait_timeout=wait_timeout, **opts))

    def trigger(self, handles, at: int = 0) -> None:
        """Release staged processes `handles` now, or at REALTIME `at` (daemon clock, ns)."""
        self._run(self._a.trigger(handles, at))

    def status(self, h: int) -> T.ProcInfo:
        """ProcInfo of handle `h`."""
        return self._run(self._a.status(h))

    def list(self) -> List[T.ProcInfo]:
        """ProcInfo of every process the daemon holds."""
        return self._run(self._a.list())

    def sample_once(self, **kw) -> T.Sample:
        """One Sample now (sample.once): src=, h=, pids=, dev=."""
        return self._run(self._a.sample_once(**kw))

    def sample_subscribe(self, period: float, **kw) -> Samples:
        """A Samples iterator: one Sample every `period` seconds (sample.subscribe); src=, h=, pids=, dev=."""
        return Samples(self._lt, self._run(self._a.sample_subscribe(period, **kw)))

    def put_file(self, data_or_path, remote_path, **kw) -> T.PutResult:
        """Copy bytes or a local file to `remote_path` (file.put), streamed in
        chunks; mode=, mtime=, resume=, sync=, mkdirs=, root=. PutResult."""
        return self._run(self._a.put_file(data_or_path, remote_path, **kw))

    def get_file(self, remote_path, **kw):
        """(GetResult, bytes, FileEnd) of a remote file (file.get), in memory, SHA-256 checked."""
        return self._run(self._a.get_file(remote_path, **kw))

    def put(self, local, remote, **kw) -> TransferResult:
        """Copy a local file or tree to the absolute path `remote`, confined
        beneath it, modes and mtimes kept, resumable; sync=. TransferResult."""
        return self._run(self._a.put(local, remote, **kw))

    def get(self, remote, local_dir, **kw) -> TransferResult:
        """Copy the remote file or tree at `remote` into `local_dir` under its
        last name, streamed, resumable, written only beneath local_dir. TransferResult."""
        return self._run(self._a.get(remote, local_dir, **kw))

    def list_files(self, remote) -> List[T.FileEntry]:
        """The tree at `remote` (file.get with list), parents first."""
        return self._run(self._a.list_files(remote))

    def close(self):
        """Close the connection (and its event loop thread)."""
        if not self._lt.loop.is_closed():
            try:
                self._run(self._a.close(), 10)
            finally:
                if self._owns:
                    self._lt.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(url: str, **opts) -> Client:
    """Connect to one daemon; options as tacet.aio.connect (key, key_file,
    who, frame_mac, require_mac, timeout, name, expect_uid)."""
    lt = _LoopThread()
    try:
        a = lt.run(aio.connect(url, **opts))
    except BaseException:
        lt.stop()
        raise
    return Client(lt, a, owns_loop=True)


class SyncStart:
    """Blocking view of aio.SyncStart: target, hosts, lateness(), spread(), wait()."""

    def __init__(self, lt, a: aio.SyncStart):
        self._lt, self._a = lt, a

    target = property(lambda self: self._a.target)
    hosts = property(lambda self: self._a.hosts)

    def lateness(self) -> Dict[str, int]:
        """host → exec instant minus the target, ns (controller clock), after wait()."""
        return self._a.lateness()

    def spread(self) -> int:
        """Largest minus smallest exec instant across hosts, ns."""
        return self._a.spread()

    def processes(self) -> Dict[str, Process]:
        """host → Process."""
        return {h: Process(self._lt, s.proc) for h, s in self._a.hosts.items()}

    def wait(self, timeout: Optional[float] = None) -> GroupResult:
        """Wait for every host's exit; host → Exit (GroupResult)."""
        return self._lt.run(self._a.wait(timeout))


class Group:
    """Several daemons (blocking), one event loop thread for all of them.
    Operations run on all hosts in parallel and return GroupResult
    (host → result or exception)."""

    def __init__(self, urls: Sequence[str], **connect_opts):
        self._lt = _LoopThread()
        self._a = aio.AsyncGroup(urls, **connect_opts)
        try:
            self._lt.run(self._a.connect())
        except BaseException:
            self._lt.stop()
            raise
        self.clients = {h: Client(self._lt, c, owns_loop=False) for h, c in self._a.clients.items()}

    errors = property(lambda self: self._a.errors)
    hosts = property(lambda self: list(self._a.clients))

    def __getitem__(self, host) -> Client:
        return self.clients[host]

    def __len__(self):
        return len(self.clients)

    def _wrap(self, r: GroupResult) -> GroupResult:
        return GroupResult({h: Process(self._lt, v) if isinstance(v, aio.AsyncProcess) else v
                            for h, v in r.items()}, r.what)

    def each(self, fn: Callable[[aio.AsyncClient], Any], what="", hosts=None) -> GroupResult:
        """fn(async_client) → coroutine, run on every host (or `hosts`) at once."""
        return self._wrap(self._lt.run(self._a.each(fn, what, hosts)))

    def host_info(self) -> GroupResult:
        """host → HostInfo."""
        return self._lt.run(self._a.host_info())

    def start(self, argv=None, per_host=None, hosts=None, **opts) -> GroupResult:
        """Start the same command on every host (or `hosts`); host → Process."""
        return self._wrap(self._lt.run(self._a.start(argv, per_host=per_host, hosts=hosts, **opts)))

    def run(self, argv, **opts) -> GroupResult:
        """Run the same command on every host; host → Completed."""
        return self._lt.run(self._a.run(argv, **opts))

    def wait(self, procs: Mapping[str, Process], timeout=None) -> GroupResult:
        """host → Exit for a mapping host → Process."""
        return self._lt.run(self._a.wait(_unwrap(procs), timeout))

    def signal(self, procs: Mapping[str, Process], sig=_signal.SIGTERM, tree=False) -> GroupResult:
        """Signal a mapping host → Process."""
        return self._lt.run(self._a.signal(_unwrap(procs), sig, tree))

    def put(self, local, remote, **kw) -> GroupResult:
        """Put a local file or tree on every host, hashed once; remote is a
        path or host → path; sync=, progress=(host, Progress), hosts=. host → TransferResult."""
        return self._lt.run(self._a.put(local, remote, **kw))

    def get(self, remote, local_dir, **kw) -> GroupResult:
        """Get a remote file or tree from every host into local_dir(host);
        progress=, hosts=. host → TransferResult."""
        return self._lt.run(self._a.get(remote, local_dir, **kw))

    def clocks(self, n: int = 8, spacing: float = 0.002) -> GroupResult:
        """host → ClockEstimate."""
        return self._lt.run(self._a.clocks(n, spacing))

    def sample_once(self, **kw) -> GroupResult:
        """host → Sample."""
        return self._lt.run(self._a.sample_once(**kw))

    def sync_start(self, argv=None, lead: float = 0.5, pings: int = 8, per_host=None,
                   hosts=None, **opts) -> SyncStart:
        """Stage on every host (or `hosts`), then release all at one instant
        `lead` s ahead, corrected by each host's clock offset (aio.AsyncGroup.sync_start)."""
        return SyncStart(self._lt, self._lt.run(
            self._a.sync_start(argv, lead=lead, pings=pings, per_host=per_host, hosts=hosts,
                               **opts)))

    def close(self):
        """Close every connection."""
        if not self._lt.loop.is_closed():
            try:
                self._lt.run(self._a.close(), 10)
            finally:
                self._lt.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _unwrap(procs):
    return {h: (p._a if isinstance(p, Process) else p) for h, p in procs.items()
            if not isinstance(p, BaseException)}
