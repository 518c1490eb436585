# SPDX-License-Identifier: Apache-2.0
"""The local side of file transfers (spec/PROTOCOL.md 11.16, 11.17): what
a put sends (a file, or a tree walked and hashed), the check of a
daemon's listing, and a local directory written only beneath itself.
No I/O with the daemon happens here; tacet.aio drives the transfers.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import dataclasses
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

from .errors import ProtocolError

# The size up to which a put sends the whole file in its opening request
# (one round trip, no part file looked for). The daemon accepts at least
# this much in one request (11.16).
SMALL_FILE = 64 << 10
# The credit of a file.get transfer.
GET_WINDOW = 4 << 20
_READ = 1 << 20


@dataclass
class TransferResult:
    """What a put or get did."""
    files: int = 0  # files transferred
    dirs: int = 0   # directories created or updated
    bytes: int = 0  # bytes of the files
    sent: int = 0   # bytes that crossed the connection; less than `bytes` after a resume


@dataclass
class Progress:
    """How far a put or get has come, handed to its `progress` callback
    after each chunk is acknowledged or written."""
    files: int = 0       # files of the transfer
    files_done: int = 0  # files verified in place
    bytes: int = 0       # bytes of all the files
    bytes_done: int = 0  # bytes in place, resumed bytes included
    sent: int = 0        # bytes of file data that crossed the connection


class Tracker:
    """Counts a transfer's progress and reports it."""

    def __init__(self, fn: Optional[Callable[[Progress], None]], files: int, nbytes: int):
        self.fn = fn
        self.p = Progress(files=files, bytes=nbytes)

    def add(self, done: int, sent: int) -> None:
        self.p.bytes_done += done
        self.p.sent += sent
        if self.fn is not None:
            self.fn(dataclasses.replace(self.p))

    def file_done(self) -> None:
        self.p.files_done += 1
        self.add(0, 0)


@dataclass
class PutEntry:
    """One file or directory of a put, hashed before anything is sent."""
    local: bytes  # local path
    rel: bytes    # slash-separated, b"" for the top itself
    dir: bool
    size: int
    mode: int
    mtime: int
    sha: bytes = b""


def hash_file(path: bytes) -> bytes:
    """SHA-256 of a regular file, read in pieces, never through a final link."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        while True:
            b = f.read(_READ)
            if not b:
                return h.digest()
            h.update(b)


def _entry(path: bytes, rel: bytes, st: os.stat_result) -> PutEntry:
    d = stat.S_ISDIR(st.st_mode)
    return PutEntry(local=path, rel=rel, dir=d, size=0 if d else st.st_size,
                    mode=st.st_mode & 0o7777, mtime=st.st_mtime_ns)


def plan_put(local) -> Tuple[List[PutEntry], bool]:
    """The entries a put sends, and whether local is a tree.

    local is followed if it is a symbolic link; below it, links and
    special files are skipped, so that nothing outside local is read and
    a tree never carries a link. The files come first, in lexical order,
    then the directories deepest first, so that writing the files does not
    change the times set on the directories (11.16)."""
    top = os.path.realpath(os.fsencode(local))
    st = os.stat(top)
    if stat.S_ISREG(st.st_mode):
        e = _entry(top, b"", st)
        e.sha = hash_file(top)
        return [e], False
    if not stat.S_ISDIR(st.st_mode):
        raise ValueError("put: %r is neither a regular file nor a directory" % (local,))
    files: List[PutEntry] = []
    dirs: List[PutEntry] = []

    def walk(path: bytes, rel: bytes, st: os.stat_result):
        dirs.append(_entry(path, rel, st))
        with os.scandir(path) as it:
            children = sorted(it, key=lambda c: c.name)
        for c in children:
            crel = c.name if not rel else rel + b"/" + c.name
            if c.is_dir(follow_symlinks=False):
                walk(c.path, crel, c.stat(follow_symlinks=False))
            elif c.is_file(follow_symlinks=False):
                e = _entry(c.path, crel, c.stat(follow_symlinks=False))
                e.sha = hash_file(c.path)
                files.append(e)

    walk(top, b"", st)
    return files + dirs[::-1], True


def clean_remote(remote) -> bytes:
    """An absolute remote path, cleaned as Go's path.Clean does."""
    r = os.fsencode(remote)
    if not r.startswith(b"/"):
        raise ValueError("remote path %r is not absolute" % (remote,))
    r = posixpath.normpath(r)
    return b"/" + r.lstrip(b"/")


def plain_relative(p: bytes) -> bool:
    """p is a relative path of plain names: no empty, `.` or `..` element."""
    return not p.startswith(b"/") and b"\0" not in p and \
        all(x not in (b"", b".", b"..") for x in p.split(b"/"))


def check_listing(files, remote) -> None:
    """Refuse a listing (GetResult.files) that names a path leaving the
    listed tree, before anything is fetched (11.17). Only the first entry,
    the listed path itself, may have an empty path."""
    for i, e in enumerate(files):
        if e.path == b"" and i == 0:
            continue
        if not plain_relative(e.path):
            raise ProtocolError("file.get %r: the daemon listed %r, which is not a path beneath it"
                                % (remote, e.path))


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class LocalRoot:
    """A local directory that a get writes beneath and nowhere else: every
    name is opened component by component from the directory's descriptor
    without following symbolic links, so that neither the daemon's names
    nor a link already in the directory can lead a write elsewhere.
    Python has no os.Root nor openat2, hence this walk."""

    def __init__(self, path):
        os.makedirs(path, exist_ok=True)
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def open_dir(self, rel: bytes, create: bool = False) -> int:
        """A new descriptor of the directory rel (slash-separated, plain
        names; b"" is the root), its missing parts created if `create`."""
        if rel and not plain_relative(rel):
            raise ValueError("local path %r is not a plain relative path" % (rel,))
        fd = os.dup(self.fd)
        try:
            for name in rel.split(b"/") if rel else ():
                try:
                    nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    try:
                        os.mkdir(name, 0o755, dir_fd=fd)
                    except FileExistsError:
                        pass
                    nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            os.close(fd)
            raise

    def set_dir(self, rel: bytes, mode: int, mtime: int) -> None:
        """Set a directory's mode and, if nonzero, its modification time."""
        fd = self.open_dir(rel)
        try:
            os.fchmod(fd, mode & 0o7777)
            if mtime:
                os.utime(fd, ns=(mtime, mtime))
        finally:
            os.close(fd)


def part_name(name: bytes) -> bytes:
    """The local part file of a get of `name`, beside it; a later get of
    the same name resumes from its length."""
    return b"." + name + b".tacet-get.part"
