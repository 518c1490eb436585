# SPDX-License-Identifier: Apache-2.0
"""Group and synchronized start over three real daemons."""

import unittest

import daemons
import tacet


class GroupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ds = [daemons.Daemon() for _ in range(3)]
        # One key for all three: copy the first one's key file to the others'.
        # (Each daemon has its own key; the group passes per-host keys below.)

    @classmethod
    def tearDownClass(cls):
        for d in cls.ds:
            d.stop()

    def group(self, extra=()):
        # Each daemon has a fresh key; the tests give the group one shared
        # key by restarting nothing: they connect with a per-URL key file.
        return _MultiKeyGroup(self.ds, extra)

    def test_group_parallel(self):
        with self.group(["tcp://127.0.0.1:1"]) as g:
            self.assertEqual(len(g), 3)
            self.assertEqual(list(g.errors), ["tcp://127.0.0.1:1"])
            self.assertIsInstance(g.errors["tcp://127.0.0.1:1"], tacet.ConnectionLost)
            info = g.host_info().raise_on_error()
            self.assertEqual(len({i.inst for i in info.values()}), 3)
            runs = g.run(["sh", "-c", "echo $0", "hi"]).raise_on_error()
            self.assertEqual({h: r.stdout for h, r in runs.items()},
                             {d.url: b"hi\n" for d in self.ds})
            procs = g.start(["sleep", "300"]).raise_on_error()
            self.assertEqual(set(procs), {d.url for d in self.ds})
            g.signal(procs, 9, tree=True).raise_on_error()
            exits = g.wait(procs, 10).raise_on_error()
            self.assertTrue(all(e.sig == 9 for e in exits.values()))
            # Per-host failures come back per host.
            bad = g.start(["/nonexistent"])
            self.assertEqual(len(bad.errors), 3)
            self.assertTrue(all(isinstance(e, tacet.SpawnFailed) for e in bad.errors.values()))
            with self.assertRaises(tacet.GroupError):
                bad.raise_on_error()

    def test_sync_start(self):
        with self.group() as g:
            ss = g.sync_start(["true"], lead=0.3, pings=8)
            self.assertEqual(len(ss.hosts), 3)
            exits = ss.wait(10).raise_on_error()
            self.assertTrue(all(e.code == 0 for e in exits.values()))
            late = ss.lateness()
            self.assertEqual(set(late), {d.url for d in self.ds})
            for host, s in ss.hosts.items():
                self.assertGreater(s.exit.times.xreal, 0)
                self.assertGreater(s.exit.times.rreal, 0)
                # The release woke at (or just after) the instant asked for.
                self.assertGreaterEqual(s.exit.times.rreal, s.at)
                # Loose bounds: the suite shares a loaded machine.
                self.assertLess(abs(late[host]), 250_000_000, "host %s exec %d ns off" % (host, late[host]))
            self.assertLess(ss.spread(), 250_000_000)
            print("\nsync start: target %d; lateness per host (us): %s; spread %.1f us" % (
                ss.target, {h: round(v / 1000, 1) for h, v in late.items()}, ss.spread() / 1000))

    def test_group_put_get(self):
        import os
        import shutil
        import tempfile
        from test_files import make_tree, snapshot
        td = tempfile.mkdtemp(dir=self.ds[0].dir)
        self.addCleanup(shutil.rmtree, td, True)
        local = os.path.join(td, "tree")
        nfiles = make_tree(local)
        want = snapshot(local)
        remote = {d.url: os.path.join(td, "host%d" % i, "tree") for i, d in enumerate(self.ds)}
        seen = set()
        with self.group() as g:
            res = g.put(local, lambda h: remote[h], progress=lambda h, p: seen.add(h)).raise_on_error()
            self.assertEqual({h: r.files for h, r in res.items()}, {u: nfiles for u in remote})
            self.assertEqual(seen, set(remote))
            for u, path in remote.items():
                self.assertEqual(snapshot(path), want, u)
            # Back from each host into a directory of its own.
            back = {u: os.path.join(td, "back%d" % i) for i, u in enumerate(remote)}
            g.get(os.path.join(td, "host0", "tree"), lambda h: back[h]).raise_on_error()
            for u, path in back.items():
                self.assertEqual(snapshot(os.path.join(path, "tree")), want, u)


class _MultiKeyGroup(tacet.Group):
    """A Group whose daemons each have their own key file."""

    def __init__(self, ds, extra):
        keys = {d.url: d.key for d in ds}
        import tacet.aio as A
        orig = A.connect

        async def connect(url, **kw):
            return await orig(url, key=keys.get(url, b"\0" * 32), **kw)
        self._orig = orig
        A.connect = connect
        try:
            super().__init__([d.url for d in ds] + list(extra), timeout=3)
        finally:
            A.connect = orig


if __name__ == "__main__":
    unittest.main()
