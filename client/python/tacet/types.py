# SPDX-License-Identifier: Apache-2.0
"""The records of protocol v1 (spec/PROTOCOL.md) as plain dataclasses.

Every record knows its wire keys, their order (the order of the spec's
table, which is the canonical encoding of section 6) and their types.
`to_wire` turns a record into the dict that msgpack encodes canonically;
`from_wire` builds a record from a decoded map, with the zero value for a
missing key and unknown keys skipped (section 7).

Field names are the wire keys, except where Python forbids them: `from`
is `from_`, the sample's `self` is `cost`, and `len` (an array of
lengths or a length) is kept as `len`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .errors import ProtocolError

# Field kinds.
U = "u"  # unsigned integer
I = "i"  # signed integer
S = "s"  # str
B = "b"  # bin
Q = "?"  # bool
F = "f"  # float64

_ZERO = {U: 0, I: 0, S: "", B: b"", Q: False, F: 0.0}


def _f(kind, wire=None):
    """A scalar field of `kind`, zero by default."""
    return field(default=_ZERO[kind], metadata={"k": kind, "w": wire})


def _l(kind, wire=None):
    """An array field whose elements are `kind` (a kind or a record class)."""
    return field(default_factory=list, metadata={"k": ("L", kind), "w": wire})


def _r(cls, wire=None):
    """A nested record field."""
    return field(default_factory=cls, metadata={"k": ("R", cls), "w": wire})


def _local(default=None):
    """A field that is not on the wire (filled in by the client)."""
    return field(default=default, compare=False, metadata={"local": True})


_SPECS: Dict[type, List[Tuple[str, str, Any]]] = {}


def _spec(cls):
    s = _SPECS.get(cls)
    if s is None:
        s = []
        for f in dataclasses.fields(cls):
            if f.metadata.get("local"):
                continue
            s.append((f.name, f.metadata.get("w") or f.name, f.metadata["k"]))
        _SPECS[cls] = s
    return s


def as_bytes(v) -> bytes:
    """OS bytes for a bin field: bytes as they are, str through os.fsencode."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, (str, os.PathLike)):
        return os.fsencode(v)
    raise TypeError("expected bytes or str, got %s" % type(v).__name__)


