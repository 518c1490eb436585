#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Run spec/controller.py against a real tacetd.

The daemon is $TACETD_BIN, or is built with `go build` into a temporary
directory. It is started on a free loopback port with a fresh key and
state directory; the checks run a shell command through the controller,
and try keys the daemon must refuse; then the daemon is stopped with
SIGTERM and must exit 0. Prints "controller ok" and exits 0 when every
check passes, else says what failed and exits 1.

Run as /usr/bin/python3 spec/controller_test.py (needs python3-msgpack).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import controller  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Daemon:
    """A tacetd on 127.0.0.1 with its own key, state and port."""

    def __init__(self, binary, workdir):
        self.psk = os.urandom(32)
        self.key_file = os.path.join(workdir, "key")
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.psk.hex() + "\n")
        self.log = open(os.path.join(workdir, "tacetd.log"), "w+b")
        self.url = "tcp://127.0.0.1:%d" % free_port()
        self.proc = subprocess.Popen(
            [binary, "--listen", self.url, "--key-file", self.key_file,
             "--state-dir", os.path.join(workdir, "state")],
            stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                controller.Controller.connect(self.url, self.psk, timeout=1.0).close()
                return
            except (OSError, controller.ProtocolError, controller.Goaway) as e:
                if self.proc.poll() is not None:
                    raise AssertionError("tacetd exited with %d: %s" % (self.proc.returncode, self.output()))
                if time.monotonic() > deadline:
                    raise AssertionError("no handshake within %.0f s: %s" % (timeout, e))
                time.sleep(0.05)

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL by PID if it does not exit in time;
        returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(workdir):
    binary = os.environ.get("TACETD_BIN")
    if binary:
        return os.path.abspath(binary)
    binary = os.path.join(workdir, "tacetd")
    subprocess.run(["go", "build", "-o", binary, "./cmd/tacetd"], cwd=REPO, check=True)
    return binary


class ControllerTest(unittest.TestCase):
    daemon = None

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="tacet-controller-")
        cls.daemon = Daemon(find_binary(cls.workdir), cls.workdir)
        try:
            cls.daemon.wait_ready()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        status = cls.daemon.stop()
        out = cls.daemon.output()
        shutil.rmtree(cls.workdir, ignore_errors=True)
        if status != 0:
            raise AssertionError("tacetd exit status %r after SIGTERM, want 0:\n%s" % (status, out))

    def connect(self):
        c = controller.Controller.connect(self.daemon.url, self.daemon.psk, io_timeout=30)
        self.addCleanup(c.close)
        return c

    def test_hkdf_rfc5869(self):
        # RFC 5869, test case 1.
        okm = controller.hkdf_sha256(b"\x0b" * 22, bytes(range(13)), bytes(range(0xf0, 0xfa)), 42)
        self.assertEqual(okm.hex(), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c"
                                    "5db02d56ecc4c5bf34007208d5b887185865")

    def test_run_shell(self):
        c = self.connect()
        out, ex = c.run(["sh", "-c", "echo hello from python; exit 7"])
        self.assertEqual(out, b"hello from python\n")
        self.assertEqual(ex["code"], 7)
        self.assertEqual(ex["sig"], 0)

    def test_non_utf8_argument(self):
        c = self.connect()
        arg = b"\xff\xfe not utf-8 \x80"
        out, ex = c.run([b"printf", b"%s", arg])
        self.assertEqual(out, arg)
        self.assertEqual(ex["code"], 0)

    def test_spawn_failure(self):
        c = self.connect()
        with self.assertRaises(controller.RequestError) as cm:
            c.request("proc.start", controller.start_args(["/nonexistent"]))
        e = cm.exception.error
        self.assertEqual((e["n"], e["d"]["step"], e["d"]["sys"]), ("SPAWN_FAILED", "execve", "ENOENT"))

    def test_wrong_key_refused(self):
        with self.assertRaises(controller.Goaway) as cm:
            controller.Controller.connect(self.daemon.url, os.urandom(32)).close()
        self.assertEqual(cm.exception.error.get("n"), "UNAUTHENTICATED")

    def test_wrong_key_with_right_id_refused(self):
        # The key id matches, so only the proof can give the impostor away.
        with self.assertRaises(controller.Goaway) as cm:
            controller.Controller.connect(self.daemon.url, os.urandom(32),
                                          kid=controller.key_id(self.daemon.psk)).close()
        self.assertEqual(cm.exception.error.get("n"), "UNAUTHENTICATED")

    def test_still_serving(self):
        info = self.connect().request("host.info")
        self.assertIn("proc.start", info["methods"])


def main():
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(ControllerTest)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        print("controller FAILED", file=sys.stderr)
        return 1
    print("controller ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
