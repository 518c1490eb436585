// SPDX-License-Identifier: Apache-2.0

package core

import (
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// startLeased starts `sleep 30` from tc with a lease and returns its handle.
func startLeased(t *testing.T, tc *testClient, lease time.Duration) uint64 {
	t.Helper()
	a := &codec.StartArgs{Argv: [][]byte{[]byte("sleep"), []byte("30")}, Lease: uint64(lease)}
	r, cerr := tc.call(codec.MethodStart, a)
	if cerr != nil {
		t.Fatal(cerr)
	}
	var sr codec.StartResult
	if err := codec.Unmarshal(r, &sr, "start"); err != nil {
		t.Fatal(err)
	}
	return sr.Handle
}

// TestLeaseSilentOwner: an owner whose connection stays open but which
// answers nothing, as across a network cut, loses its leased process
// when the lease runs out, after the daemon has pinged it.
func TestLeaseSilentOwner(t *testing.T) {
	e, owner := newTestEngine(t, Config{})
	w := connect(t, e)
	const lease = 300 * time.Millisecond
	began := time.Now() // the owner's silence counts from its start request
	h := startLeased(t, owner, lease)

	r, cerr := w.call(codec.MethodWait, &codec.HandleArgs{Handle: h})
	if cerr != nil {
		t.Fatal(cerr)
	}
	took := time.Since(began)
	var ex codec.Exit
	if err := codec.Unmarshal(r, &ex, "exit"); err != nil {
		t.Fatal(err)
	}
	if ex.Why != "lease" || ex.Signal != 15 {
		t.Errorf("exit why %q signal %d, want lease and 15 (SIGTERM)", ex.Why, ex.Signal)
	}
	if took < lease || took > 5*time.Second {
		t.Errorf("a lease of %v ended the process after %v", lease, took)
	}

	pinged := false
	for len(owner.frames) > 0 && !pinged {
		kind, _, _ := owner.next()
		pinged = kind == codec.KindPing
	}
	if !pinged {
		t.Error("the daemon ended the process without pinging its silent owner")
	}
}

// TestLeaseLiveOwner: an owner that says nothing but answers the
// daemon's PINGs keeps its leased process well past the lease.
func TestLeaseLiveOwner(t *testing.T) {
	e, owner := newTestEngine(t, Config{})
	w := connect(t, e)
	const lease = 300 * time.Millisecond
	h := startLeased(t, owner, lease)

	pings := 0
	for end := time.After(5 * lease); ; {
		select {
		case f := <-owner.frames:
			kind, id, body, err := codec.ParseEnvelope(f)
			if err != nil || kind != codec.KindPing {
				continue
			}
			pings++
			var p codec.Ping
			codec.Unmarshal(body, &p, "ping")
			pong, _ := (&codec.Pong{T1: p.T1}).MarshalMsg(codec.AppendEnvelope(nil, codec.KindPong, id))
			if err := owner.c.WriteFrame(pong); err != nil {
				t.Fatal(err)
			}
			continue
		case <-end:
		}
		break
	}
	r, cerr := w.call(codec.MethodStatus, &codec.HandleArgs{Handle: h})
	if cerr != nil {
		t.Fatal(cerr)
	}
	var pi codec.ProcInfo
	codec.Unmarshal(r, &pi, "status")
	if pi.State != stateRunning {
		t.Fatalf("after %v of answered pings the process is %s (%+v), want running", 5*lease, pi.State, pi.Exit)
	}
	if pings < 3 {
		t.Errorf("the daemon sent %d PINGs in five leases, want one per third of a lease", pings)
	}
	w.call(codec.MethodSignal, &codec.SignalArgs{Handle: h, Signal: 9, Tree: true})
}
