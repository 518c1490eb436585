# SPDX-License-Identifier: Apache-2.0
"""The blocking and asyncio clients against a real tacetd."""

import asyncio
import hashlib
import os
import signal
import tempfile
import time
import unittest

import daemons
import tacet
import tacet.aio


class DaemonTest(unittest.TestCase):
    """A fresh daemon per test, so that no test inherits another's
    daemon (tacetd's engine once deadlocked on an out.subscribe after an
    earlier failed proc.start; see test_known_daemon_bug)."""

    def setUp(self):
        self.d = daemons.Daemon()
        self.c = tacet.connect(self.d.url, key_file=self.d.key_file)

    def tearDown(self):
        self.c.close()
        self.d.stop()

    def test_echo_and_exit_code(self):
        r = self.c.run(["echo", "hello", "world"])
        self.assertEqual(r.stdout, b"hello world\n")
        self.assertEqual((r.exit.code, r.exit.sig, r.exit.why), (0, 0, ""))
        self.assertTrue(r.exit.ok)
        r = self.c.run(["sh", "-c", "echo out; echo err >&2; exit 7"])
        self.assertEqual((r.stdout, r.stderr, r.exit.code, r.returncode), (b"out\n", b"err\n", 7, 7))
        t = r.exit.times
        self.assertTrue(0 < t.sreal <= t.xreal <= t.ereal)
        self.assertTrue(0 < t.smono <= t.xmono <= t.emono)
        self.assertEqual((t.rreal, t.rmono), (0, 0))
        self.assertGreater(r.exit.ru.maxrss, 0)
        self.assertEqual(r.exit.host, self.d.url)

    def test_signal_and_tree_kill(self):
        pidfile = os.path.join(self.d.dir, "child.pid")
        p = self.c.start(["sh", "-c", "sleep 300 & echo $! > %s.tmp; mv %s.tmp %s; sleep 300; wait"
                          % (pidfile, pidfile, pidfile)])
        for _ in range(200):
            if os.path.exists(pidfile):
                break
            time.sleep(0.01)
        with open(pidfile) as f:
            child = int(f.read().strip())
        self.assertTrue(os.path.exists("/proc/%d" % child))
        p.kill(tree=True)
        ex = p.wait(10)
        self.assertEqual((ex.sig, ex.why, ex.returncode), (signal.SIGKILL, "tree", -9))
        for _ in range(100):
            if not os.path.exists("/proc/%d" % child):
                break
            time.sleep(0.02)
        self.assertFalse(os.path.exists("/proc/%d" % child), "descendant survived the tree kill")
        # A plain signal to the main process only.
        p = self.c.start(["sleep", "300"])
        p.signal(signal.SIGTERM)
        self.assertEqual(p.wait(10).sig, signal.SIGTERM)
        with self.assertRaises(tacet.WrongState) as cm:
            p.signal(signal.SIGTERM)
        self.assertIn(self.d.url, str(cm.exception))
        self.assertEqual((cm.exception.code, cm.exception.name), (8, "WRONG_STATE"))

    def test_one_megabyte_exact(self):
        data = os.urandom(1 << 20)
        want = hashlib.sha256(data).hexdigest()
        with tempfile.NamedTemporaryFile(dir=self.d.dir, delete=False) as f:
            f.write(data)
        # Live, as chunks arrive, with a small window so credit must flow.
        p = self.c.start(["cat", f.name])
        out = p.output(1, window=128 * 1024)
        h, n, last = hashlib.sha256(), 0, 0
        for chunk in out:
            self.assertIsInstance(chunk, tacet.Out)
            self.assertEqual(chunk.o, last)
            h.update(chunk.d)
            n += len(chunk.d)
            last = chunk.end
        self.assertEqual((n, h.hexdigest()), (1 << 20, want))
        self.assertEqual(out.eos.len, 1 << 20)
        ex = p.wait(10)
        self.assertEqual(ex.len[0], 1 << 20)
        # Afterwards, by out.read.
        got = p.read_output(1)
        self.assertEqual(hashlib.sha256(got).hexdigest(), want)
        r = p.read(1, offset=1000, max=10)
        self.assertEqual((r.o, r.d, r.len, r.eof), (1000, data[1000:1010], 1 << 20, False))
        # A file-like reader over a fresh subscription.
        rd = p.output(1, from_=0).reader()
        self.assertEqual(hashlib.sha256(rd.read()).hexdigest(), want)
        p.release()
        with self.assertRaises(tacet.NotFound):
            p.status()

    def test_spawn_error_enoent(self):
        # On a daemon of its own: see test_known_daemon_bug.
        d = daemons.Daemon()
        try:
            with tacet.connect(d.url, key_file=d.key_file) as c:
                with self.assertRaises(tacet.SpawnFailed) as cm:
                    c.start(["/nonexistent/program", "x"])
                e = cm.exception
                self.assertEqual((e.code, e.name, e.step, e.errno, e.sys), (9, "SPAWN_FAILED", "execve", 2, "ENOENT"))
                self.assertEqual((e.host, e.method), (d.url, "proc.start"))
                self.assertFalse(e.retry)
                with self.assertRaises(tacet.SpawnFailed) as cm:
                    c.start(["true"], cwd="/nonexistent-dir")
                self.assertEqual((cm.exception.step, cm.exception.sys), ("chdir", "ENOENT"))
                with self.assertRaises(tacet.BadArgs) as cm:
                    c.start(["true"], nice=40)
                self.assertEqual(cm.exception.field, "nice")
        finally:
            d.stop()

    def test_known_daemon_bug(self):
        """Regression: out.subscribe to a live process that wrote something
        and then went quiet once deadlocked tacetd's engine (the stream's
        pump blocked in read(2) holding the stream lock that
        Engine.subscribe wanted). Passes with today's tacetd."""
        async def go():
            c = await tacet.aio.connect(self.d.url, key_file=self.d.key_file)
            p = await c.start(["sh", "-c", "echo x; sleep 1"])
            await asyncio.sleep(0.5)
            out = await asyncio.wait_for(p.output(1), 3)
            self.assertEqual(await asyncio.wait_for(out.read_all(), 10), b"x\n")
            await c.close()
        asyncio.run(go())

    def test_wrong_key_refused(self):
        with self.assertRaises(tacet.Unauthenticated) as cm:
            tacet.connect(self.d.url, key=os.urandom(32))
        self.assertIn(self.d.url, str(cm.exception))
        self.assertEqual(cm.exception.code, 4)

    def test_frame_mac_and_unix(self):
        with tacet.connect(self.d.url, key_file=self.d.key_file, require_mac=True) as c:
            self.assertTrue(c.mac)
            self.assertEqual(c.run(["echo", "mac"]).stdout, b"mac\n")
        with tacet.connect(self.d.unix, key=self.d.key) as c:
            self.assertFalse(c.mac)
            self.assertEqual(c.run(["echo", "unix"]).stdout, b"unix\n")

    def test_host_info_list_ping(self):
        info = self.c.host_info()
        self.assertIn("proc.start", info.methods)
        self.assertEqual(info.inst, self.c.welcome.inst)
        self.assertGreater(info.ncpu, 0)
        est = self.c.clock(8)
        self.assertEqual(len(est.samples), 8)
        self.assertGreaterEqual(est.delay, 0)
        # Same machine: the offset is within the bound, give or take.
        self.assertLess(abs(est.offset), est.delay + 5_000_000)
        p = self.c.start(["sleep", "5"], tag="listed-%d" % os.getpid())
        procs = {pi.h: pi for pi in self.c.list()}
        self.assertEqual(procs[p.h].state, "running")
        self.assertEqual(procs[p.h].argv, [b"sleep", b"5"])
        again = self.c.start(["sleep", "5"], tag="listed-%d" % os.getpid())
        self.assertEqual((again.h, again.new), (p.h, False))
        with self.assertRaises(tacet.AlreadyExists):
            self.c.start(["sleep", "6"], tag="listed-%d" % os.getpid())
        try:
            p.kill()
        except tacet.WrongState:
            pass  # tacetd may have ended it; reported to the lead
        p.wait(10)

    def test_options(self):
        with tempfile.TemporaryDirectory(dir=self.d.dir) as cwd:
            info = self.c.host_info()
            cg = {}
            if info.contain == "cgroup2" and "memory" in info.cgctl:
                cg["memmax"] = 256 << 20
            if info.contain == "cgroup2" and "cpu" in info.cgctl:
                cg.update(cpuquota=50000, cpuperiod=100000)
            r = self.c.run(["sh", "-c", 'echo "$FOO|$BAR|$HOME"; pwd; ulimit -n; nice'],
                           env={"FOO": "foo", "BAR": "bar"}, unset_env=["HOME"], cwd=cwd,
                           rlimits={"nofile": (512, 1024)}, nice=5, pg="session",
                           memonly=True, grace=1.0, lease=60.0, collect=["out.txt"], **cg)
            self.assertEqual(r.stdout.decode().split("\n")[:4], ["foo|bar|", cwd, "512", "5"])
            r = self.c.run(["sh", "-c", 'echo "${FOO-unset}"; echo "$PATH"'], clear_env=True,
                           env=["PATH=/bin:/usr/bin"])
            self.assertEqual(r.stdout, b"unset\n/bin:/usr/bin\n")
        with tempfile.NamedTemporaryFile(dir=self.d.dir) as f:
            f.write(b"from a file\n")
            f.flush()
            self.assertEqual(self.c.run(["cat"], stdin_file=f.name).stdout, b"from a file\n")
        r = self.c.run(["sh", "-c", "cat /proc/self/status | grep Cpus_allowed_list"], cpus=[0])
        self.assertIn(b"\t0\n", r.stdout)
        # A terminal: one stream, number 3.
        p = self.c.start(["sh", "-c", "stty size; tty"], pty=True, rows=30, cols=100)
        self.assertEqual(p.streams, (3,))
        out = p.output(3).read_all()
        self.assertIn(b"30 100", out)
        self.assertIn(b"/dev/pts/", out)
        p.wait(10)

    def test_known_daemon_bug_timeout(self):
        """Regression: StartArgs.timeout once reported why "timeout" but let
        `sleep 30` run its 30 s. Passes with today's tacetd."""
        r = self.c.run(["sleep", "30"], timeout=0.3, grace=0.2, wait_timeout=60)
        self.assertEqual(r.exit.why, "timeout")
        self.assertLess(r.exit.times.ereal - r.exit.times.xreal, 5_000_000_000)
        self.assertEqual(r.exit.sig, signal.SIGTERM)

    def test_stage_trigger_freeze(self):
        p = self.c.start(["echo", "staged"], stage=True)
        self.assertEqual(p.state, "staged")
        t0 = time.time_ns()
        p.trigger(at=t0 + 200_000_000)
        ex = p.wait(10)
        self.assertGreaterEqual(ex.times.rreal, t0 + 200_000_000)
        # Released at the instant, not at the trigger: a bound on how late
        # would be a timing assertion, and benchmarks measure that.
        self.assertGreaterEqual(ex.times.xreal, ex.times.rreal)
        self.assertEqual(p.read_output(1), b"staged\n")
        # Signalled before release: it never runs.
        p = self.c.start(["echo", "never"], stage=True)
        p.kill(tree=False)
        ex = p.wait(10)
        self.assertEqual((ex.times.xreal, ex.sig), (0, signal.SIGKILL))
        if self.c.host_info().contain == "cgroup2":
            p = self.c.start(["sleep", "30"])
            p.freeze()
            p.thaw()
            p.kill()
            p.wait(10)

    def test_optional_methods_unsupported_cleanly(self):
        methods = self.c.methods()
        if "sample.once" in methods:
            s = self.c.sample_once(src=["mem", "load"])
            self.assertEqual(len(s.mem), 1)
        else:
            with self.assertRaises(tacet.Unsupported) as cm:
                self.c.sample_once()
            self.assertEqual((cm.exception.code, cm.exception.method), (2, "sample.once"))
        if "file.get" not in methods:
            with self.assertRaises(tacet.Unsupported):
                self.c.get_file("/etc/hostname")
        # The daemon's own UNSUPPORTED for a method it does not know.
        with self.assertRaises(tacet.Unsupported):
            self.c.call("no.such.method", {})
        self.assertEqual(self.c.run(["true"]).exit.code, 0)  # connection still fine

    def test_daemon_stop_ends_calls(self):
        d = daemons.Daemon()
        c = tacet.connect(d.url, key_file=d.key_file)
        try:
            p = c.start(["sleep", "300"])
            d.stop()
            with self.assertRaises(tacet.TacetError):
                p.wait(10)
            self.assertTrue(c.closed)
            with self.assertRaises(tacet.ConnectionLost):
                c.run(["true"])
        finally:
            c.close()


