// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"context"
	"encoding/binary"
	"net"
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
