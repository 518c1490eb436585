# SPDX-License-Identifier: Apache-2.0
"""Real tacetd daemons for the tests: a free loopback port, a fresh key
and state dir each, stopped with SIGTERM (SIGKILL by PID if it hangs)."""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
PKG = os.path.abspath(os.path.join(HERE, ".."))
VECTORS = os.path.join(REPO, "spec", "vectors")
PROTOCOL_MD = os.path.join(REPO, "spec", "PROTOCOL.md")

# Without an installed package (PYTHONPATH unset), use the checkout's.
try:
    import tacet  # noqa: F401
except ImportError:
    sys.path.insert(0, PKG)
    import tacet  # noqa: F401

_built = None


def tacetd_bin():
    """$TACETD_BIN, or ./cmd/tacetd built once into a temp dir."""
    global _built
    b = os.environ.get("TACETD_BIN")
    if b:
        return b
    if _built is None:
        d = tempfile.mkdtemp(prefix="tacet-py-bin.")
        out = os.path.join(d, "tacetd")
        subprocess.run(["go", "build", "-o", out, "./cmd/tacetd"], cwd=REPO, check=True)
        _built = out
        os.environ["TACETD_BIN"] = out
    return _built


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    def __init__(self, extra=(), key=None):
        """A daemon on a free loopback port and a unix socket, with its own
        state dir and a fresh key (or `key`, 32 bytes, to share one)."""
        self.dir = tempfile.mkdtemp(prefix="tacet-py-d.")
        self.key = key if key is not None else os.urandom(32)
        self.key_file = os.path.join(self.dir, "key")
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (self.key.hex() + "\n").encode())
        os.close(fd)
        self.state = os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "tacetd.sock")
        self.unix = "unix://" + self.sock
        self.proc = None
        self.log = os.path.join(self.dir, "log")
        for _ in range(3):
            self.port = free_port()
            self.url = "tcp://127.0.0.1:%d" % self.port
            args = [tacetd_bin(), "--listen", self.url, "--listen", self.unix,
                    "--key-file", self.key_file, "--state-dir", self.state] + list(extra)
            with open(self.log, "ab") as lf:
                self.proc = subprocess.Popen(args, stdout=lf, stderr=lf, stdin=subprocess.DEVNULL)
            if self._ready():
                return
            self._kill()
        raise RuntimeError("tacetd did not start; log:\n" + open(self.log).read())

    def _ready(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
                s.close()
                return os.path.exists(self.sock) or True
            except OSError:
                time.sleep(0.05)
        return False

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL after `timeout` s; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                sys.stderr.write("tacetd pid %d ignored SIGTERM for %gs; SIGKILL\n"
                                 % (self.proc.pid, timeout))
                self._kill()
        rc = self.proc.returncode
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


class Proxy:
    """A TCP forwarder on a loopback port in front of `target` (host,
    port) that the test can cut: each connection is reset (RST, both
    sides) once it has carried `cuts[i]` bytes from the daemon, for the
    i-th connection; connections after the list are left alone."""

    def __init__(self, target, cuts=()):
        import threading
        self.target = target
        self.cuts = list(cuts)
        self.cut_done = []           # daemon->client bytes at each cut
        self.conns = 0
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.url = "tcp://127.0.0.1:%d" % self.port
        self._stop = False
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self):
        import threading
        while not self._stop:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            i = self.conns
            self.conns += 1
            cut = self.cuts[i] if i < len(self.cuts) else None
            try:
                u = socket.create_connection(self.target)
            except OSError:
                c.close()
                continue
            threading.Thread(target=self._relay, args=(c, u, cut), daemon=True).start()

    @staticmethod
    def _rst(s):
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        s.close()

    def _relay(self, c, u, cut):
        # One thread per connection, both directions, so that no other
        # thread is blocked in recv on a socket when it is reset.
        import select
        down = 0
        try:
            while True:
                r, _, _ = select.select([c, u], [], [], 1.0)
                if self._stop:
                    break
                if c in r:
                    b = c.recv(65536)
                    if not b:
                        break
                    u.sendall(b)
                if u in r:
                    want = 65536 if cut is None else max(1, min(65536, cut - down))
                    b = u.recv(want)
                    if not b:
                        break
                    c.sendall(b)
                    down += len(b)
                    if cut is not None and down >= cut:
                        self.cut_done.append(down)
                        break
        except OSError:
            pass
        self._rst(c)
        self._rst(u)

    def close(self):
        self._stop = True
        try:
            self.ls.close()
        except OSError:
            pass
