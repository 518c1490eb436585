// SPDX-License-Identifier: Apache-2.0

package netns_test

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/netstack/netns"
)

// TestNetnsBridgeCut checks the bridge: two hosts talk over TCP; while
// one is cut, what the other writes does not arrive and neither socket
// hears an error; once restored, TCP delivers it.
func TestNetnsBridgeCut(t *testing.T) {
	br := netns.NewBridge(t, "b")
	a := br.AddHost("a", "198.18.7.1/24")
	b := br.AddHost("b", "198.18.7.2/24")

	var ln net.Listener
	if err := b.Do(func() (err error) { ln, err = net.Listen("tcp", b.Addr+":7000"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var ca net.Conn
	if err := a.Do(func() (err error) {
		ca, err = net.DialTimeout("tcp", b.Addr+":7000", 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	roundTrip(t, ca, cb, "before")

	if err := b.Cut(); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Write([]byte("during")); err != nil {
		t.Fatalf("write during the cut: %v", err)
	}
	cb.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	buf := make([]byte, 16)
	if n, err := cb.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read during the cut: %q, %v; want nothing and a timeout", buf[:n], err)
	}
	if err := b.Restore(); err != nil {
		t.Fatal(err)
	}
	cb.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(cb, buf[:6]); err != nil || string(buf[:6]) != "during" {
		t.Fatalf("after the restore: %q, %v", buf[:6], err)
	}
	roundTrip(t, cb, ca, "after")
}

// roundTrip writes msg on from and reads it on to.
func roundTrip(t *testing.T, from, to net.Conn, msg string) {
	t.Helper()
	if _, err := from.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	to.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(to, buf); err != nil || string(buf) != msg {
		t.Fatalf("read %q, %v; want %q", buf, err, msg)
	}
}

// TestNetnsBridgeGateway checks Attach and Forward: a host of one bridge
// attached to a second reaches the hosts of both, and routes between
// them only once it forwards.
func TestNetnsBridgeGateway(t *testing.T) {
	outer, inner := netns.NewBridge(t, "go"), netns.NewBridge(t, "gi")
	a := outer.AddHost("a", "198.18.8.1/24")
	gw := outer.AddHost("g", "198.18.8.2/24")
	gwIn := inner.Attach(gw.NS, "eth1", "198.18.9.1/24")
	c := inner.AddHost("c", "198.18.9.2/24")
	for _, err := range []error{
		a.IP("route", "add", "198.18.9.0/24", "via", gw.Addr),
		c.IP("route", "add", "default", "via", gwIn.Addr),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	var ln net.Listener
	if err := c.Do(func() (err error) { ln, err = net.Listen("tcp", c.Addr+":7000"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	dial := func(from *netns.Host) error {
		return from.Do(func() error {
			conn, err := net.DialTimeout("tcp", c.Addr+":7000", time.Second)
			if err == nil {
				conn.Close()
			}
			return err
		})
	}

	if err := dial(gw); err != nil {
		t.Fatalf("gateway to c on its second bridge: %v", err)
	}
	if err := dial(a); err == nil {
		t.Fatal("a reached c through a gateway that does not forward")
	}
	if err := gw.Forward(); err != nil {
		t.Fatal(err)
	}
	if err := dial(a); err != nil {
		t.Errorf("a to c through the gateway: %v", err)
	}
	if err := gwIn.Cut(); err != nil {
		t.Fatal(err)
	}
	if err := dial(a); err == nil {
		t.Error("a reached c with the gateway's port on the second bridge cut")
	}
}
