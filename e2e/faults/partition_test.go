// SPDX-License-Identifier: Apache-2.0

package faults

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/internal/testproc"
)

// stampLoop prints 200 numbered lines with the time each was printed, 50
// ms apart: about 11 s in all.
const stampLoop = `for i in $(seq 200); do echo $i $(date +%s%N); sleep 0.05; done`

// maxStall bounds the time between two consecutive lines of stampLoop. It
// is generous, for a loaded machine: what it must catch is a child held
// up by the partition, which would stall it for most of its 5 s.
const maxStall = time.Second

// TestNetnsPartition runs stampLoop on three hosts, cuts them all off
// from the controller for 5 s in the middle of the run, and checks that
// the children did not notice (their stamps show no stall) and that the
// controller, following each output through a Redialer, has all 200
// lines of each host exactly once after the links return.
//
// TCP outlives a 5 s cut, so two of the connections simply resume. The
// first host's is closed on the controller's side during the cut, as
// when TCP gives up on a longer one, so that its Follow has to dial
// again through the cut and subscribe again from where it was.
func TestNetnsPartition(t *testing.T) {
	tb := newTestbed(t, "p", 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	outs := make([]*testproc.Buffer, len(tb.nodes))
	follows := make(chan error, len(tb.nodes))
	handles := make([]uint64, len(tb.nodes))
	reds := make([]*client.Redialer, len(tb.nodes))
	conns := make([]atomic.Int32, len(tb.nodes))
	for i := range tb.nodes {
		reds[i] = tb.redialer(i, &conns[i])
		c, err := reds[i].Client(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Start(ctx, sh(stampLoop))
		if err != nil {
			t.Fatal(err)
		}
		handles[i], outs[i] = p.Handle, &testproc.Buffer{}
		go func() {
			dial := func() (*client.Client, error) { return reds[i].Client(ctx) }
			follows <- client.Follow(ctx, dial, p.Handle, codec.Stdout, 0, outs[i])
		}()
	}

	// Cut in the middle of the run, once every host has been heard from.
	waitFor(t, 10*time.Second, "40 lines from every host", func() bool {
		for _, o := range outs {
			if o.Lines() < 40 {
				return false
			}
		}
		return true
	})
	cutAt := time.Now()
	for _, nd := range tb.nodes {
		if err := nd.Cut(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	during := lineCounts(outs)
	if c, err := reds[0].Client(ctx); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
	time.Sleep(4 * time.Second)
	if got := lineCounts(outs); got != during {
		t.Errorf("lines reached the controller through the cut: %v a second in, %v at its end", during, got)
	}
	restoredAt := time.Now()
	for _, nd := range tb.nodes {
		if err := nd.Restore(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("cut for %v with %v lines received", restoredAt.Sub(cutAt).Round(time.Millisecond), during)

	for range tb.nodes {
		if err := <-follows; err != nil {
			t.Fatalf("follow: %v", err)
		}
	}
	for i, nd := range tb.nodes {
		c, err := reds[i].Client(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := c.Process(handles[i]).Wait(ctx)
		if err != nil || ex.Code != 0 || ex.Signal != 0 {
			t.Errorf("%s: exit %+v, %v", nd.Name, ex, err)
		}
		checkStamps(t, nd.Name, outs[i].String(), cutAt, restoredAt)
	}
	if n := conns[0].Load(); n < 2 {
		t.Errorf("the first host's output was followed over %d connection, want a second one after the close", n)
	}
	t.Logf("connections per host: %d, %d, %d", conns[0].Load(), conns[1].Load(), conns[2].Load())
}

// checkStamps checks that out is stampLoop's 200 lines, each once and in
// order, with no stall between two, and that the run spanned the cut.
func checkStamps(t *testing.T, host, out string, cutAt, restoredAt time.Time) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 200 {
		t.Errorf("%s: %d lines, want 200; first %q", host, len(lines), lines[0])
		return
	}
	var stamps []time.Time
	for i, l := range lines {
		var n, ns int64
		if _, err := fmt.Sscanf(l, "%d %d", &n, &ns); err != nil || n != int64(i+1) {
			t.Errorf("%s: line %d is %q, want %d and a stamp", host, i+1, l, i+1)
			return
		}
		stamps = append(stamps, time.Unix(0, ns))
	}
	var worst time.Duration
	for i := 1; i < len(stamps); i++ {
		worst = max(worst, stamps[i].Sub(stamps[i-1]))
	}
	t.Logf("%s: 200 lines over %v, longest step %v", host, stamps[199].Sub(stamps[0]).Round(time.Millisecond),
		worst.Round(time.Millisecond))
	if worst > maxStall {
		t.Errorf("%s: the child stalled for %v between two lines", host, worst)
	}
	if !stamps[0].Before(cutAt) || !stamps[199].After(restoredAt) {
		t.Errorf("%s: the run (%v to %v) did not span the cut (%v to %v)", host,
			stamps[0].Format(time.StampMilli), stamps[199].Format(time.StampMilli),
			cutAt.Format(time.StampMilli), restoredAt.Format(time.StampMilli))
	}
}

// lineCounts returns the lines each buffer holds, as one comparable string.
func lineCounts(bufs []*testproc.Buffer) string {
	var s []string
	for _, b := range bufs {
		s = append(s, strconv.Itoa(b.Lines()))
	}
	return strings.Join(s, ",")
}

// waitFor polls cond every 20 ms until it holds, failing after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
