// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"context"
	"net"
	"testing"
)

// TestFramesDoNotAllocate measures a frame's round trip after the
// handshake, both sides included: the daemon's echo loop runs in the
// same process.
func TestFramesDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("skipping: the race detector changes allocation counts")
	}
	key := testKey(t, 1)
	tests := []struct {
		name string
		ln   func(t *testing.T) (net.Listener, string)
		max  float64 // allocations allowed per round trip
	}{
		{"tcp frame.mac", func(t *testing.T) (net.Listener, string) {
			ln := listenTCPTest(t, "127.0.0.1:0")
			return ln, "tcp://" + ln.Addr().String()
		}, 0},
		{"unix", func(t *testing.T) (net.Listener, string) {
			ln, err := Listen(Addr{Scheme: SchemeUnix, Path: "@tacet-" + t.Name()}, ListenConfig{})
			if err != nil {
				t.Fatal(err)
			}
			return ln, "unix://@tacet-" + t.Name()
		}, 0},
		// kcp-go itself allocates for every packet it receives (the
		// listener keys its sessions by addr.String(), recvmmsg parses
		// each source address, segments come from a pool that allocates
		// on Put); measured 26 for a round trip, none of them ours. The
		// bound keeps the count from growing unnoticed.
		{"kcp", func(t *testing.T) (net.Listener, string) {
			return listenKCPTest(t, key)
		}, 32},
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
			p := make([]byte, 512)
			echo(t, c, 3)
			n := testing.AllocsPerRun(200, func() {
				if err := c.WriteFrame(p); err != nil {
					t.Fatal(err)
				}
				if _, err := c.ReadFrame(); err != nil {
					t.Fatal(err)
				}
			})
			if n > tt.max {
				t.Errorf("%.1f allocations per round trip, want at most %v", n, tt.max)
			}
			t.Logf("%.1f allocations per round trip", n)
		})
	}
}
