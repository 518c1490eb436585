// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// TestPreAuth sends what a daemon must refuse before READY, then checks
// that a good controller is still served.
func TestPreAuth(t *testing.T) {
	key := testKey(t, 1)
	ln := listenTCPTest(t, "127.0.0.1:0")
	s := startServer(t, ln, &ServerConfig{Key: key, HandshakeTimeout: 200 * time.Millisecond})

	dial := func(t *testing.T) net.Conn {
		t.Helper()
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return nc
	}

	t.Run("frame over 4096 bytes", func(t *testing.T) {
		nc := dial(t)
		b := append([]byte(nil), codec.Preface[:]...)
		b = binary.BigEndian.AppendUint32(b, codec.PreAuthMaxFrame+1)
		nc.Write(append(b, make([]byte, 100)...))
		if e := readGoaway(t, nc); e.Code != codec.CodeLimit {
			t.Errorf("GOAWAY %v, want LIMIT", e)
		}
		wantClosed(t, nc, 2*time.Second)
		wantCode(t, s.result(), codec.CodeLimit, false)
	})
	t.Run("http", func(t *testing.T) {
		nc := dial(t)
		start := time.Now()
		nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		wantClosed(t, nc, 2*time.Second)
		if d := time.Since(start); d > time.Second {
			t.Errorf("closed after %v, want at once", d)
		}
		wantCode(t, s.result(), codec.CodeProtocol, false)
	})
	t.Run("silence", func(t *testing.T) {
		nc := dial(t)
		start := time.Now()
		wantClosed(t, nc, 3*time.Second)
		if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
			t.Errorf("closed after %v, want about 200ms", d)
		}
		wantCode(t, s.result(), codec.CodeTimeout, false)
	})
	t.Run("silence after preface", func(t *testing.T) {
		nc := dial(t)
		nc.Write(codec.Preface[:])
		if e := readGoaway(t, nc); e.Code != codec.CodeTimeout {
			t.Errorf("GOAWAY %v, want TIMEOUT", e)
		}
		wantCode(t, s.result(), codec.CodeTimeout, false)
	})
	t.Run("request before ready", func(t *testing.T) {
		nc := dial(t)
		b := append([]byte(nil), codec.Preface[:]...)
		req, _ := codec.AppendRequest(nil, 1, codec.MethodList, nil)
		nc.Write(append(b, rawFrame(req)...))
		if e := readGoaway(t, nc); e.Code != codec.CodeProtocol {
			t.Errorf("GOAWAY %v, want PROTOCOL", e)
		}
		wantCode(t, s.result(), codec.CodeProtocol, false)
	})

	c, err := Dial(context.Background(), "tcp://"+ln.Addr().String(), &ClientConfig{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := s.result(); err != nil {
		t.Fatal(err)
	}
	echo(t, c, 2)
}

// TestNoKeyOnTCP checks that a daemon without a key refuses TCP peers,
// and that a controller refuses a daemon offering auth "none" on TCP.
func TestNoKeyOnTCP(t *testing.T) {
	t.Run("daemon", func(t *testing.T) {
		ln := listenTCPTest(t, "127.0.0.1:0")
		s := startServer(t, ln, &ServerConfig{})
		_, err := Dial(context.Background(), "tcp://"+ln.Addr().String(), &ClientConfig{})
		wantCode(t, err, codec.CodeUnauth, true)
		wantCode(t, s.result(), codec.CodeUnauth, false)
	})
	t.Run("controller", func(t *testing.T) {
		a, b := tcpPair(t)
		go fakeNoneDaemon(b)
		_, err := ClientHandshake(a, &ClientConfig{Key: testKey(t, 1)})
		he := wantCode(t, err, codec.CodeUnauth, false)
		t.Log(he)
	})
}

// fakeNoneDaemon answers a HELLO with a WELCOME offering auth "none",
// which only a daemon on a Unix socket may do.
func fakeNoneDaemon(nc net.Conn) {
	defer nc.Close()
	fr := codec.NewFrameReader(nc, codec.PreAuthMaxFrame)
	fw := codec.NewFrameWriter(nc)
	fw.WritePreface()
	if fr.ReadPreface() != nil {
		return
	}
	if _, err := fr.Next(); err != nil {
		return
	}
	w := codec.Welcome{Version: 1, Caps: []string{}, Auth: authNone, Nonce: make([]byte, nonceLen),
		MaxFrame: codec.DefaultMaxFrame}
	b, _ := appendMsg(fw.Begin(), codec.KindWelcome, &w)
	fw.End(b)
	fr.Next()
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestGate(t *testing.T) {
	g := &Gate{Max: 2}
	for i := range 2 {
		if !g.Acquire() {
			t.Fatalf("gate refused the %dth, below its limit", i+1)
		}
	}
	if g.Acquire() {
		t.Fatal("gate admitted a third")
	}
	g.Release()
	if !g.Acquire() {
		t.Fatal("gate refused after a release")
	}

	var zero Gate
	for i := range DefaultGateMax {
		if !zero.Acquire() {
			t.Fatalf("zero gate refused the %dth", i+1)
		}
	}
	if zero.Acquire() {
		t.Fatal("zero gate admitted more than DefaultGateMax")
	}
}

// TestGateServer holds two silent connections against a daemon admitting
// two, and checks that a third is closed at once while they wait.
func TestGateServer(t *testing.T) {
	ln := listenTCPTest(t, "127.0.0.1:0")
	s := startGatedServer(t, ln, &ServerConfig{Key: testKey(t, 1), HandshakeTimeout: 3 * time.Second}, &Gate{Max: 2})

	var held []net.Conn
	for range 2 {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		// The daemon writes its preface once the handshake has started.
		var pre [8]byte
		nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := nc.Read(pre[:]); err != nil {
			t.Fatal(err)
		}
		held = append(held, nc)
	}
	third, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	start := time.Now()
	wantClosed(t, third, 2*time.Second)
	if d := time.Since(start); d > time.Second {
		t.Errorf("third connection closed after %v, want at once", d)
	}

	for _, nc := range held {
		nc.Close()
	}
	for range 2 {
		wantCode(t, s.result(), codec.CodeProtocol, false)
	}
	c, err := Dial(context.Background(), "tcp://"+ln.Addr().String(), &ClientConfig{Key: testKey(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestFlood sends 500 junk UDP packets from as many source ports to a
// KCP listener, and opens 200 TCP connections that never finish the
// preface (half are silent, half send 4 of its 8 bytes), against one
// daemon whose TCP and KCP listeners share a Gate. Connections beyond
// the Gate must be closed at once, the rest at the handshake deadline;
// then good controllers are served on both transports, and once they
// close no goroutine is left.
func TestFlood(t *testing.T) {
	key := testKey(t, 1)
	const deadline = 300 * time.Millisecond
	cfg := &ServerConfig{Key: key, HandshakeTimeout: deadline}
	gate := &Gate{}
	tcpLn := listenTCPTest(t, "127.0.0.1:0")
	kcpLn, kcpAddr := listenKCPTest(t, key)
	tcpSrv := startGatedServer(t, tcpLn, cfg, gate)
	kcpSrv := startGatedServer(t, kcpLn, cfg, gate)
	tcpAddr := "tcp://" + tcpLn.Addr().String()

	// A first KCP session starts kcp-go's process-wide goroutines, which
	// are not ours to count.
	goodRound(t, kcpSrv, kcpAddr, key)
	goodRound(t, tcpSrv, tcpAddr, key)
	time.Sleep(100 * time.Millisecond)
	base := runtime.NumGoroutine()

	before := kcpSrv.accepts.Load()
	junkUDP(t, kcpLn.Addr().String(), 500)
	closed := halfOpen(t, tcpLn.Addr().String(), 200)
	slices.Sort(closed)
	quick := 200 - DefaultGateMax
	if d := closed[quick-1]; d > deadline/2 {
		t.Errorf("the %d connections beyond the gate took up to %v to be closed, want at once", quick, d)
	}
	if d := closed[len(closed)-1]; d > deadline+time.Second {
		t.Errorf("a held connection was closed after %v, handshake deadline %v", d, deadline)
	}
	t.Logf("closed: the first %d within %v, all within %v", quick, closed[quick-1], closed[len(closed)-1])

	if n := kcpSrv.accepts.Load() - before; n != 0 {
		t.Errorf("%d KCP sessions accepted from junk", n)
	}
	goodRound(t, kcpSrv, kcpAddr, key)
	goodRound(t, tcpSrv, tcpAddr, key)
	if n := settle(base, 5*time.Second); n > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after the flood, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
	for _, s := range []*testServer{tcpSrv, kcpSrv} {
		if n := s.settleOpen(2 * time.Second); n != 0 {
			t.Errorf("%d connections still open on %s", n, s.ln.Addr())
		}
	}
}

// settleOpen waits up to d for the server's connections to end, and
// returns how many are left.
func (s *testServer) settleOpen(d time.Duration) int {
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		n := len(s.open)
		s.mu.Unlock()
		if n == 0 || time.Now().After(deadline) {
			return n
		}
	}
}

// goodRound connects a controller to addr, echoes, and closes both ends.
func goodRound(t *testing.T, s *testServer, addr string, key *Key) {
	t.Helper()
	c, err := Dial(context.Background(), addr, &ClientConfig{Key: key})
	if err != nil {
		t.Fatalf("good controller on %s: %v", addr, err)
	}
	for {
		// Skip the outcomes of the flood's handshakes.
		if err := s.result(); err == nil {
			break
		}
	}
	echo(t, c, 2)
	c.Close()
	// KCP tells the daemon nothing when a controller closes: its side
	// would wait for the liveness timeout of cmd/tacetd, so close it here.
	// A packet of the controller still on its way after that would open
	// a new session, which fails its handshake at the deadline.
	(<-s.conns).Close()
}

// junkUDP sends n packets of random bytes to addr, each from a new port.
func junkUDP(t *testing.T, addr string, n int) {
	t.Helper()
	buf := make([]byte, 1400)
	for i := range n {
		u, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		m := 24 + i%(len(buf)-24)
		rand.Read(buf[:m])
		u.Write(buf[:m])
		u.Close()
	}
}

// halfOpen opens n TCP connections to addr that never complete the
// preface, and returns how long after it was opened the daemon closed
// each.
func halfOpen(t *testing.T, addr string, n int) []time.Duration {
	t.Helper()
	closed := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if i%2 == 1 {
			nc.Write(codec.Preface[:4])
		}
		wg.Go(func() {
			defer nc.Close()
			nc.SetReadDeadline(start.Add(5 * time.Second))
			io.Copy(io.Discard, nc)
			closed[i] = time.Since(start)
		})
	}
	wg.Wait()
	return closed
}
