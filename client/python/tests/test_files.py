# SPDX-License-Identifier: Apache-2.0
"""Files and trees through a real tacetd (PROTOCOL.md 11.16, 11.17):
trees put and got back identically (bytes, modes, times), confinement
beneath `root`, resumed puts and gets, streaming in bounded memory, and
the client's refusal of listings that leave the tree."""

import asyncio
import hashlib
import os
import shutil
import stat
import tempfile
import threading
import tracemalloc
import unittest

import daemons
import tacet
import tacet.aio
from tacet import files as F
from tacet import types as T

T0 = 1_700_000_000_000_000_000  # a REALTIME ns base for the tree's times


def make_tree(top):
    """About 200 files in nested directories, one of several chunks, an
    executable, an empty file, a symbolic link and a FIFO (both skipped by
    a put); distinct modes and times everywhere. The number of files."""
    os.makedirs(top)
    n = 0
    for a in range(5):
        for b in range(4):
            d = os.path.join(top, "d%d" % a, "s%d" % b)
            os.makedirs(d)
            for i in range(10):
                p = os.path.join(d, "f%02d.txt" % i)
                with open(p, "wb") as f:
                    f.write(("%d/%d/%d\n" % (a, b, i)).encode() * (i * 37 + a))
                os.chmod(p, 0o600 if i % 2 else 0o644)
                os.utime(p, ns=(T0 + n, T0 + n))
                n += 1
    with open(os.path.join(top, "big.bin"), "wb") as f:
        f.write(os.urandom(3 * (1 << 20) + 4321))
    with open(os.path.join(top, "d0", "run.sh"), "wb") as f:
        f.write(b"#!/bin/sh\necho ran\n")
    os.chmod(os.path.join(top, "d0", "run.sh"), 0o755)
    open(os.path.join(top, "d1", "empty"), "wb").close()
    os.symlink("/etc/passwd", os.path.join(top, "d2", "link"))
    os.mkfifo(os.path.join(top, "d2", "fifo"))
    os.chmod(os.path.join(top, "d3"), 0o750)
    os.chmod(os.path.join(top, "d4"), 0o1777)  # sticky
    n += 3
    # Directories last, deepest first, so that the files made do not move their times.
    for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count(os.sep)):
        os.utime(dirpath, ns=(T0 - 7, T0 - 7))
    return n


