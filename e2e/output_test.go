// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// seqLines is the count of `seq 1 N` in the output tests.
const seqLines = 5000000

var seqOnce = sync.OnceValue(func() []byte { return seqText(seqLines) })

// seqText returns what `seq 1 n` prints, generated here rather than by
// running seq, so that the expectation does not depend on the program
// under test.
func seqText(n int) []byte {
	b := make([]byte, 0, 8*n)
	for i := 1; i <= n; i++ {
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, '\n')
	}
	return b
}

// readTo reads subscription sub from offset from until the offset
// reaches stop or the stream ends, granting the bytes of each event
// again. It fails on a gap or on an event that does not continue the
// previous one.
func (c *client) readTo(sub uint32, from, stop uint64, timeout time.Duration) (data []byte, eos bool) {
	c.t.Helper()
	off := from
	deadline := time.Now().Add(timeout)
	for off < stop {
		ev, err := c.next(subBox(sub), time.Until(deadline))
		if err != nil {
			c.t.Fatalf("subscription %d at offset %d: %v", sub, off, err)
		}
		switch {
		case ev.out != nil:
			if ev.out.Offset != off {
				c.t.Fatalf("out event at offset %d, want %d", ev.out.Offset, off)
			}
			data = append(data, ev.out.Data...)
			off += uint64(len(ev.out.Data))
			if err := c.credit(sub, uint64(len(ev.out.Data))); err != nil {
				c.t.Fatal(err)
			}
		case ev.gap != nil:
			c.t.Fatalf("gap [%d, %d) %s: bytes lost", ev.gap.From, ev.gap.To, ev.gap.Why)
		case ev.eos != nil:
			if ev.eos.Length != off {
				c.t.Fatalf("eos at length %d after offset %d", ev.eos.Length, off)
			}
			return data, true
		}
	}
	return data, false
}

// drainNow returns the out bytes queued for sub without waiting for more.
func (c *client) drainNow(sub uint32, off uint64) []byte {
	c.t.Helper()
	var data []byte
	for {
		ev, err := c.next(subBox(sub), 100*time.Millisecond)
		if err != nil {
			return data
		}
		if ev.out == nil || ev.out.Offset != off+uint64(len(data)) {
			c.t.Fatalf("unexpected event %s at offset %d", ev.name, off+uint64(len(data)))
		}
		data = append(data, ev.out.Data...)
	}
}

// checkSeq compares what was received with seq's output, by length and
// SHA-256, and checks the exit record of process h.
func checkSeq(t *testing.T, c *client, h uint64, got []byte) {
	t.Helper()
	want := seqOnce()
	if len(got) != len(want) || sha256.Sum256(got) != sha256.Sum256(want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("received %d bytes, want %d; first difference at offset %d", len(got), len(want), i)
	}
	ex := c.procWait(h, 60*time.Second)
	if ex.Code != 0 || len(ex.Lengths) < 1 || ex.Lengths[0] != uint64(len(want)) {
		t.Errorf("exit code %d len %v, want 0 and %d", ex.Code, ex.Lengths, len(want))
	}
}

func seqArgs() *codec.StartArgs {
	return &codec.StartArgs{Argv: argv("seq", "1", strconv.Itoa(seqLines))}
}

// TestSeqOutput checks that output never loses a byte, whether the
// controller reads at once, stalls, or keeps reconnecting.
func TestSeqOutput(t *testing.T) {
	d := startDaemon(t)
	const all = ^uint64(0)

	t.Run("fast reader", func(t *testing.T) {
		c := dial(t, d, d.tcp)
		r := c.start(seqArgs())
		sub := c.subscribe(r.Handle, codec.Stdout, 0, 0)
		got, _ := c.readTo(sub.Sub, 0, all, 60*time.Second)
		checkSeq(t, c, r.Handle, got)
	})

	t.Run("slow reader with small credit", func(t *testing.T) {
		c := dial(t, d, d.tcp)
		r := c.start(seqArgs())
		const credit = 64 << 10
		sub := c.subscribe(r.Handle, codec.Stdout, 0, credit)
		time.Sleep(scaled(3*time.Second, 10*time.Second))
		early := c.drainNow(sub.Sub, 0)
		if len(early) > credit+64<<10 {
			t.Errorf("%d bytes sent on a credit of %d", len(early), credit)
		}
		if err := c.credit(sub.Sub, 1<<20); err != nil {
			t.Fatal(err)
		}
		rest, _ := c.readTo(sub.Sub, uint64(len(early)), all, 60*time.Second)
		checkSeq(t, c, r.Handle, append(early, rest...))
	})

	t.Run("reader that reconnects", func(t *testing.T) {
		starter := dial(t, d, d.tcp)
		r := starter.start(seqArgs())
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, 0))
		total := uint64(len(seqOnce()))
		var drops []uint64
		for range 1 + rng.IntN(8) { // at most 9 drops, so at most 10 connections
			drops = append(drops, rng.Uint64N(total))
		}
		slices.Sort(drops)

		var got []byte
		for _, stop := range append(drops, all) {
			c := dial(t, d, d.tcp)
			sub := c.subscribe(r.Handle, codec.Stdout, uint64(len(got)), 0)
			if sub.Start != uint64(len(got)) {
				t.Fatalf("subscription from %d starts at %d", len(got), sub.Start)
			}
			data, _ := c.readTo(sub.Sub, uint64(len(got)), stop, 60*time.Second)
			got = append(got, data...)
			c.close()
		}
		checkSeq(t, starter, r.Handle, got)
	})
}

