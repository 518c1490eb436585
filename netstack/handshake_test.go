// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

func welcomeFunc() codec.Welcome {
	return codec.Welcome{Instance: make([]byte, 16), BootID: "boot", Daemon: "test", Host: "h"}
}

func TestHandshake(t *testing.T) {
	key := testKey(t, 1)
	tests := []struct {
		name      string
		listen    string // address given to ParseAddr for Listen
		key       *Key   // daemon's and controller's key
		frameMAC  bool
		transport string
		wantAuth  string
		wantCaps  int
	}{
		{"tcp4", "tcp://127.0.0.1:0", key, false, "tcp", "hmac", 0},
		{"tcp6", "tcp://[::1]:0", key, false, "tcp", "hmac", 0},
		{"tcp4 frame.mac", "127.0.0.1:0", key, true, "tcp", "hmac", 1},
		{"unix abstract", "unix://@tacet-" + t.Name(), key, false, "unix", "hmac", 0},
		{"unix path", "unix://" + t.TempDir() + "/run/tacetd.sock", key, false, "unix", "hmac", 0},
		{"unix no key", "unix://@tacet-nokey-" + t.Name(), nil, false, "unix", "none", 0},
		{"unix frame.mac not granted", "unix://@tacet-mac-" + t.Name(), key, true, "unix", "hmac", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAddr(tt.listen, 0)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := Listen(a, ListenConfig{})
			if tt.name == "tcp6" && err != nil {
				t.Skipf("skipping: cannot listen on ::1: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			s := startServer(t, ln, &ServerConfig{Key: tt.key, Welcome: welcomeFunc, FrameMAC: tt.frameMAC})

			addr := a.String()
			if a.Scheme == SchemeTCP {
				addr = "tcp://" + ln.Addr().String()
			}
			c, err := Dial(context.Background(), addr, &ClientConfig{Key: tt.key, Who: "tester", FrameMAC: tt.frameMAC})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := s.result(); err != nil {
				t.Fatal(err)
			}
			sc := <-s.conns

			w := c.Welcome()
			if w.Auth != tt.wantAuth || len(w.Caps) != tt.wantCaps || w.Host != "h" || w.Version != 1 {
				t.Errorf("welcome = %+v, want auth %s and %d caps", w, tt.wantAuth, tt.wantCaps)
			}
			if p := sc.Peer(); p.Transport != tt.transport || p.Who != "tester" {
				t.Errorf("daemon sees peer %+v", p)
			}
			if tt.transport == "unix" && sc.Peer().UID != os.Getuid() {
				t.Errorf("peer uid %d, want %d", sc.Peer().UID, os.Getuid())
			}
			if tt.transport != "unix" && sc.Peer().UID != -1 {
				t.Errorf("peer uid %d on %s, want -1", sc.Peer().UID, tt.transport)
			}
			echo(t, c, 20)
		})
	}
}

// TestRefused runs handshakes that must fail against one daemon, and a
// good controller after each, which must still be served.
func TestRefused(t *testing.T) {
	key := testKey(t, 1)
	ln := listenTCPTest(t, "127.0.0.1:0")
	s := startServer(t, ln, &ServerConfig{Key: key, FrameMAC: true, HandshakeTimeout: 2 * time.Second})
	addr := "tcp://" + ln.Addr().String()

	// Record a good session's controller bytes for the replay case.
	var recorded [][]byte
	rec := startRelay(t, ln.Addr().String(), func(dir, i int, p []byte) []byte {
		if dir == 0 {
			recorded = append(recorded, append([]byte(nil), p...))
		}
		return p
	})
	good := func(t *testing.T, addr string) {
		t.Helper()
		c, err := Dial(context.Background(), addr, &ClientConfig{Key: key, FrameMAC: true})
		if err != nil {
			t.Fatalf("good controller: %v", err)
		}
		if err := s.result(); err != nil {
			t.Fatalf("daemon on good controller: %v", err)
		}
		echo(t, c, 3)
		c.Close()
	}
	good(t, "tcp://"+rec)

	tests := []struct {
		name       string
		run        func(t *testing.T) error // the controller's side; nil if it has none to check
		code       uint16
		clientCode uint16
		reason     string // in the daemon's error
	}{
		{"wrong key", func(t *testing.T) error {
			_, err := Dial(context.Background(), addr, &ClientConfig{Key: testKey(t, 2)})
			return err
		}, codec.CodeUnauth, codec.CodeUnauth, "key id mismatch"},
		{"no key", func(t *testing.T) error {
			_, err := Dial(context.Background(), addr, &ClientConfig{})
			return err
		}, codec.CodeUnauth, codec.CodeUnauth, "key id mismatch"},
		{"unsupported version", func(t *testing.T) error {
			_, err := Dial(context.Background(), addr, &ClientConfig{Key: key, Versions: [2]uint16{2, 3}})
			if err != nil && !strings.Contains(err.Error(), "daemon speaks 1 to 1") {
				t.Errorf("refusal %q does not give the daemon's range", err)
			}
			return err
		}, codec.CodeUnsupported, codec.CodeUnsupported, "no common protocol version"},
		{"replay", func(t *testing.T) error {
			return replay(t, addr, recorded)
		}, codec.CodeUnauth, codec.CodeUnauth, "client proof does not match"},
		{"reflected daemon proof", func(t *testing.T) error {
			return reflect(t, addr, key)
		}, codec.CodeUnauth, codec.CodeUnauth, "client proof does not match"},
		{"downgrade by relay", func(t *testing.T) error {
			r := startRelay(t, ln.Addr().String(), stripMAC(t))
			_, err := Dial(context.Background(), "tcp://"+r, &ClientConfig{Key: key, FrameMAC: true})
			return err
		}, codec.CodeUnauth, codec.CodeUnauth, "client proof does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(t)
			wantCode(t, err, tt.clientCode, true)
			he := wantCode(t, s.result(), tt.code, false)
			if !strings.Contains(he.Reason, tt.reason) {
				t.Errorf("daemon's reason %q, want %q", he.Reason, tt.reason)
			}
			good(t, addr)
		})
	}
}