def snapshot(top):
    """{relative path: (kind, mode, mtime, sha256)} of the directories and
    regular files beneath top, links and special files left out."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [""] + dirnames + filenames:
            p = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(p)
            rel = os.path.relpath(p, top)
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", st.st_mode & 0o7777, st.st_mtime_ns, None)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    out[rel] = ("f", st.st_mode & 0o7777, st.st_mtime_ns,
                                hashlib.sha256(f.read()).hexdigest())
    return out


class FilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = daemons.Daemon()
        cls.c = tacet.connect(cls.d.url, key_file=cls.d.key_file)
        methods = cls.c.methods()
        if "file.put" not in methods or "file.get" not in methods:
            cls.c.close()
            cls.d.stop()
            raise unittest.SkipTest("the daemon serves no file.put/file.get: %s" % methods)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.d.stop()

    def setUp(self):
        self.td = tempfile.mkdtemp(dir=self.d.dir)
        self.addCleanup(shutil.rmtree, self.td, True)

    def test_tree_round_trip(self):
        local = os.path.join(self.td, "local")
        nfiles = make_tree(local)
        want = snapshot(local)
        self.assertEqual(sum(1 for v in want.values() if v[0] == "f"), nfiles)
        remote = os.path.join(self.td, "remote", "deep", "tree")  # parents missing
        res = self.c.put(local, remote)
        self.assertEqual((res.files, res.dirs), (nfiles, 1 + 5 + 20))
        self.assertEqual(res.bytes, sum(os.path.getsize(os.path.join(local, k))
                                        for k, v in want.items() if v[0] == "f"))
        self.assertEqual(res.sent, res.bytes)
        self.assertEqual(snapshot(remote), want)
        self.assertFalse(os.path.lexists(os.path.join(remote, "d2", "link")))
        self.assertFalse(os.path.lexists(os.path.join(remote, "d2", "fifo")))
        self.assertEqual(os.stat(os.path.join(remote, "d0", "run.sh")).st_mode & 0o777, 0o755)
        self.assertEqual(os.path.getsize(os.path.join(remote, "d1", "empty")), 0)
        # And back: listed, fetched beneath remote, written beneath out.
        listing = self.c.list_files(remote)
        self.assertEqual(listing[0].path, b"")
        self.assertEqual(len(listing), len(want))
        out = os.path.join(self.td, "out")
        res = self.c.get(remote, out)
        self.assertEqual((res.files, res.dirs, res.sent), (nfiles, 26, res.bytes))
        self.assertEqual(snapshot(os.path.join(out, "tree")), want)
        parts = [n for _, _, fs in os.walk(self.td) for n in fs if n.endswith(".part")]
        self.assertEqual(parts, [])
        # Put again over what is there: the same tree, nothing left over.
        self.c.put(local, remote)
        self.assertEqual(snapshot(remote), want)

    def test_aio_tree(self):
        local = os.path.join(self.td, "a")
        os.makedirs(os.path.join(local, "x", "y"))
        with open(os.path.join(local, "x", "y", "z"), "wb") as f:
            f.write(b"zzz")
        os.chmod(os.path.join(local, "x", "y", "z"), 0o640)
        os.utime(os.path.join(local, "x", "y", "z"), ns=(T0, T0))
        os.utime(os.path.join(local, "x", "y"), ns=(T0 + 1, T0 + 1))
        os.utime(os.path.join(local, "x"), ns=(T0 + 2, T0 + 2))

        async def main():
            async with await tacet.aio.connect(self.d.url, key_file=self.d.key_file) as c:
                r1 = await c.put(local, os.path.join(self.td, "b"))
                r2 = await c.get(os.path.join(self.td, "b"), os.path.join(self.td, "c"))
                return r1, r2
        r1, r2 = asyncio.run(main())
        self.assertEqual((r1.files, r1.dirs, r2.files, r2.dirs), (1, 3, 1, 3))
        want = snapshot(local)
        self.assertEqual(snapshot(os.path.join(self.td, "b")), want)
        self.assertEqual(snapshot(os.path.join(self.td, "c", "b")), want)

    def test_get_writes_off_the_event_loop(self):
        # Every chunk's write waits until a coroutine on the event loop has
        # run: were the write on the loop, the coroutine could not run and
        # the write would give up after 5 s, failing the test.
        path = os.path.join(self.td, "chunks.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(600 << 10))
        real = tacet.aio._write_chunk
        stalled = []

        async def main():
            loop = asyncio.get_running_loop()
            ran = None

            def slow_write(f, h, data):
                nonlocal ran
                ran = threading.Event()
                loop.call_soon_threadsafe(ran.set)
                if not ran.wait(5):
                    stalled.append(len(data))
                real(f, h, data)

            tacet.aio._write_chunk = slow_write
            try:
                async with await tacet.aio.connect(self.d.url, key_file=self.d.key_file) as c:
                    return await c.get(path, os.path.join(self.td, "out"))
            finally:
                tacet.aio._write_chunk = real
        res = asyncio.run(main())
        self.assertEqual(stalled, [])
        self.assertEqual(res.files, 1)
        with open(path, "rb") as a, open(os.path.join(self.td, "out", "chunks.bin"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_put_escape_refused(self):
        root = os.path.join(self.td, "root")
        os.makedirs(root)
        for path in (root + "/sub/../../escaped", root + "/../escaped", self.td + "/escaped"):
            with self.subTest(path=path):
                with self.assertRaises(tacet.BadArgs) as cm:
                    self.c.put_file(b"x", path, root=root, mkdirs=True)
                self.assertEqual((cm.exception.field, cm.exception.method), ("path", "file.put"))
        self.assertFalse(os.path.lexists(os.path.join(self.td, "escaped")))
        self.assertEqual(os.listdir(root), [])
        # A link in the destination that leads out of it: a tree put into
        # it is refused there, and nothing is written where it points.
        outside = os.path.join(self.td, "outside")
        os.makedirs(outside)
        os.symlink(outside, os.path.join(root, "sub"))
        local = os.path.join(self.td, "local")
        os.makedirs(os.path.join(local, "sub"))
        with open(os.path.join(local, "sub", "f"), "wb") as f:
            f.write(b"not here")
        with self.assertRaises(tacet.PermissionDenied) as cm:
            self.c.put(local, root)
        self.assertEqual((cm.exception.sys, cm.exception.errno), ("EXDEV", 18))
        self.assertEqual(os.listdir(outside), [])

    def test_get_resumes_partial_file(self):
        data = os.urandom(3 * (1 << 20) + 999)
        remote = os.path.join(self.td, "r", "blob")
        os.makedirs(os.path.dirname(remote))
        with open(remote, "wb") as f:
            f.write(data)
        os.chmod(remote, 0o604)
        os.utime(remote, ns=(T0, T0))
        out = os.path.join(self.td, "out")
        os.makedirs(out)
        part = os.path.join(out, ".blob.tacet-get.part")
        have = (1 << 20) + 7
        with open(part, "wb") as f:
            f.write(data[:have])
        res = self.c.get(remote, out)
        self.assertEqual((res.files, res.bytes, res.sent), (1, len(data), len(data) - have))
        with open(os.path.join(out, "blob"), "rb") as f:
            self.assertEqual(f.read(), data)
        st = os.stat(os.path.join(out, "blob"))
        self.assertEqual((st.st_mode & 0o7777, st.st_mtime_ns), (0o604, T0))
        self.assertFalse(os.path.exists(part))
        # A part file whose bytes are not the file's: the sum fails, the
        # part file is emptied, and the next get starts from 0.
        with open(part, "wb") as f:
            f.write(b"\0" * have)
        with self.assertRaises(tacet.ProtocolError):
            self.c.get(remote, out)
        self.assertEqual(os.path.getsize(part), 0)
        self.assertEqual(self.c.get(remote, out).sent, len(data))
        # A part file longer than the file: refused by the daemon, deleted.
        with open(part, "wb") as f:
            f.write(data + b"more")
        with self.assertRaises(tacet.BadArgs):
            self.c.get(remote, out)
        self.assertFalse(os.path.exists(part))

    def test_put_resumes_daemon_part_file(self):
        data = os.urandom(2 * (1 << 20) + 12345)
        src = os.path.join(self.td, "src.bin")
        with open(src, "wb") as f:
            f.write(data)
        dst = os.path.join(self.td, "dst.bin")
        sha = hashlib.sha256(data).digest()
        part = os.path.join(self.td, ".dst.bin.tacet-%s.part" % sha[:8].hex())
        have = 777777
        with open(part, "wb") as f:
            f.write(data[:have])
        res = self.c.put(src, dst)
        self.assertEqual((res.files, res.bytes, res.sent), (1, len(data), len(data) - have))
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertFalse(os.path.exists(part))
        self.assertEqual(os.stat(dst).st_mtime_ns, os.stat(src).st_mtime_ns)

    def test_interrupted_put_and_get_resume(self):
        """A put and a get stopped part way (by their progress callback)
        leave part files; the next put and get send only the rest. The
        file is larger than the daemon's credit (8 MiB), so that bytes are
        left unsent when the put stops."""
        size = 24 << 20
        data = os.urandom(size)
        src = os.path.join(self.td, "src")
        with open(src, "wb") as f:
            f.write(data)
        dst = os.path.join(self.td, "r", "dst")
        out = os.path.join(self.td, "out")

        class Stop(Exception):
            pass

        def stop_at(n, seen):
            def fn(p):
                seen.append(p)
                if p.bytes_done >= n:
                    raise Stop()
            return fn

        async def main():
            seen = []
            async with await tacet.aio.connect(self.d.url, key_file=self.d.key_file) as c:
                with self.assertRaises(Stop):
                    await c.put(src, dst, progress=stop_at(2 << 20, seen))
            self.assertEqual((seen[-1].files, seen[-1].bytes, seen[-1].files_done), (1, size, 0))
            self.assertFalse(os.path.exists(dst))
            parts = [n for n in os.listdir(os.path.dirname(dst)) if n.endswith(".part")]
            self.assertEqual(len(parts), 1)
            # The daemon writes the chunks it had queued when the connection
            # went: wait (bounded) until the part file stops growing.
            part, last = os.path.join(os.path.dirname(dst), parts[0]), -1
            for _ in range(100):
                n = os.path.getsize(part)
                if n == last:
                    break
                last = n
                await asyncio.sleep(0.05)
            self.assertLess(last, size)
            async with await tacet.aio.connect(self.d.url, key_file=self.d.key_file) as c:
                r = await c.put(src, dst)
                self.assertEqual(r.sent, size - last)
                self.assertEqual(r.bytes, size)
                seen = []
                with self.assertRaises(Stop):
                    await c.get(dst, out, progress=stop_at(3 << 20, seen))
                # The connection still works: the abandoned transfer was cancelled.
                self.assertEqual((await c.run(["echo", "ok"])).stdout, b"ok\n")
                part = os.path.join(out, ".dst.tacet-get.part")
                have = os.path.getsize(part)
                self.assertGreaterEqual(have, 3 << 20)
                r = await c.get(dst, out)
                self.assertEqual(r.sent, size - have)
        asyncio.run(main())
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), data)
        with open(os.path.join(out, "dst"), "rb") as f:
            self.assertEqual(f.read(), data)

    def test_streaming_memory_bounded(self):
        """A put and a get of a 48 MiB file hold far less than the file:
        the daemon's put credit (8 MiB) and the get window (4 MiB) bound
        what is in flight."""
        size = 48 << 20
        src = os.path.join(self.td, "huge")
        with open(src, "wb") as f:
            for _ in range(size >> 20):
                f.write(os.urandom(1 << 20))
        tracemalloc.start()
        try:
            self.c.put(src, os.path.join(self.td, "r", "huge"))
            _, put_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            self.c.get(os.path.join(self.td, "r", "huge"), os.path.join(self.td, "back"))
            _, get_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertLess(put_peak, size // 2)
        self.assertLess(get_peak, size // 2)
        self.assertEqual(F.hash_file(os.path.join(self.td, "back", "huge").encode()),
                         F.hash_file(src.encode()))

    def test_get_writes_only_beneath_local_dir(self):
        remote = os.path.join(self.td, "t")
        os.makedirs(os.path.join(remote, "sub"))
        with open(os.path.join(remote, "sub", "f"), "wb") as f:
            f.write(b"f")
        out = os.path.join(self.td, "out")
        outside = os.path.join(self.td, "outside")
        os.makedirs(os.path.join(out, "t"))
        os.makedirs(outside)
        os.symlink(outside, os.path.join(out, "t", "sub"))  # left by an earlier run
        with self.assertRaises(OSError):
            self.c.get(remote, out)
        self.assertEqual(os.listdir(outside), [])


class ListingCheckTest(unittest.TestCase):
    """No daemon: the names a listing may hold (11.17)."""

    def test_refused(self):
        for bad in (b"/etc/passwd", b"..", b"../x", b"a/../../x", b"a//b", b"a/./b", b"a/",
                    b".", b"a\0b"):
            with self.subTest(path=bad):
                with self.assertRaises(tacet.ProtocolError):
                    F.check_listing([T.FileEntry(path=b"", dir=True), T.FileEntry(path=bad)], "/r")
        with self.assertRaises(tacet.ProtocolError):  # empty only for the listed path itself
            F.check_listing([T.FileEntry(path=b"a", dir=True), T.FileEntry(path=b"")], "/r")

    def test_accepted(self):
        F.check_listing([T.FileEntry(path=b"", dir=True), T.FileEntry(path=b"a", dir=True),
                         T.FileEntry(path=b"a/..b"), T.FileEntry(path=b"a/.\xff")], "/r")

    def test_clean_remote(self):
        self.assertEqual(F.clean_remote("/a/b/../c/"), b"/a/c")
        self.assertEqual(F.clean_remote("//x"), b"/x")
        with self.assertRaises(ValueError):
            F.clean_remote("rel/x")


if __name__ == "__main__":
    unittest.main()
