// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/netstack"
)

// fakeHost listens on loopback and serves every connection with a
// fakeDaemon that answers proc.start with handle 1 and then an exit of
// code; it returns the host:port.
func fakeHost(t *testing.T, code uint8, pongOff time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var daemons []*fakeDaemon
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, d := range daemons {
			d.conn.Close()
			<-d.done
		}
	})
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conn, err := netstack.ServerHandshake(nc, &netstack.ServerConfig{Key: testKey})
			if err != nil {
				nc.Close()
				continue
			}
			d := &fakeDaemon{t: t, conn: conn, reqs: make(chan fakeReq, 64),
				credits: make(chan fakeCredit, 1024), done: make(chan struct{}), pongOff: pongOff}
			mu.Lock()
			daemons = append(daemons, d)
			mu.Unlock()
			go d.readLoop()
			go d.serveStarts(code)
		}
	}()
	return ln.Addr().String()
}

// serveStarts answers start, wait and signal requests until the
// connection ends.
func (d *fakeDaemon) serveStarts(code uint8) {
	for {
		select {
		case r := <-d.reqs:
			switch r.method {
			case codec.MethodStart:
				d.respond(r.id, &codec.StartResult{Handle: 1, PID: 10, New: true, State: "running"})
			case codec.MethodWait:
				d.respond(r.id, &codec.Exit{K: codec.EventExit, Handle: 1, PID: 10, Code: code})
			case codec.MethodSignal:
				// Sent right at the instant asked, which is in the
				// daemon's clock, pongOff ahead of ours.
				var a codec.SignalArgs
				codec.Unmarshal(r.args, &a, r.method)
				d.respond(r.id, &codec.SignalResult{Real: a.At})
			default:
				d.respond(r.id, empty{})
			}
		case <-d.done:
			return
		}
	}
}

// silentHost accepts connections and never writes: a daemon that hangs.
func silentHost(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
		}
	}()
	return ln.Addr().String()
}

// deadHost returns a loopback port on which nothing listens.
func deadHost(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestGroupPerHostResults(t *testing.T) {
	addrs := []string{
		fakeHost(t, 0, 0),
		deadHost(t),
		fakeHost(t, 3, 2*time.Second),
		silentHost(t),
	}
	const timeout = 300 * time.Millisecond
	ctx := context.Background()

	begin := time.Now()
	g := DialGroup(ctx, addrs, GroupConfig{Timeout: timeout, Options: []Option{WithKey(testKey)}})
	defer g.Close()
	if d := time.Since(begin); d > 10*timeout {
		t.Errorf("DialGroup took %v with a timeout of %v", d, timeout)
	}
	for i, wantErr := range []bool{false, true, false, true} {
		var de *DialError
		if err := g.Err(i); (err != nil) != wantErr || (wantErr && !errors.As(err, &de)) {
			t.Errorf("host %d (%s): dial error %v, want error %v", i, addrs[i], err, wantErr)
		}
	}
	if g.Connected() != 2 {
		t.Errorf("Connected() = %d, want 2", g.Connected())
	}
	if !errors.Is(g.Err(1), syscall.ECONNREFUSED) {
		t.Errorf("dead host: %v, want ECONNREFUSED", g.Err(1))
	}

	args := &codec.StartArgs{Argv: [][]byte{[]byte("true")}}
	procs, errs := g.Start(ctx, func(int) *codec.StartArgs { return args })
	if errs[0] != nil || errs[2] != nil || procs[0] == nil || procs[2] == nil {
		t.Fatalf("Start: %v", errs)
	}
	if errs[1] != g.Err(1) || procs[1] != nil {
		t.Errorf("Start on the dead host: %v, want its dial error", errs[1])
	}

	exits, errs := g.Wait(ctx, procs)
	if errs[0] != nil || errs[2] != nil || exits[0].Code != 0 || exits[2].Code != 3 {
		t.Fatalf("Wait: %v, %+v %+v", errs, exits[0], exits[2])
	}
	if errs[3] == nil {
		t.Error("Wait on the silent host: no error")
	}
	if err := g.Signal(ctx, []*Process{nil, nil, procs[2]}, syscall.SIGTERM, true); err[2] != nil ||
		!errors.Is(err[0], ErrNoProcess) {
		t.Errorf("Signal: %v", err)
	}

	ests, errs := g.EstimateClocks(ctx, Burst{Count: 4, Spacing: time.Millisecond})
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("EstimateClocks: %v", errs)
	}

	// A signal at one instant: host 2's daemon is asked for the instant
	// by its own clock, 2 s ahead, and its send is converted back.
	at := time.Now().Add(time.Hour)
	sent, errs := g.SignalAt(ctx, procs, syscall.SIGTERM, true, at, ests)
	if errs[0] != nil || errs[2] != nil || errs[3] == nil {
		t.Fatalf("SignalAt: %v", errs)
	}
	for _, i := range []int{0, 2} {
		if d := sent[i].Sub(at).Abs(); d > 0 {
			t.Errorf("host %d: sent %v away from the instant, want the instant itself", i, d)
		}
	}
	if off := ests[2].Offset(); off < time.Second || off > 3*time.Second {
		t.Errorf("offset of host 2: %v, want about 2s", off)
	}
	if ests[0].Samples != 4 || ests[0].MinRTT > ests[0].MedianRTT || ests[0].ErrorBound() != ests[0].MinRTT/2 {
		t.Errorf("estimate of host 0: %+v", ests[0])
	}
}

// TestGroupFanoutBounds checks that no more than Fanout dials are in
// flight: with a fanout of 1 and two silent hosts, the dials run one
// after the other.
func TestGroupFanoutBounds(t *testing.T) {
	addrs := []string{silentHost(t), silentHost(t)}
	const timeout = 200 * time.Millisecond
	begin := time.Now()
	g := DialGroup(context.Background(), addrs, GroupConfig{Fanout: 1, Timeout: timeout,
		Options: []Option{WithKey(testKey)}})
	defer g.Close()
	if d := time.Since(begin); d < 2*timeout {
		t.Errorf("two dials with fanout 1 took %v, less than two timeouts of %v", d, timeout)
	}
	for i := range addrs {
		if g.Err(i) == nil {
			t.Errorf("host %d: dialled a silent host", i)
		}
	}
}

// TestGroupHostOptions checks that HostOptions reach one host's Dial
// only: a WithDialer for a name that does not resolve carries that
// host's connection elsewhere, under the name it was given.
func TestGroupHostOptions(t *testing.T) {
	real := fakeHost(t, 0, 0)
	const alias = "tunnelled.invalid:7340"
	addrs := []string{fakeHost(t, 0, 0), alias}
	var dialled []string
	g := DialGroup(context.Background(), addrs, GroupConfig{Fanout: 1, Options: []Option{WithKey(testKey)},
		HostOptions: func(addr string) []Option {
			dialled = append(dialled, addr)
			if addr != alias {
				return nil
			}
			return []Option{WithDialer(func(ctx context.Context) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", real)
			})}
		}})
	defer g.Close()
	if g.Connected() != 2 {
		t.Fatalf("Connected() = %d, want 2: %v %v", g.Connected(), g.Err(0), g.Err(1))
	}
	if got := g.Client(1).Addr(); got != alias {
		t.Errorf("the redirected host is named %q, want %q", got, alias)
	}
	if len(dialled) != 2 || dialled[0] != addrs[0] || dialled[1] != alias {
		t.Errorf("HostOptions called for %q, want each address once", dialled)
	}
}