// TestStalledSubscriber checks that a subscription without credit, and a
// connection that stops reading its socket, delay nothing else.
func TestStalledSubscriber(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	a := c.start(&codec.StartArgs{Argv: argv("seq", "1", "300000")})
	stalled := c.subscribe(a.Handle, codec.Stdout, 0, 1) // never granted more

	b := c.start(sh("echo from B; exit 5"))
	subB := c.subscribe(b.Handle, codec.Stdout, 0, 0)
	if out := c.collect(subB.Sub, 0, true, eventTimeout); string(out.bytes()) != "from B\n" {
		t.Errorf("B wrote %q", out.bytes())
	}
	if ex := c.waitExit(b.Handle, eventTimeout); ex.Code != 5 {
		t.Errorf("B exit code %d, want 5", ex.Code)
	}
	if ex := c.waitExit(a.Handle, eventTimeout); ex.Code != 0 {
		t.Errorf("A exit code %d, want 0", ex.Code)
	}

	other := dial(t, d, d.tcp)
	cp := other.start(sh("exit 6"))
	if ex := other.waitExit(cp.Handle, eventTimeout); ex.Code != 6 {
		t.Errorf("C exit code %d, want 6", ex.Code)
	}
	if n := len(c.drainNow(stalled.Sub, 0)); n > 1+64<<10 {
		t.Errorf("%d bytes sent on a credit of 1", n)
	}
	var rr codec.ReadResult
	other.mustCall(codec.MethodRead, &codec.ReadArgs{Handle: a.Handle, Stream: codec.Stdout, Max: 7}, &rr)
	if string(rr.Data) != "1\n2\n3\n4" {
		t.Errorf("out.read of the stalled stream %q", rr.Data)
	}
}

// TestStalledConnection checks that a controller that stops reading its
// socket, with output queued for it, holds up no other connection, and
// gets every byte once it reads again.
func TestStalledConnection(t *testing.T) {
	d := startDaemon(t)
	slow := dial(t, d, d.tcp)
	r := slow.start(seqArgs())
	sub := slow.subscribe(r.Handle, codec.Stdout, 0, 64<<20)
	slow.pause()

	c := dial(t, d, d.tcp)
	for i := range 3 {
		began := time.Now()
		out, ex := c.run(sh("echo " + strconv.Itoa(i)))
		if string(out) != strconv.Itoa(i)+"\n" || ex.Code != 0 {
			t.Errorf("run %d: %q code %d", i, out, ex.Code)
		}
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("run %d took %v while another connection is stalled", i, took)
		}
	}
	if ex := c.procWait(r.Handle, 60*time.Second); ex.Code != 0 {
		t.Errorf("seq exit code %d", ex.Code)
	}

	slow.resume()
	got, _ := slow.readTo(sub.Sub, 0, ^uint64(0), 60*time.Second)
	checkSeq(t, slow, r.Handle, got)
}

// TestBudgetGaps runs a daemon with tiny output budgets and checks that
// every lost byte is reported as a gap and every kept byte is right.
func TestBudgetGaps(t *testing.T) {
	const budget = 65536
	d := startDaemon(t, "--disk-budget", strconv.Itoa(budget), "--mem-budget", strconv.Itoa(budget))
	c := dial(t, d, d.tcp)
	const size = 1 << 20
	want := seqText(200000)[:size]
	r := c.start(sh("seq 1 200000 | head -c " + strconv.Itoa(size)))
	ex := c.procWait(r.Handle, 30*time.Second) // nobody reads until the exit
	if ex.Code != 0 || len(ex.Lengths) < 1 || ex.Lengths[0] != size {
		t.Fatalf("exit code %d len %v, want 0 and %d", ex.Code, ex.Lengths, size)
	}

	sub := c.subscribe(r.Handle, codec.Stdout, 0, 0)
	sd := c.collect(sub.Sub, 0, true, 30*time.Second)
	if sd.eos.Length != size {
		t.Errorf("eos at %d, want %d", sd.eos.Length, size)
	}
	kept := 0
	for _, o := range sd.chunks {
		if !bytes.Equal(o.Data, want[o.Offset:o.Offset+uint64(len(o.Data))]) {
			t.Errorf("bytes at offset %d are not what the child wrote there", o.Offset)
		}
		kept += len(o.Data)
	}
	t.Logf("kept %d bytes, gaps %+v", kept, sd.gaps)
	if len(sd.gaps) == 0 {
		t.Fatalf("1 MiB kept whole with budgets of %d bytes", budget)
	}
	if kept > 3*budget {
		t.Errorf("kept %d bytes with two budgets of %d", kept, budget)
	}
	for _, g := range sd.gaps {
		if g.Why != "disk-budget" && g.Why != "mem-budget" {
			t.Errorf("gap [%d, %d) why %q, want a budget", g.From, g.To, g.Why)
		}
		var rr codec.ReadResult
		c.mustCall(codec.MethodRead, &codec.ReadArgs{Handle: r.Handle, Stream: codec.Stdout, Offset: g.From}, &rr)
		if rr.GapTo != g.To || rr.Why != g.Why || len(rr.Data) != 0 {
			t.Errorf("out.read at %d: gapto %d why %q with %d bytes, want gap to %d %q", g.From, rr.GapTo, rr.Why, len(rr.Data), g.To, g.Why)
		}
	}
}
