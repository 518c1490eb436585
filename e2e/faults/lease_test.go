// SPDX-License-Identifier: Apache-2.0

package faults

import (
	"context"
	"testing"
	"time"
)

// TestNetnsLeaseSilentCut starts two processes from an idle controller,
// one with a lease of 2 s, then cuts the controller's link silently (no
// FIN, no RST). The leased one must be killed when its lease runs out,
// long before TCP would give the connection up (20 to 30 s), and the
// other must go on. Before the cut, the controller stays idle for longer
// than the lease: answering the daemon's PINGs must be enough to keep it.
func TestNetnsLeaseSilentCut(t *testing.T) {
	tb := newTestbed(t, "l", 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const lease = 2 * time.Second
	c := tb.mustDial(0)

	a := sh("sleep 60")
	a.Lease = uint64(lease)
	leased, err := c.Start(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	free, err := c.Start(ctx, sh("sleep 60"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(lease + lease/2)
	if pi, err := leased.Status(ctx); err != nil || pi.State != "running" {
		t.Fatalf("the leased process of an idle controller, after %v: %+v, %v", lease+lease/2, pi, err)
	}

	cutAt := time.Now()
	if err := tb.ctl.Cut(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2*lease + time.Second)
	if err := tb.ctl.Restore(); err != nil {
		t.Fatal(err)
	}

	// The connection was only silent: it carries on once the link is back.
	ex, err := leased.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Why != "lease" || ex.Signal != 15 {
		t.Errorf("leased process: exit why %q signal %d, want lease and 15 (SIGTERM)", ex.Why, ex.Signal)
	}
	killed := time.Unix(0, int64(ex.Times.EndReal)).Sub(cutAt)
	t.Logf("the lease of %v ended the process %v after the cut", lease, killed.Round(time.Millisecond))
	// The silence began up to a third of a lease before the cut, at the
	// last PONG; the check runs every third of a lease; 2 s more are for
	// a loaded machine, still far from TCP's 20 s.
	if killed < lease/2 || killed > lease+lease/3+2*time.Second {
		t.Errorf("the lease of %v ended the process %v after the cut", lease, killed)
	}
	if pi, err := free.Status(ctx); err != nil || pi.State != "running" {
		t.Errorf("the process without a lease, after the cut: %+v, %v", pi, err)
	}
	if err := free.Signal(ctx, 9, true); err != nil {
		t.Fatal(err)
	}
	if ex, err := free.Wait(ctx); err != nil || ex.Why != "tree" {
		t.Errorf("the process without a lease, killed: %+v, %v", ex, err)
	}
}
