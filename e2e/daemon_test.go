// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/netstack"
)

const (
	readyTimeout = 5 * time.Second  // from exec until a handshake succeeds
	stopTimeout  = 10 * time.Second // from SIGTERM until the daemon exits
	startTries   = 3                // a port picked free may be taken meanwhile
)

// daemon is one tacetd started by a test, stopped by its cleanup.
type daemon struct {
	t        testing.TB
	key      *netstack.Key
	tcp      string // tcp://127.0.0.1:PORT
	unix     string // unix:///PATH or unix://@NAME
	stateDir string
	cmd      *exec.Cmd
	out      *syncBuffer // stdout and stderr together
	exited   chan struct{}
	waitErr  error    // valid once exited is closed
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
		d := &daemon{t: t, key: key, unix: "unix://" + sock, out: &syncBuffer{},
			tcp:      "tcp://127.0.0.1:" + strconv.Itoa(freePort(t)),
			stateDir: filepath.Join(dir, "state"+strconv.Itoa(try)), exited: make(chan struct{})}
		args := append([]string{"--listen", d.tcp, "--listen", d.unix, "--key-file", keyFile,
			"--state-dir", d.stateDir}, extra...)
		d.launch(args)
		err := d.waitReady()
		if err == nil {
			t.Cleanup(d.stop)
			return d
		}
		d.kill()
		if try == startTries {
			t.Fatalf("tacetd %s: %v\n%s", strings.Join(args, " "), err, d.out)
		}
		t.Logf("tacetd try %d: %v; trying another port", try, err)
	}
}

func (d *daemon) launch(args []string) {
	d.t.Helper()
	d.cmd = exec.Command(tacetdBin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.WaitDelay = 2 * time.Second
	// Should the test binary die, the daemon is told to stop rather than
	// left behind with its children.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("start tacetd: %v", err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()
}

// waitReady dials until a handshake succeeds, the daemon exits, or
// readyTimeout passes.
func (d *daemon) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		c, err := netstack.Dial(ctx, d.tcp, &netstack.ClientConfig{Key: d.key, Who: "e2e probe"})
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-d.exited:
			return errors.New("exited before answering: " + errString(d.waitErr))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("no handshake within " + readyTimeout.String() + ": " + err.Error())
		}
	}
}

// stop sends SIGTERM and checks that the daemon exits 0 in time, without
// a race report, leaving no process behind (its --on-exit is kill); it
// kills the daemon by PID if it does not exit.
func (d *daemon) stop() {
	d.t.Helper()
	left := stampPIDs(descendants(d.pid()))
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(stopTimeout):
		d.t.Errorf("tacetd (pid %d) did not exit within %v of SIGTERM; sending SIGKILL", d.pid(), stopTimeout)
		d.kill()
	}
	if d.waitErr != nil {
		d.t.Errorf("tacetd exit after SIGTERM: %v", d.waitErr)
	}
	if alive := survivors(left, 5*time.Second); len(alive) > 0 {
		d.t.Errorf("%d processes of tacetd outlive it by 5 s: %s", len(alive), strings.Join(first(alive, 10), ", "))
	}
	if out := d.out.String(); strings.Contains(out, "DATA RACE") || strings.Contains(out, "panic:") {
		d.t.Errorf("tacetd reported a race or a panic")
	}
	if d.t.Failed() {
		d.t.Logf("tacetd output:\n%s", d.out)
	}
}

// kill ends the daemon with SIGKILL, by PID only, and waits for it.
func (d *daemon) kill() {
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Kill()
	<-d.exited
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// running reports whether the daemon has not exited.
func (d *daemon) running() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func errString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// syncBuffer is a bytes.Buffer that the daemon's output copier and the
// test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
