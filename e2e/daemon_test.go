// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/internal/testproc"
	"gitlab.com/tacet/tacet/netstack"
)

const (
	readyTimeout = 5 * time.Second  // from exec until a handshake succeeds
	stopTimeout  = 10 * time.Second // from SIGTERM until the daemon exits
	startTries   = 3                // a port picked free may be taken meanwhile
)

// daemon is one tacetd started by a test, stopped by its cleanup.
type daemon struct {
	*testproc.Proc
	t        testing.TB
	key      *netstack.Key
	tcp      string // tcp://127.0.0.1:PORT
	unix     string // unix:///PATH or unix://@NAME
	stateDir string
	env      []string // added to the daemon's environment, for launchBin
}

// sockSeq makes abstract socket names unique within the test binary.
var sockSeq atomic.Int64

// startDaemon starts tacetd with a fresh key, a fresh state directory, a
// loopback TCP listener and a Unix socket, plus extra flags, and waits
// until a handshake succeeds. tacetd does not report the port it got for
// tcp://127.0.0.1:0, so a port is picked by the test: a listener on port
// 0 is opened and closed, and a daemon that loses the race for it is
// started again on another.
func startDaemon(t testing.TB, extra ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	key, err := netstack.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key")
	if err := key.WriteFile(keyFile); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock", "tacetd.sock")
	if len(sock) > 100 { // sun_path holds 108 bytes
		sock = "@tacet-e2e-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(sockSeq.Add(1), 10)
	}

	for try := 1; ; try++ {
		d := &daemon{t: t, key: key, unix: "unix://" + sock,
			tcp:      "tcp://127.0.0.1:" + strconv.Itoa(freePort(t)),
			stateDir: filepath.Join(dir, "state"+strconv.Itoa(try))}
		args := append([]string{"--listen", d.tcp, "--listen", d.unix, "--key-file", keyFile,
			"--state-dir", d.stateDir}, extra...)
		d.launch(args)
		err := d.waitReady()
		if err == nil {
			t.Cleanup(d.stop)
			return d
		}
		d.Kill()
		if try == startTries {
			t.Fatalf("tacetd %s: %v\n%s", strings.Join(args, " "), err, d.Out)
		}
		t.Logf("tacetd try %d: %v; trying another port", try, err)
	}
}

func (d *daemon) launch(args []string) {
	d.t.Helper()
	d.launchBin(tacetdBin, args)
}

// launchBin is launch with another binary than the -race daemon. A
// daemon launched again, after a crash, writes on in the same Out.
func (d *daemon) launchBin(bin string, args []string) {
	d.t.Helper()
	var out *testproc.Buffer
	if d.Proc != nil {
		out = d.Out
	}
	p, err := testproc.Start(bin, args, d.env, out)
	if err != nil {
		d.t.Fatal(err)
	}
	d.Proc = p
}

// waitReady dials until a handshake succeeds, the daemon exits, or
// readyTimeout passes.
func (d *daemon) waitReady() error {
	return d.WaitReady(readyTimeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		c, err := netstack.Dial(ctx, d.tcp, &netstack.ClientConfig{Key: d.key, Who: "e2e probe"})
		if err == nil {
			c.Close()
		}
		return err
	})
}

// stop sends SIGTERM and checks that the daemon exits 0 in time, without
// a race report, leaving no process behind (its --on-exit is kill); it
// kills the daemon by PID if it does not exit.
func (d *daemon) stop() {
	d.t.Helper()
	left := stampPIDs(descendants(d.PID()))
	if !d.Term(stopTimeout) {
		d.t.Errorf("tacetd (pid %d) did not exit within %v of SIGTERM; sending SIGKILL", d.PID(), stopTimeout)
		d.Kill()
	}
	if d.Err != nil {
		d.t.Errorf("tacetd exit after SIGTERM: %v", d.Err)
	}
	if alive := survivors(left, 5*time.Second); len(alive) > 0 {
		d.t.Errorf("%d processes of tacetd outlive it by 5 s: %s", len(alive), strings.Join(first(alive, 10), ", "))
	}
	if out := d.Out.String(); strings.Contains(out, "DATA RACE") || strings.Contains(out, "panic:") {
		d.t.Errorf("tacetd reported a race or a panic")
	}
	if d.t.Failed() {
		d.t.Logf("tacetd output:\n%s", d.Out)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := testproc.FreePort("tcp")
	if err != nil {
		t.Fatal(err)
	}
	return port
}
