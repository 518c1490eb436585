# SPDX-License-Identifier: Apache-2.0
"""examples/server_and_load.py against three loopback daemons that share
one key: a server on the first, load generators on the other two, and a
CSV whose content the test checks."""

import csv
import os
import subprocess
import sys
import tempfile
import unittest

import daemons

EXAMPLE = os.path.join(daemons.PKG, "examples", "server_and_load.py")


class ExampleTest(unittest.TestCase):
    def test_server_and_load(self):
        key = os.urandom(32)
        ds = [daemons.Daemon(key=key) for _ in range(3)]
        try:
            with tempfile.TemporaryDirectory() as td:
                out = os.path.join(td, "run.csv")
                r = subprocess.run([sys.executable, EXAMPLE, "--key-file", ds[0].key_file,
                                    "--out", out, "--seconds", "1.5", "--period", "0.1"]
                                   + [d.url for d in ds],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                with open(out, newline="") as f:
                    rows = list(csv.DictReader(f))
        finally:
            for d in ds:
                d.stop()
        server, loads = ds[0].url, [d.url for d in ds[1:]]
        self.assertTrue(rows)
        self.assertEqual(set(rows[0]), {"host", "role", "kind", "name", "real_ns", "value"})

        def pick(host, kind, name):
            return [r for r in rows if (r["host"], r["kind"], r["name"]) == (host, kind, name)]
        sent = {u: int(pick(u, "result", "bytes_sent")[0]["value"]) for u in loads}
        self.assertTrue(all(v > 0 for v in sent.values()), sent)
        got = int(pick(server, "result", "bytes_received")[0]["value"])
        self.assertEqual(got, sum(sent.values()))
        per_conn = [r for r in rows if r["name"].startswith("bytes_received:")]
        self.assertEqual(len(per_conn), 2)
        self.assertEqual(sorted(int(r["value"]) for r in per_conn), sorted(sent.values()))
        for u in [server] + loads:
            self.assertEqual(pick(u, "exit", "exit_code")[0]["value"], "0")
            self.assertEqual(pick(u, "exit", "exit_code")[0]["role"], "server" if u == server else "load")
            busy = pick(u, "sample", "cpu_busy_ns")
            self.assertGreaterEqual(len(busy), 10, u)  # >= 1.5 s at 0.1 s
            t = [int(r["real_ns"]) for r in busy]
            self.assertEqual(t, sorted(t))
            self.assertEqual(len(set(t)), len(t))
            v = [int(r["value"]) for r in busy]
            self.assertGreater(v[-1], v[0], u)  # the machine was busy
            self.assertTrue(pick(u, "sample", "mem_avail_bytes"))
            self.assertTrue(pick(u, "sample", "daemon_cpu_ns"))
        for u in loads:
            late = int(pick(u, "exit", "lateness_ns")[0]["value"])
            self.assertLess(abs(late), 250_000_000)


if __name__ == "__main__":
    unittest.main()
