// SPDX-License-Identifier: Apache-2.0

package faults

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/internal/testproc"
	"gitlab.com/tacet/tacet/netstack"
	"gitlab.com/tacet/tacet/netstack/netns"
)

// port is where every daemon of a testbed listens, on its host's address.
const port = 7340

// testbed is a bridge with a controller host, "c" at 198.18.1.100, and
// daemon hosts h1, h2, ... at 198.18.1.1, .2, ..., each running a tacetd
// that shares the testbed's key.
type testbed struct {
	t       *testing.T
	ctl     *netns.Host
	key     *netstack.Key
	keyFile string
	nodes   []*node
}

// node is one daemon host.
type node struct {
	*netns.Host
	url string // tcp://ADDR:7340
	cmd *exec.Cmd
	log *testproc.Buffer // what tacetd wrote to stderr
}

// newTestbed makes the bridge and n daemon hosts, tag naming its
// namespaces, and starts their daemons with the extra flags.
func newTestbed(t *testing.T, tag string, n int, extra ...string) *testbed {
	t.Helper()
	br := netns.NewBridge(t, tag)
	tb := &testbed{t: t, ctl: br.AddHost("c", "198.18.1.100/24")}
	var err error
	if tb.key, err = netstack.GenerateKey(); err != nil {
		t.Fatal(err)
	}
	tb.keyFile = filepath.Join(t.TempDir(), "key")
	if err := tb.key.WriteFile(tb.keyFile); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		h := br.AddHost(fmt.Sprintf("h%d", i), fmt.Sprintf("198.18.1.%d/24", i))
		tb.nodes = append(tb.nodes, tb.startNode(h, extra))
	}
	return tb
}

// startNode runs tacetd in h and waits for its startup line. Cleanup
// stops it with SIGTERM, then SIGKILL after 5 s; it kills what it runs.
func (tb *testbed) startNode(h *netns.Host, extra []string) *node {
	t := tb.t
	t.Helper()
	nd := &node{Host: h, url: fmt.Sprintf("tcp://%s:%d", h.Addr, port), log: &testproc.Buffer{}}
	args := append([]string{"--key-file", tb.keyFile, "--state-dir", filepath.Join(t.TempDir(), "state"),
		"--listen", nd.url, "--on-exit", "kill"}, extra...)
	nd.cmd = exec.Command(tacetdBin, args...)
	stderr, err := nd.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(nd.cmd); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		// Read to the end, so that the daemon never blocks on stderr.
		sc := bufio.NewScanner(stderr)
		once := sync.OnceFunc(func() { close(started) })
		for sc.Scan() {
			fmt.Fprintln(nd.log, sc.Text())
			if strings.Contains(sc.Text(), "tacetd started") {
				once()
			}
		}
		waited <- nd.cmd.Wait()
	}()
	t.Cleanup(func() {
		nd.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
			t.Errorf("tacetd in %s still running 5 s after SIGTERM; killing it", h.Name)
			nd.cmd.Process.Kill()
			<-waited
		}
		if t.Failed() {
			t.Logf("tacetd in %s:\n%s", h.Name, nd.log)
		}
	})
	select {
	case <-started:
	case err := <-waited:
		waited <- err
		t.Fatalf("tacetd in %s exited before it started: %v\n%s", h.Name, err, nd.log)
	case <-time.After(10 * time.Second):
		t.Fatalf("tacetd in %s did not start within 10 s\n%s", h.Name, nd.log)
	}
	return nd
}

// dial connects from the controller host to node i.
func (tb *testbed) dial(ctx context.Context, i int) (*client.Client, error) {
	var c *client.Client
	err := tb.ctl.Do(func() error {
		var err error
		c, err = client.Dial(ctx, tb.nodes[i].url, client.WithKey(tb.key),
			client.WithWho(tb.t.Name()), client.WithTimeout(5*time.Second))
		return err
	})
	return c, err
}

// mustDial is dial that fails the test; the client is closed at cleanup.
func (tb *testbed) mustDial(i int) *client.Client {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := tb.dial(ctx, i)
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Cleanup(func() { c.Close() })
	return c
}

// redialer returns a Redialer to node i that keeps trying for a minute,
// closed at cleanup. It counts its connections in *conns.
func (tb *testbed) redialer(i int, conns *atomic.Int32) *client.Redialer {
	dial := func(ctx context.Context) (*client.Client, error) {
		c, err := tb.dial(ctx, i)
		if err == nil {
			conns.Add(1)
		}
		return c, err
	}
	r := &client.Redialer{Dial: dial, Attempts: 30, Within: time.Minute}
	tb.t.Cleanup(func() { r.Close() })
	return r
}

// sh returns the start arguments of /bin/sh -c script.
func sh(script string) *codec.StartArgs {
	return &codec.StartArgs{Argv: [][]byte{[]byte("/bin/sh"), []byte("-c"), []byte(script)}}
}
