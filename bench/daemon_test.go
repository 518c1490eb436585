// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/internal/testproc"
	"gitlab.com/tacet/tacet/netstack"
)

const (
	readyTimeout = 5 * time.Second  // from exec until a handshake succeeds
	stopTimeout  = 10 * time.Second // from SIGTERM until the daemon exits
	startTries   = 3                // a port picked free may be taken meanwhile
)

// daemon is one tacetd started by a benchmark and stopped by its cleanup.
type daemon struct {
	*testproc.Proc
	b    testing.TB
	key  *netstack.Key
	unix string // unix:///PATH
	tcp  string // tcp://127.0.0.1:PORT
	kcp  string // kcp://127.0.0.1:PORT, or "" when not asked for
}

// startDaemon starts tacetd with a fresh key and state directory, a Unix
// socket and a loopback TCP listener, a KCP listener too when withKCP,
// plus extra flags, and waits until a handshake succeeds. tacetd does not
// report the port it got for port 0, so ports are picked here, and a
// daemon that loses the race for one is started again.
func startDaemon(b testing.TB, withKCP bool, extra ...string) *daemon {
	b.Helper()
	bin := tacetd(b)
	dir := b.TempDir()
	key, err := netstack.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	// The daemon refuses a socket in a directory other users may enter.
	if err := os.Chmod(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key")
	if err := key.WriteFile(keyFile); err != nil {
		b.Fatal(err)
	}

	for try := 1; ; try++ {
		d := &daemon{b: b, key: key,
			unix: "unix://" + filepath.Join(dir, "s"+strconv.Itoa(try)+".sock"),
			tcp:  "tcp://127.0.0.1:" + strconv.Itoa(freePort(b, "tcp"))}
		args := []string{"--listen", d.unix, "--listen", d.tcp, "--key-file", keyFile,
			"--state-dir", filepath.Join(dir, "state"+strconv.Itoa(try))}
		if withKCP {
			d.kcp = "kcp://127.0.0.1:" + strconv.Itoa(freePort(b, "udp"))
			args = append(args, "--listen", d.kcp)
		}
		d.launch(bin, append(args, extra...))
		err := d.waitReady()
		if err == nil {
			b.Cleanup(d.stop)
			return d
		}
		d.Kill()
		if try == startTries {
			b.Fatalf("tacetd %v: %v\n%s", args, err, d.Out)
		}
	}
}

func (d *daemon) launch(bin string, args []string) {
	d.b.Helper()
	p, err := testproc.Start(bin, args, nil, nil)
	if err != nil {
		d.b.Fatal(err)
	}
	d.Proc = p
}

// waitReady dials the Unix socket until a handshake succeeds, the daemon
// exits, or readyTimeout passes.
func (d *daemon) waitReady() error {
	return d.WaitReady(readyTimeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		c, err := client.Dial(ctx, d.unix, client.WithKey(d.key), client.WithWho("bench probe"))
		if err == nil {
			c.Close()
		}
		return err
	})
}

// dial connects a controller to addr, closed by the benchmark's cleanup.
func (d *daemon) dial(addr string) *client.Client {
	d.b.Helper()
	return d.dialWith(addr)
}

// dialWith connects to the daemon at addr with extra options.
func (d *daemon) dialWith(addr string, opts ...client.Option) *client.Client {
	d.b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	opts = append([]client.Option{client.WithKey(d.key), client.WithWho("bench")}, opts...)
	c, err := client.Dial(ctx, addr, opts...)
	if err != nil {
		d.b.Fatalf("dial %s: %v", addr, err)
	}
	d.b.Cleanup(func() { c.Close() })
	return c
}

// stop sends SIGTERM and waits; a daemon that does not exit in time is
// killed by its PID.
func (d *daemon) stop() {
	if !d.Term(stopTimeout) {
		d.b.Errorf("tacetd (pid %d) did not exit within %v of SIGTERM; sending SIGKILL", d.PID(), stopTimeout)
		d.Kill()
	}
	if d.Err != nil {
		d.b.Errorf("tacetd exit after SIGTERM: %v\n%s", d.Err, d.Out)
	}
}

// freePort returns a loopback port of network "tcp" or "udp" that was
// free a moment ago.
func freePort(b testing.TB, network string) int {
	b.Helper()
	port, err := testproc.FreePort(network)
	if err != nil {
		b.Fatal(err)
	}
	return port
}
