// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// argv turns strings into an argument vector.
func argv(a ...string) [][]byte {
	out := make([][]byte, len(a))
	for i, s := range a {
		out[i] = []byte(s)
	}
	return out
}

// sh returns the start arguments of /bin/sh -c script.
func sh(script string) *codec.StartArgs {
	return &codec.StartArgs{Argv: argv("/bin/sh", "-c", script)}
}

// start runs proc.start and fails the test on any error.
func (c *client) start(a *codec.StartArgs) codec.StartResult {
	c.t.Helper()
	var r codec.StartResult
	c.mustCall(codec.MethodStart, a, &r)
	if r.Handle == 0 {
		c.t.Fatalf("proc.start returned handle 0: %+v", r)
	}
	return r
}

// waitExit returns the exit event of process h, skipping its state
// events.
func (c *client) waitExit(h uint64, timeout time.Duration) codec.Exit {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ev, err := c.next(procBox(h), time.Until(deadline))
		if err != nil {
			c.t.Fatalf("exit event of %#x: %v", h, err)
		}
		if ev.exit != nil {
			return *ev.exit
		}
		if ev.failed != nil {
			c.t.Fatalf("process %#x failed: %+v", h, *ev.failed)
		}
	}
}

// procWait runs proc.wait and returns the exit record.
func (c *client) procWait(h uint64, timeout time.Duration) codec.Exit {
	c.t.Helper()
	var ex codec.Exit
	cerr, err := c.roundTrip(codec.MethodWait, &codec.HandleArgs{Handle: h}, &ex, timeout)
	if err != nil || cerr != nil {
		c.t.Fatalf("proc.wait %#x: %v %v", h, err, cerr)
	}
	return ex
}

// status runs proc.status.
func (c *client) status(h uint64) codec.ProcInfo {
	c.t.Helper()
	var pi codec.ProcInfo
	c.mustCall(codec.MethodStatus, &codec.HandleArgs{Handle: h}, &pi)
	return pi
}

// signal runs proc.signal and fails on an error.
func (c *client) signal(h uint64, sig uint8, tree bool) {
	c.t.Helper()
	c.mustCall(codec.MethodSignal, &codec.SignalArgs{Handle: h, Signal: sig, Tree: tree}, nil)
}

// release runs proc.release.
func (c *client) release(h uint64) {
	c.t.Helper()
	c.mustCall(codec.MethodRelease, &codec.HandleArgs{Handle: h}, nil)
}

// subscribe runs out.subscribe.
func (c *client) subscribe(h uint64, s uint8, from, credit uint64) codec.SubscribeResult {
	c.t.Helper()
	var r codec.SubscribeResult
	c.mustCall(codec.MethodSubscribe, &codec.SubscribeArgs{Handle: h, Stream: s, From: from, Credit: credit}, &r)
	return r
}

// streamData is what a subscription delivered until its eos.
type streamData struct {
	chunks []codec.Out
	gaps   []codec.Gap
	eos    codec.EOS
}

// bytes returns the retained bytes in order, without the gaps.
func (sd *streamData) bytes() []byte {
	var b bytes.Buffer
	for _, o := range sd.chunks {
		b.Write(o.Data)
	}
	return b.Bytes()
}

// collect reads subscription sub, which starts at offset from, until its
// eos. After each out event it grants the bytes received again when
// refill is set, so the window stays at its initial credit. Every event
// must continue exactly where the previous one ended.
func (c *client) collect(sub uint32, from uint64, refill bool, timeout time.Duration) streamData {
	c.t.Helper()
	var sd streamData
	off := from
	deadline := time.Now().Add(timeout)
	for {
		ev, err := c.next(subBox(sub), time.Until(deadline))
		if err != nil {
			c.t.Fatalf("subscription %d at offset %d: %v", sub, off, err)
		}
		switch {
		case ev.out != nil:
			if ev.out.Offset != off {
				c.t.Fatalf("out event at offset %d, want %d", ev.out.Offset, off)
			}
			sd.chunks = append(sd.chunks, *ev.out)
			off += uint64(len(ev.out.Data))
			if refill {
				if err := c.credit(sub, uint64(len(ev.out.Data))); err != nil {
					c.t.Fatal(err)
				}
			}
		case ev.gap != nil:
			if ev.gap.From != off || ev.gap.To <= ev.gap.From {
				c.t.Fatalf("gap [%d, %d) at offset %d", ev.gap.From, ev.gap.To, off)
			}
			sd.gaps = append(sd.gaps, *ev.gap)
			off = ev.gap.To
		case ev.eos != nil:
			if ev.eos.Length != off {
				c.t.Fatalf("eos at length %d after offset %d", ev.eos.Length, off)
			}
			sd.eos = *ev.eos
			return sd
		}
	}
}

// readAll reads stream s of process h with out.read from offset 0 to its
// end, failing on a gap.
func (c *client) readAll(h uint64, s uint8) []byte {
	c.t.Helper()
	var out []byte
	for i := 0; ; i++ {
		var rr codec.ReadResult
		c.mustCall(codec.MethodRead, &codec.ReadArgs{Handle: h, Stream: s, Offset: uint64(len(out))}, &rr)
		if rr.GapTo != 0 {
			c.t.Fatalf("out.read at %d: lost up to %d (%s)", len(out), rr.GapTo, rr.Why)
		}
		out = append(out, rr.Data...)
		if rr.EOF {
			return out
		}
		if len(rr.Data) == 0 && i > 1000 {
			c.t.Fatalf("out.read: no end of stream after %d empty reads", i)
		}
		if len(rr.Data) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// run starts a, subscribes to its stdout from 0 and returns everything
// it wrote there and its exit.
func (c *client) run(a *codec.StartArgs) ([]byte, codec.Exit) {
	c.t.Helper()
	r := c.start(a)
	sub := c.subscribe(r.Handle, codec.Stdout, 0, 0)
	sd := c.collect(sub.Sub, 0, true, eventTimeout)
	ex := c.waitExit(r.Handle, eventTimeout)
	return sd.bytes(), ex
}

// realNow returns CLOCK_REALTIME in ns, as the daemon's times use.
func realNow() uint64 { return uint64(time.Now().UnixNano()) }

// readLines reads subscription sub from offset 0 until n whole lines
// have arrived, for a process that prints PIDs and goes on running.
func (c *client) readLines(sub uint32, n int, timeout time.Duration) []byte {
	c.t.Helper()
	var data []byte
	deadline := time.Now().Add(timeout)
	for bytes.Count(data, []byte{'\n'}) < n {
		ev, err := c.next(subBox(sub), time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for %d lines, have %q: %v", n, data, err)
		}
		if ev.out == nil {
			c.t.Fatalf("waiting for %d lines, have %q: got a %s event", n, data, ev.name)
		}
		if ev.out.Offset != uint64(len(data)) {
			c.t.Fatalf("out event at offset %d, want %d", ev.out.Offset, len(data))
		}
		data = append(data, ev.out.Data...)
	}
	return data
}
