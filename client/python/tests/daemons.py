# SPDX-License-Identifier: Apache-2.0
"""Real tacetd daemons for the tests: a free loopback port, a fresh key
and state dir each, stopped with SIGTERM (SIGKILL by PID if it hangs)."""

import os
import shutil
import signal
import socket
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
    def __init__(self, extra=()):
        self.dir = tempfile.mkdtemp(prefix="tacet-py-d.")
        self.key = os.urandom(32)
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