// replay sends a recorded controller's frames on a new connection and
// returns the daemon's refusal.
func replay(t *testing.T, addr string, frames [][]byte) error {
	t.Helper()
	if len(frames) < 2 {
		t.Fatalf("recorded %d frames, want HELLO and AUTH at least", len(frames))
	}
	nc, err := net.Dial("tcp", strings.TrimPrefix(addr, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b := append([]byte(nil), codec.Preface[:]...)
	for _, p := range frames {
		b = append(b, rawFrame(p)...)
	}
	nc.Write(b)
	e := readGoaway(t, nc)
	return &HandshakeError{Code: e.Code, Reason: e.Message, Refused: true}
}

// reflect is a controller that holds the key but answers with proofs
// made with the daemon's label: the daemon's proof over this transcript,
// as a reflecting attacker would send it back.
func reflect(t *testing.T, addr string, key *Key) error {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(addr, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	h := newHandshake(nc)
	defer nc.Close()
	hello, herr := newHello(&ClientConfig{Key: key})
	if herr != nil {
		t.Fatal(herr)
	}
	if err := h.fw.WritePreface(); err != nil {
		t.Fatal(err)
	}
	if herr := h.write(codec.KindHello, &hello, &h.t.hello); herr != nil {
		t.Fatal(herr)
	}
	if err := h.fr.ReadPreface(); err != nil {
		t.Fatal(err)
	}
	var w codec.Welcome
	if herr := h.read(codec.KindWelcome, &w, &h.t.welcome); herr != nil {
		t.Fatal(herr)
	}
	// sp covers H(AUTH), unknown before AUTH is written; a reflector can
	// at best replay a daemon proof whose AUTH hash is anything: zero here.
	a := codec.Auth{Proof: key.daemonProof(&h.t)}
	if herr := h.write(codec.KindAuth, &a, &h.t.auth); herr != nil {
		t.Fatal(herr)
	}
	var r codec.Ready
	return h.read(codec.KindReady, &r, new([32]byte))
}

// stripMAC returns a relay hook that removes frame.mac from HELLO.
func stripMAC(t *testing.T) func(dir, i int, p []byte) []byte {
	return func(dir, i int, p []byte) []byte {
		if dir != 0 || i != 0 {
			return p
		}
		_, _, body, err := codec.ParseEnvelope(p)
		if err != nil {
			t.Error(err)
			return p
		}
		var hello codec.Hello
		if err := codec.Unmarshal(body, &hello, "hello"); err != nil {
			t.Error(err)
			return p
		}
		if len(hello.Caps) != 1 {
			t.Errorf("relay saw caps %q, want frame.mac", hello.Caps)
		}
		hello.Caps = []string{}
		out, err := appendMsg(nil, codec.KindHello, &hello)
		if err != nil {
			t.Error(err)
		}
		return out
	}
}

func TestFrameMACTamper(t *testing.T) {
	key := testKey(t, 1)
	ln := listenTCPTest(t, "127.0.0.1:0")
	s := startServer(t, ln, &ServerConfig{Key: key, FrameMAC: true})

	// Flip one byte of the first frame the controller sends after READY.
	r := startRelay(t, ln.Addr().String(), func(dir, i int, p []byte) []byte {
		if dir == 0 && i == 2 {
			p[len(p)/2] ^= 0x20
		}
		return p
	})
	c, err := Dial(context.Background(), "tcp://"+r, &ClientConfig{Key: key, FrameMAC: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := s.result(); err != nil {
		t.Fatal(err)
	}
	sc := <-s.conns
	if !hasCap(sc.Welcome().Caps, codec.CapFrameMAC) {
		t.Fatal("frame.mac not granted")
	}

	// The daemon's echo loop reads the frame; ReadFrame fails and closes,
	// so the controller sees its connection end without an answer.
	if err := c.WriteFrame([]byte("proc.start please")); err != nil {
		t.Fatal(err)
	}
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.ReadFrame()
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("controller read %v, want the connection closed", err)
	}
	var fe *codec.FrameError
	if err := <-s.ended; !errors.As(err, &fe) || fe.Kind != codec.ErrBadMAC {
		t.Fatalf("daemon read %v, want ErrBadMAC", err)
	}
}

// TestFrameMACBadTag checks the error ReadFrame returns for a bad tag,
// on a pipe where the test plays the tampering peer.
func TestFrameMACBadTag(t *testing.T) {
	key := testKey(t, 1)
	ln := listenTCPTest(t, "127.0.0.1:0")
	var got error
	done := make(chan struct{})
	r := startRelay(t, ln.Addr().String(), func(dir, i int, p []byte) []byte {
		if dir == 1 && i == 2 {
			p[0] ^= 1
		}
		return p
	})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			got = err
			return
		}
		c, err := ServerHandshake(nc, &ServerConfig{Key: key, FrameMAC: true})
		if err != nil {
			got = err
			return
		}
		c.WriteFrame([]byte("hello controller"))
		c.ReadFrame()
		c.Close()
	}()
	c, err := Dial(context.Background(), "tcp://"+r, &ClientConfig{Key: key, FrameMAC: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ReadFrame()
	var fe *codec.FrameError
	if !errors.As(err, &fe) || fe.Kind != codec.ErrBadMAC {
		t.Fatalf("ReadFrame = %v, want ErrBadMAC", err)
	}
	if ErrorFor(err) != nil {
		t.Error("ErrorFor a bad tag is not nil: a GOAWAY would be sent")
	}
	if err := c.WriteFrame([]byte("x")); err == nil {
		t.Error("conn still writable after a bad tag")
	}
	<-done
	if got != nil {
		t.Fatal(got)
	}
}
