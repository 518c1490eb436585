// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// daemonBin returns $TACETD_BIN, or a tacetd built for the test.
func daemonBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("TACETD_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "tacetd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tacetd: %v\n%s", err, out)
	}
	return bin
}

// The daemon started as a systemd notify service says READY=1 once its
// listeners accept controllers, STOPPING=1 when it is told to stop, and
// does not hand $NOTIFY_SOCKET down to the processes it starts.
func TestSdNotify(t *testing.T) {
	// An abstract socket named after the test, as systemd's own may be.
	name := "@tacet-" + t.Name() + "-" + time.Now().Format("150405.000000")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil { // the daemon wants its socket's directory private
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "tacetd.sock")
	cmd := exec.Command(daemonBin(t), "--listen", "unix://"+sock, "--state-dir", filepath.Join(dir, "state"))
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+name)
	var log strings.Builder
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("tacetd log:\n%s", log.String())
		}
	}()

	if got := readState(t, ln); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Ready means ready: the first dial after READY=1 must be served.
	c, err := client.Dial(ctx, "unix://"+sock, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("dial right after READY=1: %v", err)
	}
	p, err := c.Start(ctx, &codec.StartArgs{Argv: [][]byte{[]byte("/bin/sh"), []byte("-c"),
		[]byte(`[ -z "${NOTIFY_SOCKET+set}" ]`)}})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Code != 0 || ex.Signal != 0 {
		t.Errorf("a started process sees $NOTIFY_SOCKET (exit code %d, signal %d)", ex.Code, ex.Signal)
	}
	c.Close()

	cmd.Process.Signal(syscall.SIGTERM)
	if got := readState(t, ln); got != "STOPPING=1" {
		t.Errorf("notification on SIGTERM %q, want STOPPING=1", got)
	}
}

// readState reads one datagram from ln, waiting at most 10 s.
func readState(t *testing.T, ln *net.UnixConn) string {
	t.Helper()
	ln.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 256)
	n, err := ln.Read(buf)
	if err != nil {
		t.Fatalf("read from NOTIFY_SOCKET: %v", err)
	}
	return string(buf[:n])
}
