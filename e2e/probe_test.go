// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"net"
	"strconv"
	"testing"

	"gitlab.com/tacet/tacet/codec"
)

// TestProbe connects, through the daemon, to a port that listens and to
// one that does not, and sends the arguments it must refuse.
func TestProbe(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now; a moment later, something does

	var r codec.ProbeResult
	c.mustCall(codec.MethodProbe, &codec.ProbeArgs{Port: uint16(port), Host: "127.0.0.1"}, &r)
	if r.OK || r.Sys != "ECONNREFUSED" || r.Errno != 111 || r.Why == "" {
		t.Errorf("probe of a closed port: %+v, want ECONNREFUSED", r)
	}

	ln, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Skipf("port %d was taken meanwhile: %v", port, err)
	}
	defer ln.Close()
	r = codec.ProbeResult{}
	c.mustCall(codec.MethodProbe, &codec.ProbeArgs{Port: uint16(port)}, &r)
	if !r.OK || r.Errno != 0 || r.Dur == 0 {
		t.Errorf("probe of a listening port through localhost: %+v, want ok", r)
	}

	for _, tc := range []struct {
		a     codec.ProbeArgs
		field string
	}{
		{codec.ProbeArgs{}, "port"},
		{codec.ProbeArgs{Port: 1, Timeout: 11e9}, "timeout"},
		{codec.ProbeArgs{Port: 1, Host: string(make([]byte, 256))}, "host"},
	} {
		cerr := c.call(codec.MethodProbe, &tc.a, nil)
		if cerr == nil || cerr.Code != codec.CodeBadArgs || cerr.Detail.Field != tc.field {
			t.Errorf("probe %+v: %v, want BAD_ARGS on %s", tc.a, cerr, tc.field)
		}
	}
}

// TestSignalAtEnded schedules a signal for a process that ends before
// the instant: the response comes at the instant, and says so.
func TestSignalAtEnded(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	r := c.start(&codec.StartArgs{Argv: argv("true")})
	at := realNow() + 300e6
	var res codec.SignalResult
	cerr := c.call(codec.MethodSignal, &codec.SignalArgs{Handle: r.Handle, Signal: 15, At: at}, &res)
	if cerr == nil || cerr.Code != codec.CodeWrongState {
		t.Errorf("signal at an instant after the exit: %v %+v, want WRONG_STATE", cerr, res)
	}
	if now := realNow(); now < at {
		t.Errorf("answered %v before the instant", at-now)
	}

	r = c.start(&codec.StartArgs{Argv: argv("sleep", "30")})
	at = realNow() + 100e6
	c.mustCall(codec.MethodSignal, &codec.SignalArgs{Handle: r.Handle, Signal: 9, At: at}, &res)
	if res.Real < at || res.Mono == 0 {
		t.Errorf("signal sent at %d, before the instant %d", res.Real, at)
	}
	if ex := c.waitExit(r.Handle, eventTimeout); ex.Signal != 9 || ex.Times.EndReal < at {
		t.Errorf("exit %+v: want SIGKILL, reaped after the instant", ex)
	}

	// To the tree: its exit says a tree signal ended it.
	r = c.start(sh("sleep 30 & sleep 30; wait"))
	at = realNow() + 100e6
	c.mustCall(codec.MethodSignal, &codec.SignalArgs{Handle: r.Handle, Signal: 15, Tree: true, At: at}, &res)
	if res.Real < at {
		t.Errorf("tree signal sent at %d, before the instant %d", res.Real, at)
	}
	if ex := c.waitExit(r.Handle, eventTimeout); ex.Signal != 15 || ex.Why != "tree" || ex.Times.EndReal < at {
		t.Errorf("exit %+v: want SIGTERM, why tree, reaped after the instant", ex)
	}
}