def _enc(kind, v):
    if isinstance(kind, tuple):
        tag, sub = kind
        if tag == "R":
            return to_wire(v if v is not None else sub())
        return [_enc(sub, x) if not isinstance(sub, type) else to_wire(x) for x in (v or ())]
    if kind == B:
        return as_bytes(v)
    if kind == S:
        if not isinstance(v, str):
            raise TypeError("expected str, got %s" % type(v).__name__)
        return v
    if kind == Q:
        return bool(v)
    if kind == F:
        return float(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("expected int, got %s" % type(v).__name__)
    if kind == U and v < 0:
        raise ValueError("negative value %d for an unsigned field" % v)
    return v


def to_wire(rec) -> dict:
    """The canonical map of a record: every key, in table order."""
    out = {}
    for attr, wire, kind in _spec(type(rec)):
        try:
            out[wire] = _enc(kind, getattr(rec, attr))
        except (TypeError, ValueError) as e:
            raise type(e)("%s.%s: %s" % (type(rec).__name__, attr, e)) from None
    return out


def _dec(kind, v, where):
    if isinstance(kind, tuple):
        tag, sub = kind
        if tag == "R":
            return from_wire(sub, v, where)
        if not isinstance(v, list):
            raise ProtocolError("%s: expected an array" % where)
        if isinstance(sub, type):
            return [from_wire(sub, x, where) for x in v]
        return [_dec(sub, x, where) for x in v]
    if kind in (U, I):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ProtocolError("%s: expected an integer, got %s" % (where, type(v).__name__))
        return v
    if kind == S:
        if not isinstance(v, str):
            raise ProtocolError("%s: expected str, got %s" % (where, type(v).__name__))
        return v
    if kind == B:
        if not isinstance(v, bytes):
            raise ProtocolError("%s: expected bin, got %s" % (where, type(v).__name__))
        return v
    if kind == Q:
        if not isinstance(v, bool):
            raise ProtocolError("%s: expected bool, got %s" % (where, type(v).__name__))
        return v
    if kind == F:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ProtocolError("%s: expected float64, got %s" % (where, type(v).__name__))
        return float(v)
    raise AssertionError(kind)


def from_wire(cls, d, where=None):
    """A record of class cls from a decoded map; missing keys are zero,
    unknown keys are skipped, a value of the wrong type is ProtocolError."""
    where = where or cls.__name__
    if d is None:
        return cls()
    if not isinstance(d, dict):
        raise ProtocolError("%s: expected a map, got %s" % (where, type(d).__name__))
    kw = {}
    for attr, wire, kind in _spec(cls):
        v = d.get(wire)
        if v is None:
            continue
        kw[attr] = _dec(kind, v, where + "." + wire)
    return cls(**kw)


# ---------------------------------------------------------------------------
# Errors (section 15)


@dataclass
class ErrorDetail:
    step: str = _f(S)
    errno: int = _f(U)
    sys: str = _f(S)
    field: str = _f(S)
    limit: int = _f(U)


@dataclass
class WireError:
    c: int = _f(U)
    n: str = _f(S)
    m: str = _f(S)
    t: bool = _f(Q)
    d: ErrorDetail = _r(ErrorDetail)


@dataclass
class Goaway:
    e: WireError = _r(WireError)
    last: int = _f(U)


# ---------------------------------------------------------------------------
# Handshake (section 8)


@dataclass
class Hello:
    pv: List[int] = _l(U)
    cv: int = _f(U)
    caps: List[str] = _l(S)
    who: str = _f(S)
    cn: bytes = _f(B)
    kid: str = _f(S)


@dataclass
class Welcome:
    pv: int = _f(U)
    cv: int = _f(U)
    caps: List[str] = _l(S)
    auth: str = _f(S)
    inst: bytes = _f(B)
    boot: str = _f(S)
    ver: str = _f(S)
    host: str = _f(S)
    sn: bytes = _f(B)
    maxf: int = _f(U)
    real: int = _f(U)
    mono: int = _f(U)


@dataclass
class Auth:
    cp: bytes = _f(B)


@dataclass
class Ready:
    sp: bytes = _f(B)


# ---------------------------------------------------------------------------
# host.info (11.3)


@dataclass
class ClockInfo:
    src: str = _f(S)
    synced: bool = _f(Q)
    esterr: int = _f(U)
    maxerr: int = _f(U)


@dataclass
class HostInfo:
    ver: str = _f(S)
    rev: str = _f(S)
    inst: bytes = _f(B)
    boot: str = _f(S)
    host: str = _f(S)
    kernel: str = _f(S)
    cpumodel: str = _f(S)
    ncpu: int = _f(U)
    numa: int = _f(U)
    mem: int = _f(U)
    pid: int = _f(U)
    uid: int = _f(U)
    contain: str = _f(S)
    cgver: int = _f(U)
    cgctl: List[str] = _l(S)
    psi: bool = _f(Q)
    clock: ClockInfo = _r(ClockInfo)
    real: int = _f(U)
    mono: int = _f(U)
    methods: List[str] = _l(S)
    exe: bytes = _f(B)  # the daemon's own binary (a chain put's relay); empty if unknown


# ---------------------------------------------------------------------------
# proc.start (11.4)


@dataclass
class EnvSpec:
    """`mode` "" / "inherit" or "clear"; `set` "KEY=VALUE" entries; `unset` keys."""

    mode: str = _f(S)
    set: List[bytes] = _l(B)
    unset: List[bytes] = _l(B)


@dataclass
class StdinSpec:
    """`mode` "" / "none" (/dev/null), "pipe" (proc.stdin) or "file" (`path`)."""

    mode: str = _f(S)
    path: bytes = _f(B)


@dataclass
class OutSpec:
    pty: bool = _f(Q)
    rows: int = _f(U)
    cols: int = _f(U)
    memonly: bool = _f(Q)


@dataclass
class Rlimit:
    """A resource limit; `r` is the RLIMIT_ name in lower case ("nofile")."""

    r: str = _f(S)
    soft: int = _f(U)
    hard: int = _f(U)


RLIM_INFINITY = (1 << 64) - 1


@dataclass
class CgroupSpec:
    memmax: int = _f(U)
    cpuquota: int = _f(U)
    cpuperiod: int = _f(U)


@dataclass
class StartArgs:
    """Every option of proc.start, as on the wire (ns, REALTIME for `at`)."""

    argv: List[bytes] = _l(B)
    env: EnvSpec = _r(EnvSpec)
    cwd: bytes = _f(B)
    stdin: StdinSpec = _r(StdinSpec)
    out: OutSpec = _r(OutSpec)
    user: str = _f(S)
    group: str = _f(S)
    rlim: List[Rlimit] = _l(Rlimit)
    cpus: List[int] = _l(U)
    nice: int = _f(I)
    hasnice: bool = _f(Q)
    pg: str = _f(S)
    cg: CgroupSpec = _r(CgroupSpec)
    timeout: int = _f(U)
    grace: int = _f(U)
    tag: str = _f(S)
    stage: bool = _f(Q)
    at: int = _f(U)
    lease: int = _f(U)
    collect: List[bytes] = _l(B)


@dataclass
class StartResult:
    h: int = _f(U)
    pid: int = _f(U)
    new: bool = _f(Q)
    state: str = _f(S)


# ---------------------------------------------------------------------------
# Other arguments


@dataclass
class TriggerArgs:
    h: List[int] = _l(U)
    at: int = _f(U)


@dataclass
class SignalArgs:
    h: int = _f(U)
    sig: int = _f(U)
    tree: bool = _f(Q)
    at: int = _f(U)


@dataclass
class SignalResult:
    """When the daemon sent the signal (REALTIME and MONO ns)."""
    real: int = _f(U)
    mono: int = _f(U)


@dataclass
class FreezeArgs:
    h: int = _f(U)
    thaw: bool = _f(Q)


@dataclass
class StdinArgs:
    h: int = _f(U)
    d: bytes = _f(B)
    eof: bool = _f(Q)


@dataclass
class ResizeArgs:
    h: int = _f(U)
    rows: int = _f(U)
    cols: int = _f(U)


@dataclass
class HandleArgs:
    h: int = _f(U)


@dataclass
class NoArgs:
    pass


@dataclass
class SubscribeArgs:
    h: int = _f(U)
    s: int = _f(U)
    from_: int = _f(U, "from")
    credit: int = _f(U)


@dataclass
class UnsubscribeArgs:
    sub: int = _f(U)


@dataclass
class ReadArgs:
    h: int = _f(U)
    s: int = _f(U)
    o: int = _f(U)
    max: int = _f(U)


@dataclass
class SampleArgs:
    src: List[str] = _l(S)
    h: List[int] = _l(U)
    pids: List[int] = _l(U)
    dev: List[bytes] = _l(B)
    period: int = _f(U)


@dataclass
class PutArgs:
    x: int = _f(U)
    path: bytes = _f(B)
    size: int = _f(U)
    sha: bytes = _f(B)
    mode: int = _f(U)
    mtime: int = _f(U)
    resume: bool = _f(Q)
    sync: bool = _f(Q)
    o: int = _f(U)
    d: bytes = _f(B)
    abort: bool = _f(Q)
    mkdirs: bool = _f(Q)
    dir: bool = _f(Q)
    root: bytes = _f(B)


@dataclass
class GetArgs:
    x: int = _f(U)
    path: bytes = _f(B)
    o: int = _f(U)
    credit: int = _f(U)
    list: bool = _f(Q)
    root: bytes = _f(B)


@dataclass
class Credit:
    b: int = _f(U)


@dataclass
class Ping:
    t1: int = _f(U)


@dataclass
class Pong:
    t1: int = _f(U)
    t2: int = _f(U)
    t3: int = _f(U)
    m2: int = _f(U)
    m3: int = _f(U)


# ---------------------------------------------------------------------------
# Exit records (12.3, 12.4)


@dataclass
class Rusage:
    """wait4(2) usage; times in ns, maxrss in KiB."""

    utime: int = _f(U)
    stime: int = _f(U)
    maxrss: int = _f(U)
    minflt: int = _f(U)
    majflt: int = _f(U)
    inblock: int = _f(U)
    oublock: int = _f(U)
    nvcsw: int = _f(U)
    nivcsw: int = _f(U)


@dataclass
class CgUsage:
    valid: bool = _f(Q)
    utime: int = _f(U)
    stime: int = _f(U)
    mempeak: int = _f(U)
    oomkill: int = _f(U)


@dataclass
class Times:
    """Instants of a process's life in both clocks of the daemon's machine
    (ns; REALTIME `*real`, MONO `*mono`; 0: did not happen): s = start
    accepted, r = release woke up (staged), x = just before execve (staged:
    just after the release), e = reap."""

    sreal: int = _f(U)
    smono: int = _f(U)
    rreal: int = _f(U)
    rmono: int = _f(U)
    xreal: int = _f(U)
    xmono: int = _f(U)
    ereal: int = _f(U)
    emono: int = _f(U)


@dataclass
class Exit:
    """The exit record. `code` when `sig` is 0, else the signal; see
    `returncode` for subprocess's convention (negative signal)."""

    k: str = field(default="", repr=False, metadata={"k": S, "w": None})
    h: int = _f(U)
    pid: int = _f(U)
    code: int = _f(U)
    sig: int = _f(U)
    core: bool = _f(Q)
    unknown: bool = _f(Q)
    why: str = _f(S)
    ru: Rusage = _r(Rusage)
    cgru: CgUsage = _r(CgUsage)
    times: Times = _r(Times)
    len: List[int] = _l(U)
    open: bool = _f(Q)
    host: Optional[str] = _local()

    @property
    def returncode(self) -> int:
        return -self.sig if self.sig else self.code

    @property
    def ok(self) -> bool:
        return self.sig == 0 and self.code == 0 and not self.unknown


@dataclass
class Failed:
    k: str = field(default="", repr=False, metadata={"k": S, "w": None})
    h: int = _f(U)
    step: str = _f(S)
    errno: int = _f(U)
    sys: str = _f(S)
    real: int = _f(U)
    mono: int = _f(U)
    host: Optional[str] = _local()


@dataclass
class State:
    k: str = field(default="", repr=False, metadata={"k": S, "w": None})
    h: int = _f(U)
    pid: int = _f(U)
    state: str = _f(S)
    real: int = _f(U)
    mono: int = _f(U)
    host: Optional[str] = _local()


@dataclass
class ProcInfo:
    h: int = _f(U)
    pid: int = _f(U)
    tag: str = _f(S)
    state: str = _f(S)
    argv: List[bytes] = _l(B)
    real: int = _f(U)
    mono: int = _f(U)
    len: List[int] = _l(U)
    exit: Exit = _r(Exit)
    fail: Failed = _r(Failed)


@dataclass
class ListResult:
    procs: List[ProcInfo] = _l(ProcInfo)


@dataclass
class Collected:
    path: bytes = _f(B)
    kept: bytes = _f(B)
    size: int = _f(U)
    sha: bytes = _f(B)
    mode: int = _f(U)
    mtime: int = _f(U)
    errno: int = _f(U)
    sys: str = _f(S)


@dataclass
class CollectResult:
    files: List[Collected] = _l(Collected)


# ---------------------------------------------------------------------------
# Output (11.14, 12.6)


@dataclass
class SubscribeResult:
    sub: int = _f(U)
    start: int = _f(U)
    len: int = _f(U)


@dataclass
class ReadResult:
    o: int = _f(U)
    d: bytes = _f(B)
    len: int = _f(U)
    eof: bool = _f(Q)
    gapto: int = _f(U)
    why: str = _f(S)


@dataclass
class Out:
    """Bytes `d` of stream `s` at offset `o`; `t` MONO ns of the daemon's read."""

    k: str = field(default="", repr=False, metadata={"k": S, "w": None})
    h: int = _f(U)
    s: int = _f(U)
    o: int = _f(U)
    t: int = _f(U)
    d: bytes = _f(B)

    @property
    def end(self) -> int:
        return self.o + len(self.d)


@dataclass
class Gap:
    """Bytes [from_, to) of stream `s` are lost; `why` says why (14.4)."""

    k: str = field(default="", repr=False, metadata={"k": S, "w": None})
    h: int = _f(U)
    s: int = _f(U)
    from_: int = _f(U, "from")
    to: int = _f(U)
    why: str = _f(S)

    @property
    def o(self) -> int:
        return self.from_

    @property
    def end(self) -> int:
        return self.to


@dataclass
class Eos:
    k: str = field(default="", repr=False, metadata={"k": S, "w": None})
    h: int = _f(U)
    s: int = _f(U)
    len: int = _f(U)


# ---------------------------------------------------------------------------
# Samples (11.15, 12.5)


@dataclass
class Cost:
    utime: int = _f(U)
    stime: int = _f(U)
    nvcsw: int = _f(U)
    nivcsw: int = _f(U)
    rss: int = _f(U)
    threads: int = _f(U)


@dataclass
class CPU:
    name: str = _f(S)
    user: int = _f(U)
    nice: int = _f(U)
    system: int = _f(U)
    idle: int = _f(U)
    iowait: int = _f(U)
    irq: int = _f(U)
    softirq: int = _f(U)
    steal: int = _f(U)


@dataclass
class Mem:
    total: int = _f(U)
    free: int = _f(U)
    avail: int = _f(U)
    buffers: int = _f(U)
    cached: int = _f(U)
    shmem: int = _f(U)
    slab: int = _f(U)
    dirty: int = _f(U)
    writeback: int = _f(U)
    swaptotal: int = _f(U)
    swapfree: int = _f(U)


@dataclass
class Load:
    avg1: float = _f(F)
    avg5: float = _f(F)
    avg15: float = _f(F)
    threads: int = _f(U)
    running: int = _f(U)
    blocked: int = _f(U)
    ctxt: int = _f(U)
    forks: int = _f(U)


@dataclass
class PSI:
    res: str = _f(S)
    some10: float = _f(F)
    some60: float = _f(F)
    some300: float = _f(F)
    some: int = _f(U)
    full10: float = _f(F)
    full60: float = _f(F)
    full300: float = _f(F)
    full: int = _f(U)


@dataclass
class Net:
    dev: bytes = _f(B)
    rxbytes: int = _f(U)
    rxpkts: int = _f(U)
    rxerrs: int = _f(U)
    rxdrop: int = _f(U)
    txbytes: int = _f(U)
    txpkts: int = _f(U)
    txerrs: int = _f(U)
    txdrop: int = _f(U)


@dataclass
class Disk:
    dev: bytes = _f(B)
    rdios: int = _f(U)
    rdmerges: int = _f(U)
    rdbytes: int = _f(U)
    rdtime: int = _f(U)
    wrios: int = _f(U)
    wrmerges: int = _f(U)
    wrbytes: int = _f(U)
    wrtime: int = _f(U)
    inflight: int = _f(U)
    iotime: int = _f(U)
    wtime: int = _f(U)


@dataclass
class VM:
    pgfault: int = _f(U)
    pgmajfault: int = _f(U)
    pgpgin: int = _f(U)
    pgpgout: int = _f(U)
    pswpin: int = _f(U)
    pswpout: int = _f(U)
    pgscan: int = _f(U)
    pgsteal: int = _f(U)
    oomkill: int = _f(U)


@dataclass
class ProcSample:
    h: int = _f(U)
    pid: int = _f(U)
    ppid: int = _f(U)
    start: int = _f(U)
    state: str = _f(S)
    cpu: int = _f(U)
    threads: int = _f(U)
    utime: int = _f(U)
    stime: int = _f(U)
    minflt: int = _f(U)
    majflt: int = _f(U)
    nvcsw: int = _f(U)
    nivcsw: int = _f(U)
    vsize: int = _f(U)
    rss: int = _f(U)
    shared: int = _f(U)
    rchar: int = _f(U)
    wchar: int = _f(U)
    rdbytes: int = _f(U)
    wrbytes: int = _f(U)
    cgcpu: int = _f(U)
    cgmem: int = _f(U)


@dataclass
class Sample:
    k: str = field(default="", repr=False, metadata={"k": S, "w": None})
    seq: int = _f(U)
    real: int = _f(U)
    mono: int = _f(U)
    dur: int = _f(U)
    cost: Cost = _r(Cost, "self")
    miss: List[str] = _l(S)
    cpu: List[CPU] = _l(CPU)
    mem: List[Mem] = _l(Mem)
    load: List[Load] = _l(Load)
    psi: List[PSI] = _l(PSI)
    net: List[Net] = _l(Net)
    disk: List[Disk] = _l(Disk)
    vm: List[VM] = _l(VM)
    proc: List[ProcSample] = _l(ProcSample)
    host: Optional[str] = _local()


@dataclass
class SampleSubResult:
    sub: int = _f(U)
    period: int = _f(U)


# ---------------------------------------------------------------------------
# Files (11.16, 11.17, 12.7)


@dataclass
class PutResult:
    x: int = _f(U)
    have: int = _f(U)
    credit: int = _f(U)
    chunk: int = _f(U)
    done: bool = _f(Q)


@dataclass
class FileEntry:
    """One file or directory of a listed tree (file.get with `list`)."""
    path: bytes = _f(B)
    dir: bool = _f(Q)
    size: int = _f(U)
    mode: int = _f(U)
    mtime: int = _f(U)


@dataclass
class GetResult:
    x: int = _f(U)
    size: int = _f(U)
    mode: int = _f(U)
    mtime: int = _f(U)
    files: List[FileEntry] = _l(FileEntry)


@dataclass
class FileChunk:
    k: str = field(default="", repr=False, metadata={"k": S, "w": None})
    x: int = _f(U)
    o: int = _f(U)
    d: bytes = _f(B)


@dataclass
class FileEnd:
    k: str = field(default="", repr=False, metadata={"k": S, "w": None})
    x: int = _f(U)
    size: int = _f(U)
    sha: bytes = _f(B)
    changed: bool = _f(Q)


@dataclass
class ProbeArgs:
    port: int = _f(U)
    host: str = _f(S)
    timeout: int = _f(U)


@dataclass
class ProbeResult:
    """A TCP connect made by the daemon from its host (net.probe)."""
    ok: bool = _f(Q)
    errno: int = _f(U)
    sys: str = _f(S)
    why: str = _f(S)
    dur: int = _f(U)


# ---------------------------------------------------------------------------
# Tables used by the protocol core

ARGS = {
    "host.info": NoArgs,
    "proc.start": StartArgs,
    "proc.trigger": TriggerArgs,
    "proc.signal": SignalArgs,
    "proc.freeze": FreezeArgs,
    "proc.stdin": StdinArgs,
    "proc.resize": ResizeArgs,
    "proc.status": HandleArgs,
    "proc.list": NoArgs,
    "proc.wait": HandleArgs,
    "proc.release": HandleArgs,
    "proc.collect": HandleArgs,
    "out.subscribe": SubscribeArgs,
    "out.unsubscribe": UnsubscribeArgs,
    "out.read": ReadArgs,
    "sample.once": SampleArgs,
    "sample.subscribe": SampleArgs,
    "sample.unsubscribe": UnsubscribeArgs,
    "file.put": PutArgs,
    "file.get": GetArgs,
    "net.probe": ProbeArgs,
}

RESULTS = {
    "host.info": HostInfo,
    "proc.start": StartResult,
    "proc.signal": SignalResult,
    "proc.status": ProcInfo,
    "proc.list": ListResult,
    "proc.wait": Exit,
    "proc.collect": CollectResult,
    "out.subscribe": SubscribeResult,
    "out.read": ReadResult,
    "sample.once": Sample,
    "sample.subscribe": SampleSubResult,
    "file.put": PutResult,
    "file.get": GetResult,
    "net.probe": ProbeResult,
}

EVENTS = {
    "state": State,
    "exit": Exit,
    "failed": Failed,
    "out": Out,
    "gap": Gap,
    "eos": Eos,
    "sample": Sample,
    "file": FileChunk,
    "fileend": FileEnd,
}

# Methods every daemon serves (11.1); the others need host.info's list.
ALWAYS_SERVED = frozenset([
    "host.info", "proc.start", "proc.signal", "proc.status", "proc.list",
    "proc.wait", "proc.release", "out.subscribe", "out.unsubscribe", "out.read",
])
