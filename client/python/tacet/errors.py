# SPDX-License-Identifier: Apache-2.0
"""Exceptions. Every failure names the host and, when the daemon reported
it, the protocol's error: code, name, message, retry flag and details
(section 15)."""

from __future__ import annotations

from typing import Optional

# Error codes of section 15.
PROTOCOL = 1
UNSUPPORTED = 2
BAD_ARGS = 3
UNAUTHENTICATED = 4
PERMISSION = 5
NOT_FOUND = 6
ALREADY_EXISTS = 7
WRONG_STATE = 8
SPAWN_FAILED = 9
LIMIT = 10
TIMEOUT = 11
INTERNAL = 12
SHUTTING_DOWN = 13

NAMES = {
    PROTOCOL: "PROTOCOL", UNSUPPORTED: "UNSUPPORTED", BAD_ARGS: "BAD_ARGS",
    UNAUTHENTICATED: "UNAUTHENTICATED", PERMISSION: "PERMISSION",
    NOT_FOUND: "NOT_FOUND", ALREADY_EXISTS: "ALREADY_EXISTS",
    WRONG_STATE: "WRONG_STATE", SPAWN_FAILED: "SPAWN_FAILED", LIMIT: "LIMIT",
    TIMEOUT: "TIMEOUT", INTERNAL: "INTERNAL", SHUTTING_DOWN: "SHUTTING_DOWN",
}
RETRY = frozenset([LIMIT, TIMEOUT, SHUTTING_DOWN])


class TacetError(Exception):
    """Base of every tacet exception.

    host    the daemon's address as dialled (and its host name when known)
    method  the request that failed, if any
    code, name, message, retry   the protocol error (c, n, m, t); code 0
            when the failure is local (a lost connection, a bad reply)
    step, errno, sys, field, limit   the error's details (d)
    """

    code = 0
    name = ""

    def __init__(self, message: str = "", *, host: Optional[str] = None,
                 method: Optional[str] = None, code: Optional[int] = None,
                 name: Optional[str] = None, retry: Optional[bool] = None,
                 step: str = "", errno: int = 0, sys: str = "", field: str = "",
                 limit: int = 0):
        super().__init__(message)
        self.message = message
        self.host = host
        self.method = method
        if code is not None:
            self.code = code
        if name is not None:
            self.name = name
        self.retry = (self.code in RETRY) if retry is None else retry
        self.step, self.errno, self.sys, self.field, self.limit = step, errno, sys, field, limit

    def __str__(self):
        parts = []
        if self.host:
            parts.append(self.host + ":")
        if self.method:
            parts.append(self.method + ":")
        if self.name:
            parts.append("%s (%d)" % (self.name, self.code))
        parts.append(self.message or "")
        det = []
        if self.step:
            det.append("step=" + self.step)
        if self.errno:
            det.append("errno=%d" % self.errno)
        if self.sys:
            det.append(self.sys)
        if self.field:
            det.append("field=" + self.field)
        if self.limit:
            det.append("limit=%d" % self.limit)
        if self.retry:
            det.append("retry")
        if det:
            parts.append("[" + " ".join(det) + "]")
        return " ".join(p for p in parts if p)


class ProtocolError(TacetError):
    """PROTOCOL: a malformed or unexpected frame, from either side."""
    code, name = PROTOCOL, "PROTOCOL"


class Unsupported(TacetError):
    """UNSUPPORTED: the daemon does not serve this method or feature
    (also raised locally for an optional method host.info does not list)."""
    code, name = UNSUPPORTED, "UNSUPPORTED"


class BadArgs(TacetError):
    code, name = BAD_ARGS, "BAD_ARGS"


class Unauthenticated(TacetError):
    """The handshake did not prove the key (either side)."""
    code, name = UNAUTHENTICATED, "UNAUTHENTICATED"


class PermissionDenied(TacetError):
    code, name = PERMISSION, "PERMISSION"


class NotFound(TacetError):
    code, name = NOT_FOUND, "NOT_FOUND"


class AlreadyExists(TacetError):
    code, name = ALREADY_EXISTS, "ALREADY_EXISTS"


class WrongState(TacetError):
    code, name = WRONG_STATE, "WRONG_STATE"


class SpawnFailed(TacetError):
    """SPAWN_FAILED: `step`, `errno` and `sys` say which step failed and why."""
    code, name = SPAWN_FAILED, "SPAWN_FAILED"


class LimitExceeded(TacetError):
    code, name = LIMIT, "LIMIT"


class DaemonTimeout(TacetError):
    code, name = TIMEOUT, "TIMEOUT"


class InternalError(TacetError):
    code, name = INTERNAL, "INTERNAL"


class ShuttingDown(TacetError):
    code, name = SHUTTING_DOWN, "SHUTTING_DOWN"


class ConnectionLost(TacetError):
    """The connection ended (GOAWAY, EOF, a socket error). `cause` is the
    daemon's GOAWAY error when there was one."""

    def __init__(self, message="", *, cause: Optional[TacetError] = None, **kw):
        if cause is not None:
            for k in ("code", "name", "retry", "step", "errno", "sys", "field", "limit"):
                kw.setdefault(k, getattr(cause, k))
            message = message or cause.message
        super().__init__(message, **kw)
        self.cause = cause


class OutputGap(TacetError):
    """Bytes [start, end) of a stream are lost (`why`: mem-budget,
    disk-budget, disk-error, retention) and the reader was asked not to skip them."""

    def __init__(self, message="", *, start=0, end=0, why="", **kw):
        super().__init__(message or "output lost: bytes [%d, %d), %s" % (start, end, why), **kw)
        self.start, self.end, self.why = start, end, why


_BY_CODE = {c.code: c for c in (ProtocolError, Unsupported, BadArgs, Unauthenticated,
                                PermissionDenied, NotFound, AlreadyExists, WrongState,
                                SpawnFailed, LimitExceeded, DaemonTimeout, InternalError,
                                ShuttingDown)}


def from_wire_error(e, host=None, method=None) -> TacetError:
    """The exception for a decoded WireError record. An unknown code is
    INTERNAL (section 15) but keeps its own code and name."""
    cls = _BY_CODE.get(e.c, InternalError)
    d = e.d
    return cls(e.m, host=host, method=method, code=e.c, name=e.n or NAMES.get(e.c, "INTERNAL"),
               retry=e.t, step=d.step, errno=d.errno, sys=d.sys, field=d.field, limit=d.limit)
