// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// testKey returns a fixed key made from seed.
func testKey(t *testing.T, seed byte) *Key {
	t.Helper()
	k, err := ParseKey([]byte(strings.Repeat(string("0123456789abcdef"[seed%16]), 64)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testServer accepts connections, runs the handshake on each and echoes
// every frame of those that pass.
type testServer struct {
	t    *testing.T
	ln   net.Listener
	cfg  *ServerConfig
	gate *Gate

	results chan error     // one per handshake: nil or its error
	conns   chan *Conn     // connections that passed the handshake
	ended   chan error     // the error that ended each echo loop
	wg      sync.WaitGroup // accept loop and connection goroutines
	accepts atomic.Int64   // connections accepted
	mu      sync.Mutex
	open    map[net.Conn]bool // guarded by mu
}

func startServer(t *testing.T, ln net.Listener, cfg *ServerConfig) *testServer {
	t.Helper()
	return startGatedServer(t, ln, cfg, nil)
}

// startGatedServer is startServer with a Gate before each handshake.
func startGatedServer(t *testing.T, ln net.Listener, cfg *ServerConfig, gate *Gate) *testServer {
	t.Helper()
	s := &testServer{
		t: t, ln: ln, cfg: cfg, gate: gate,
		results: make(chan error, 1024),
		conns:   make(chan *Conn, 1024),
		ended:   make(chan error, 1024),
		open:    make(map[net.Conn]bool),
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepts.Add(1)
		if s.gate != nil && !s.gate.Acquire() {
			nc.Close()
			continue
		}
		s.track(nc, true)
		s.wg.Add(1)
		go s.serve(nc)
	}
}

func (s *testServer) track(nc net.Conn, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if open {
		s.open[nc] = true
	} else {
		delete(s.open, nc)
	}
}

func (s *testServer) serve(nc net.Conn) {
	defer s.wg.Done()
	defer s.track(nc, false)
	c, err := ServerHandshake(nc, s.cfg)
	if s.gate != nil {
		s.gate.Release()
	}
	s.results <- err
	if err != nil {
		return
	}
	defer c.Close()
	s.conns <- c
	for {
		p, err := c.ReadFrame()
		if err != nil {
			s.ended <- err
			return
		}
		if err := c.WriteFrame(p); err != nil {
			return
		}
	}
}

func (s *testServer) stop() {
	s.ln.Close()
	s.mu.Lock()
	for nc := range s.open {
		nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// result returns the outcome of the next handshake.
func (s *testServer) result() error {
	s.t.Helper()
	select {
	case err := <-s.results:
		return err
	case <-time.After(10 * time.Second):
		s.t.Fatal("no handshake finished within 10 s")
		return nil
	}
}

// wantCode fails unless err is a *HandshakeError of code.
func wantCode(t *testing.T, err error, code uint16, refused bool) *HandshakeError {
	t.Helper()
	var he *HandshakeError
	if !errors.As(err, &he) {
		t.Fatalf("got %v, want a HandshakeError %s", err, codec.CodeName(code))
	}
	if he.Code != code || he.Refused != refused {
		t.Fatalf("got %v (code %s, refused %v), want code %s, refused %v",
			err, codec.CodeName(he.Code), he.Refused, codec.CodeName(code), refused)
	}
	return he
}

// echo writes n frames on c and checks that each comes back.
func echo(t *testing.T, c *Conn, n int) {
	t.Helper()
	for i := range n {
		want := bytes.Repeat([]byte{byte(i)}, 1+i*97)
		if err := c.WriteFrame(want); err != nil {
			t.Fatalf("write frame %d: %v", i, err)
		}
		got, err := c.ReadFrame()
		if err != nil {
			t.Fatalf("read frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d came back as %d bytes, want %d", i, len(got), len(want))
		}
	}
}

// rawFrame returns a frame with payload p.
func rawFrame(p []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(p)))
	return append(b, p...)
}

// readGoaway reads the daemon's preface and frames from nc until a
// GOAWAY, and returns its error.
func readGoaway(t *testing.T, nc net.Conn) *codec.Error {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	fr := codec.NewFrameReader(nc, codec.PreAuthMaxFrame)
	if err := fr.ReadPreface(); err != nil {
		t.Fatalf("read daemon preface: %v", err)
	}
	for range 8 {
		p, err := fr.Next()
		if err != nil {
			t.Fatalf("read until GOAWAY: %v", err)
		}
		kind, _, body, err := codec.ParseEnvelope(p)
		if err != nil {
			t.Fatal(err)
		}
		if kind == codec.KindGoaway {
			var g codec.Goaway
			if err := codec.Unmarshal(body, &g, "goaway"); err != nil {
				t.Fatal(err)
			}
			return &g.Err
		}
	}
	t.Fatal("no GOAWAY in 8 frames")
	return nil
}

// wantClosed fails unless the peer closes nc within d.
func wantClosed(t *testing.T, nc net.Conn, d time.Duration) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(d))
	if _, err := io.Copy(io.Discard, nc); err != nil && !errors.Is(err, net.ErrClosed) &&
		!strings.Contains(err.Error(), "reset by peer") {
		t.Fatalf("connection not closed by the peer within %v: %v", d, err)
	}
}

// relay forwards connections to target, parsing the frames of each
// direction and passing each payload through hook, which may change it.
// dir is 0 from client to daemon, 1 back; i counts frames from 0.
type relay struct {
	ln     net.Listener
	target string
	hook   func(dir, i int, p []byte) []byte
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn // guarded by mu
}

func startRelay(t *testing.T, target string, hook func(dir, i int, p []byte) []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target, hook: hook}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(func() {
		ln.Close()
		r.mu.Lock()
		for _, c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return ln.Addr().String()
}

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		a, err := r.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", r.target)
		if err != nil {
			a.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, a, b)
		r.mu.Unlock()
		r.wg.Add(2)
		go r.pump(0, a, b)
		go r.pump(1, b, a)
	}
}

func (r *relay) pump(dir int, src, dst net.Conn) {
	defer r.wg.Done()
	defer dst.Close()
	defer src.Close()
	var pre [8]byte
	if _, err := io.ReadFull(src, pre[:]); err != nil {
		return
	}
	if _, err := dst.Write(pre[:]); err != nil {
		return
	}
	for i := 0; ; i++ {
		var hdr [4]byte
		if _, err := io.ReadFull(src, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > codec.HardMaxFrame {
			return
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(src, p); err != nil {
			return
		}
		if _, err := dst.Write(rawFrame(r.hook(dir, i, p))); err != nil {
			return
		}
	}
}

func listenTCPTest(t *testing.T, host string) net.Listener {
	t.Helper()
	ln, err := Listen(Addr{Scheme: SchemeTCP, Host: host}, ListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