class StdinTest(unittest.TestCase):
    """On a daemon of its own: after a failed proc.start, tacetd (at the
    time of writing) deadlocks on the next start with a stdin pipe; see
    DaemonTest.test_known_daemon_bug."""

    @classmethod
    def setUpClass(cls):
        cls.d = daemons.Daemon()
        cls.c = tacet.connect(cls.d.url, key_file=cls.d.key_file)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.d.stop()

    def test_stdin_round_trip(self):
        data = os.urandom(300000) + b"\xff\xfe not utf-8"
        p = self.c.start(["cat"], stdin="pipe")
        p.write(data[:1000])
        p.write(data[1000:], eof=True)
        # Subscribed after the writes: see test_known_daemon_bug.
        got = p.output(1).read_all()
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest())
        self.assertEqual(p.wait(10).code, 0)
        r = self.c.run(["tr", "a-z", "A-Z"], input=b"shout\n")
        self.assertEqual(r.stdout, b"SHOUT\n")


class AsyncTest(unittest.TestCase):
    def test_async_start_wait(self):
        d = daemons.Daemon()

        async def go():
            async with await tacet.aio.connect(d.url, key_file=d.key_file) as c:
                p = await c.start(["sh", "-c", "echo async; exit 4"])
                out = await p.output(1)
                chunks = [x async for x in out]
                ex = await p.wait()
                # Many calls at once on one connection.
                rs = await asyncio.gather(*(c.run(["echo", str(i)]) for i in range(20)))
                return chunks, ex, rs
        try:
            chunks, ex, rs = asyncio.run(go())
        finally:
            d.stop()
        self.assertEqual(b"".join(c.d for c in chunks), b"async\n")
        self.assertEqual(ex.code, 4)
        self.assertEqual([r.stdout for r in rs], [b"%d\n" % i for i in range(20)])


if __name__ == "__main__":
    unittest.main()
