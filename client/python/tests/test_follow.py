# SPDX-License-Identifier: Apache-2.0
"""Following a stream across dropped connections: the test resets the
connection itself (a cutting proxy) at random offsets, several times, and
checks that the bytes followed are exactly those written, no duplicate,
no hole."""

import asyncio
import hashlib
import os
import random
import unittest

import daemons
import tacet
import tacet.aio

N = 200000
SEQ = b"".join(b"%d\n" % i for i in range(1, N + 1))   # `seq 1 200000`, 1288895 bytes
# Written live in four bursts, so that the follower reads both retained
# bytes and bytes that arrive while it follows.
SEQ_SLOW = ("for i in 0 1 2 3; do seq $((i*50000+1)) $((i*50000+50000)); sleep 0.15; done")


class FollowTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = daemons.Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def cuts(self, rnd, n=5):
        # Cut points in daemon->client bytes per connection: anywhere from
        # inside the handshake to well into the stream, at random; all n
        # together well short of the stream's 1.29 MB, so every cut happens.
        return [rnd.randrange(200, 200000) for _ in range(n)]

    def test_follow_survives_resets_blocking(self):
        seed = int.from_bytes(os.urandom(4), "big")
        rnd = random.Random(seed)
        with tacet.connect(self.d.url, key_file=self.d.key_file) as c:
            p = c.start(["sh", "-c", SEQ_SLOW])
            h = p.h
        cuts = self.cuts(rnd)
        px = daemons.Proxy(("127.0.0.1", self.d.port), cuts)
        try:
            got = bytearray()
            last = 0
            with tacet.follow(px.url, h, 1, key_file=self.d.key_file, window=64 * 1024,
                              backoff=0.01) as f:
                for rec in f:
                    self.assertIsInstance(rec, tacet.Out, "seed %d" % seed)
                    self.assertEqual(rec.o, last, "seed %d" % seed)
                    got += rec.d
                    last = rec.end
                self.assertEqual(f.eos.len, len(SEQ))
                reconnects = f.reconnects
        finally:
            px.close()
        msg = "seed %d cuts %s done %s" % (seed, cuts, px.cut_done)
        self.assertEqual(len(got), len(SEQ), msg)
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(SEQ).hexdigest(), msg)
        # Every cut happened, and each was survived by a new connection
        # (a cut inside the handshake costs a reconnect attempt, not a loss).
        self.assertEqual(len(px.cut_done), len(cuts), msg)
        self.assertEqual(px.conns, len(cuts) + 1, msg)
        self.assertGreaterEqual(reconnects, 1, msg)

    def test_process_follow_from_offset_async(self):
        seed = int.from_bytes(os.urandom(4), "big")
        rnd = random.Random(seed)
        cuts = self.cuts(rnd, 4)
        cuts[0] = max(cuts[0], 4096)  # past the handshake and proc.start's response
        px = daemons.Proxy(("127.0.0.1", self.d.port), cuts)
        start = rnd.randrange(0, 100000)

        async def go():
            # Through the proxy from the start: the first connection is the
            # caller's, the next ones the follower's own.
            c = await tacet.aio.connect(px.url, key_file=self.d.key_file)
            p = await c.start(["seq", "1", str(N)])
            f = p.follow(1, from_=start, window=32 * 1024, backoff=0.01)
            data = await f.read_all()
            await f.close()
            await c.close()
            return data, f
        try:
            r = asyncio.run(go())
        finally:
            px.close()
        data, f = r
        msg = "seed %d start %d cuts %s done %s" % (seed, start, cuts, px.cut_done)
        self.assertEqual(hashlib.sha256(data).hexdigest(), hashlib.sha256(SEQ[start:]).hexdigest(), msg)
        self.assertEqual(f.offset, len(SEQ), msg)
        self.assertEqual(f.gaps, [], msg)

    def test_follow_gives_up_and_not_found(self):
        # A handle the daemon does not know: NOT_FOUND at once, not retried.
        with self.assertRaises(tacet.NotFound) as cm:
            with tacet.follow(self.d.url, 0xdead0000, 1, key_file=self.d.key_file) as f:
                f.read_all()
        self.assertIn(self.d.url, str(cm.exception))
        # Nothing listening: ConnectionLost after `retries` attempts.
        port = daemons.free_port()
        with self.assertRaises(tacet.ConnectionLost):
            with tacet.follow("tcp://127.0.0.1:%d" % port, 1, 1, key_file=self.d.key_file,
                              retries=2, backoff=0.01) as f:
                f.read_all()


if __name__ == "__main__":
    unittest.main()
