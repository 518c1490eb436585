// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// TestSamplesDeliverDropAndClose subscribes, gets more samples than the
// buffer holds (the oldest are dropped), then closes: C is closed and
// the daemon is told.
func TestSamplesDeliverDropAndClose(t *testing.T) {
	c, d := newPair(t)
	type res struct {
		s   *Samples
		err error
	}
	got := make(chan res, 1)
	go func() {
		s, err := c.SubscribeSamples(context.Background(), &codec.SampleArgs{Period: 15e6})
		got <- res{s, err}
	}()
	req := d.next(codec.MethodSampleSub)
	d.respond(req.id, &codec.SampleSubResult{Sub: 7, Period: 20e6})
	const n = sampleBuffer + 5
	for i := range n {
		d.event(7, &codec.Sample{K: codec.EventSample, Seq: uint64(i)})
	}
	d.event(8, &codec.Sample{K: codec.EventSample, Seq: 99}) // another subscription's: dropped
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.s.Period() != 20*time.Millisecond {
		t.Errorf("Period() = %v, want the daemon's 20ms", r.s.Period())
	}

	// A round trip makes sure the reader has seen every event.
	list := goResult(func() error { _, err := c.List(context.Background()); return err })
	d.respond(d.next(codec.MethodList).id, &codec.ListResult{})
	if err := recvErr(t, list); err != nil {
		t.Fatal(err)
	}
	if r.s.Dropped() != 5 {
		t.Errorf("Dropped() = %d, want 5", r.s.Dropped())
	}
	if first := <-r.s.C(); first.Seq != 5 {
		t.Errorf("oldest sample kept: seq %d, want 5", first.Seq)
	}

	r.s.Close()
	unsub := d.next(codec.MethodSampleUnsub)
	if a := decode[codec.UnsubscribeArgs](t, unsub); a.Sub != 7 {
		t.Errorf("unsubscribed %d, want 7", a.Sub)
	}
	n2 := 0
	for range r.s.C() {
		n2++
	}
	if n2 != sampleBuffer-1 {
		t.Errorf("%d samples left after Close, want the %d buffered", n2, sampleBuffer-1)
	}
	r.s.Close() // twice is fine
}

// TestWaitPortProbesUntilAccepted answers two refusals, then success.
func TestWaitPortProbesUntilAccepted(t *testing.T) {
	c, d := newPair(t)
	p := c.Process(3)
	done := goResult(func() error { return p.WaitPort(context.Background(), 8080) })
	for i := range 3 {
		req := d.next(codec.MethodProbe)
		a := decode[codec.ProbeArgs](t, req)
		if a.Port != 8080 || a.Host != "" {
			t.Errorf("probe %+v, want port 8080 on the daemon's localhost", a)
		}
		d.respond(req.id, &codec.ProbeResult{OK: i == 2, Errno: 111, Sys: "ECONNREFUSED"})
	}
	if err := recvErr(t, done); err != nil {
		t.Errorf("WaitPort = %v, want nil", err)
	}

	// A deadline ends the wait with what was seen last.
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	done = goResult(func() error { return p.WaitPort(ctx, 9) })
	go func() {
		for {
			select {
			case req := <-d.reqs:
				d.respond(req.id, &codec.ProbeResult{Errno: 111, Sys: "ECONNREFUSED"})
			case <-ctx.Done():
				return
			}
		}
	}()
	err := recvErr(t, done)
	var nr *NotReadyError
	if !errors.As(err, &nr) || !errors.Is(err, context.DeadlineExceeded) || nr.Last != "ECONNREFUSED" {
		t.Errorf("WaitPort past its deadline = %v, want a NotReadyError after ECONNREFUSED", err)
	}
}
