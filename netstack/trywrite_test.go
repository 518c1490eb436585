// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"bytes"
	"context"
	"net"
	"testing"
)

// TestTryWriteFrames writes frames with TryWriteFrames on a Unix socket,
// where it writes them raw, and on TCP with frame MACs, where it must
// leave them to the writer; the echo server sends them back.
func TestTryWriteFrames(t *testing.T) {
	key := testKey(t, 1)
	tests := []struct {
		name string
		ln   func(t *testing.T) (net.Listener, string)
		raw  bool
	}{
		{"unix", func(t *testing.T) (net.Listener, string) {
			ln, err := Listen(Addr{Scheme: SchemeUnix, Path: "@tacet-" + t.Name()}, ListenConfig{})
			if err != nil {
				t.Fatal(err)
			}
			return ln, "unix://@tacet-" + t.Name()
		}, true},
		{"tcp frame.mac", func(t *testing.T) (net.Listener, string) {
			ln := listenTCPTest(t, "127.0.0.1:0")
			return ln, "tcp://" + ln.Addr().String()
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, addr := tt.ln(t)
			s := startServer(t, ln, &ServerConfig{Key: key, FrameMAC: true})
			c, err := Dial(context.Background(), addr, &ClientConfig{Key: key, FrameMAC: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := s.result(); err != nil {
				t.Fatal(err)
			}

			p := bytes.Repeat([]byte{7}, 300)
			frames := append(rawFrame(p), rawFrame(p[:5])...)
			sent, err := c.TryWriteFrames(frames)
			if err != nil || sent != tt.raw {
				t.Fatalf("TryWriteFrames = %v, %v; want %v, nil", sent, err, tt.raw)
			}
			if !sent {
				return
			}
			for _, want := range [][]byte{p, p[:5]} {
				got, err := c.ReadFrame()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("echo: %d bytes, %v; want %d bytes", len(got), err, len(want))
				}
			}
			if raceEnabled {
				return // the race detector changes allocation counts
			}
			n := testing.AllocsPerRun(100, func() {
				if ok, err := c.TryWriteFrames(frames[:4+len(p)]); !ok || err != nil {
					t.Fatalf("TryWriteFrames = %v, %v", ok, err)
				}
				if _, err := c.ReadFrame(); err != nil {
					t.Fatal(err)
				}
			})
			if n != 0 {
				t.Errorf("%.1f allocations per frame", n)
			}
		})
	}
}
