// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"context"
	"crypto/rand"
	"net"
	"runtime"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

func listenKCPTest(t *testing.T, key *Key) (net.Listener, string) {
	t.Helper()
	ln, err := Listen(Addr{Scheme: SchemeKCP, Host: "127.0.0.1:0"}, ListenConfig{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return ln, "kcp://" + ln.Addr().String()
}

func TestKCPHandshake(t *testing.T) {
	key := testKey(t, 1)
	ln, addr := listenKCPTest(t, key)
	s := startServer(t, ln, &ServerConfig{Key: key, FrameMAC: true, Welcome: welcomeFunc})

	c, err := Dial(context.Background(), addr, &ClientConfig{Key: key, Who: "kcp tester", FrameMAC: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := s.result(); err != nil {
		t.Fatal(err)
	}
	sc := <-s.conns
	if p := sc.Peer(); p.Transport != SchemeKCP || p.UID != -1 || p.Who != "kcp tester" {
		t.Errorf("daemon sees peer %+v", p)
	}
	if len(c.Welcome().Caps) != 0 {
		t.Errorf("caps %q granted on kcp, whose packets are sealed already", c.Welcome().Caps)
	}
	echo(t, c, 30)

	// Frames larger than the MTU are split and joined by KCP.
	big := make([]byte, 200<<10)
	rand.Read(big)
	if err := c.WriteFrame(big); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadFrame()
	if err != nil || len(got) != len(big) {
		t.Fatalf("big frame: %d bytes, %v", len(got), err)
	}
}

// TestKCPIdle checks the switch between the short and the long update
// interval: a tick that saw only a few bytes (a handshake, a keepalive)
// goes idle, a small write leaves an idle session idle, and a large one
// makes it active until a quiet tick.
func TestKCPIdle(t *testing.T) {
	key := testKey(t, 1)
	ln, addr := listenKCPTest(t, key)
	s := startServer(t, ln, &ServerConfig{Key: key})
	c, err := Dial(context.Background(), addr, &ClientConfig{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := s.result(); err != nil {
		t.Fatal(err)
	}

	if !c.kcp.isActive() {
		t.Fatal("new session is idle")
	}
	if c.Tick(); c.kcp.isActive() {
		t.Fatal("active after a tick that saw only the handshake")
	}
	echo(t, c, 1) // one byte each way, like a keepalive
	if c.kcp.isActive() {
		t.Fatal("a small write made an idle session active")
	}
	echo(t, c, 8) // the largest frame is 680 bytes
	if !c.kcp.isActive() {
		t.Fatal("idle after a large write")
	}
	if quiet := c.Tick(); !c.kcp.isActive() || quiet > time.Second {
		t.Fatalf("after a busy tick: active %v, quiet for %v", c.kcp.isActive(), quiet)
	}
	if c.Tick(); c.kcp.isActive() {
		t.Fatal("active after a quiet tick")
	}
}

// TestKCPJunk sends 500 packets of garbage, each from a new source port,
// and checks that none becomes a session, then that a good controller
// is still served.
func TestKCPJunk(t *testing.T) {
	key := testKey(t, 1)
	ln, addr := listenKCPTest(t, key)
	s := startServer(t, ln, &ServerConfig{Key: key, HandshakeTimeout: 300 * time.Millisecond})

	target, err := net.ResolveUDPAddr("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1400)
	for i := range 500 {
		u, err := net.DialUDP("udp", nil, target)
		if err != nil {
			t.Fatal(err)
		}
		n := 24 + i%(len(buf)-24)
		rand.Read(buf[:n])
		u.Write(buf[:n])
		u.Close()
	}

	// Any session made would be accepted at once and end at the 300 ms
	// handshake deadline.
	time.Sleep(600 * time.Millisecond)
	if n := s.accepts.Load(); n != 0 {
		t.Fatalf("%d sessions accepted from junk", n)
	}

	c, err := Dial(context.Background(), addr, &ClientConfig{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := s.result(); err != nil {
		t.Fatal(err)
	}
	echo(t, c, 3)
}

// TestKCPWrongKey checks that a controller with another key cannot even
// reach the handshake: its packets do not open.
func TestKCPWrongKey(t *testing.T) {
	ln, addr := listenKCPTest(t, testKey(t, 1))
	s := startServer(t, ln, &ServerConfig{Key: testKey(t, 1)})
	_, err := Dial(context.Background(), addr, &ClientConfig{Key: testKey(t, 2), Timeout: 300 * time.Millisecond})
	wantCode(t, err, codec.CodeTimeout, false)
	if n := s.accepts.Load(); n != 0 {
		t.Errorf("%d sessions accepted from a wrong key", n)
	}
	if _, err := Listen(Addr{Scheme: SchemeKCP, Host: "127.0.0.1:0"}, ListenConfig{}); err == nil {
		t.Error("kcp listener without a key")
	}
}

// TestKCPNoGoroutinesLeft runs sessions, a failed handshake and a closed
// listener, and checks that every goroutine they started ends. kcp-go's
// process-wide scheduler and workers are started by a first round.
func TestKCPNoGoroutinesLeft(t *testing.T) {
	key := testKey(t, 1)
	round := func() {
		ln, addr := listenKCPTest(t, key)
		s := startServer(t, ln, &ServerConfig{Key: key, HandshakeTimeout: 300 * time.Millisecond})
		var conns []*Conn
		for range 3 {
			c, err := Dial(context.Background(), addr, &ClientConfig{Key: key})
			if err != nil {
				t.Fatal(err)
			}
			echo(t, c, 2)
			conns = append(conns, c)
		}
		_, err := Dial(context.Background(), addr, &ClientConfig{Key: testKey(t, 3), Timeout: 200 * time.Millisecond})
		wantCode(t, err, codec.CodeTimeout, false)
		for _, c := range conns {
			c.Close()
		}
		s.stop()
	}
	round()
	time.Sleep(200 * time.Millisecond) // let the first round's goroutines end
	base := runtime.NumGoroutine()

	round()
	if n := settle(base, 5*time.Second); n > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after closing, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

// settle waits up to d, in steps of 10 ms, for the number of goroutines
// to fall to want, and returns the last count.
func settle(want int, d time.Duration) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(d); n > want && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

// isActive reports whether the short interval is set, for tests.
func (k *kcpConn) isActive() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.active
}
