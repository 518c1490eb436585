// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"context"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTCPOptions checks the socket options of accepted and dialed TCP
// connections: the kernel watches their liveness, not a timer of ours.
func TestTCPOptions(t *testing.T) {
	ln := listenTCPTest(t, "127.0.0.1:0")
	defer ln.Close()
	a, _ := ParseAddr(ln.Addr().String(), 0)
	dialed, err := DialRaw(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	accepted, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer accepted.Close()

	want := []struct {
		name       string
		level, opt int
		value      int
	}{
		{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15},
		{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 5},
		{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 3},
		{"TCP_USER_TIMEOUT", unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 20000},
	}
	for side, nc := range map[string]net.Conn{"accepted": accepted, "dialed": dialed} {
		rc, err := nc.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			var v int
			var gerr error
			rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), w.level, w.opt) })
			if gerr != nil || v != w.value {
				t.Errorf("%s: %s = %d (%v), want %d", side, w.name, v, gerr, w.value)
			}
		}
	}
}
