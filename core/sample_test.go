// SPDX-License-Identifier: Apache-2.0

package core

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/core/sample"
)

func (tc *testClient) sampleSub(a *codec.SampleArgs) codec.SampleSubResult {
	tc.t.Helper()
	r, cerr := tc.call(codec.MethodSampleSub, a)
	if cerr != nil {
		tc.t.Fatal(cerr)
	}
	var sr codec.SampleSubResult
	if err := codec.Unmarshal(r, &sr, "sample.subscribe result"); err != nil {
		tc.t.Fatal(err)
	}
	return sr
}

// samplesFor collects the sample events that arrive within d, by
// subscription id.
func (tc *testClient) samplesFor(d time.Duration) map[uint32][]codec.Sample {
	tc.t.Helper()
	got := map[uint32][]codec.Sample{}
	deadline := time.After(d)
	for {
		select {
		case f, ok := <-tc.frames:
			if !ok {
				tc.t.Fatal("connection closed")
			}
			kind, id, body, err := codec.ParseEnvelope(f)
			if err != nil {
				tc.t.Fatal(err)
			}
			if kind != codec.KindEvent {
				continue
			}
			var s codec.Sample
			if err := codec.Unmarshal(body, &s, "sample"); err != nil {
				tc.t.Fatal(err)
			}
			got[id] = append(got[id], s)
		case <-deadline:
			return got
		}
	}
}

// samplerRunning reports whether a sampler goroutine exists.
func samplerRunning() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "core.(*Engine).sampleLoop")
}

// samplerStarts reports whether the sampler goroutine shows up within a
// bounded wait: the subscription's response can arrive before the
// goroutine has first run.
func samplerStarts() bool {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if samplerRunning() {
			return true
		}
	}
	return false
}

// samplerStops reports whether the sampler goroutine is gone within a
// bounded wait: unsubscribing waits until it has closed its done channel,
// but it still shows in a stack dump until it has returned.
func samplerStops() bool {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if !samplerRunning() {
			return true
		}
	}
	return false
}

// TestSampleSubscribe subscribes at 100 Hz for one second, and checks that
// unsubscribing stops the samples and the sampler goroutine.
func TestSampleSubscribe(t *testing.T) {
	e, tc := newTestEngine(t, Config{})
	if samplerRunning() {
		t.Fatal("sampler running before any subscription")
	}
	sr := tc.sampleSub(&codec.SampleArgs{Sources: []string{"cpu", "load"}, Period: 10_000_000})
	if sr.Period != 10_000_000 || sr.Sub == 0 {
		t.Fatalf("result %+v", sr)
	}
	got := tc.samplesFor(time.Second)[sr.Sub]
	t.Logf("%d samples in 1 s", len(got))
	if len(got) < 70 || len(got) > 101 {
		t.Errorf("%d samples in 1 s at 100 Hz", len(got))
	}
	for i, s := range got {
		if len(s.CPU) == 0 || len(s.Load) != 1 || len(s.Mem) != 0 || s.Self.RSS == 0 {
			t.Fatalf("sample %d: %+v", i, s)
		}
		if i > 0 && (s.Mono <= got[i-1].Mono || s.Seq <= got[i-1].Seq) {
			t.Fatalf("sample %d: mono %d seq %d after mono %d seq %d", i, s.Mono, s.Seq,
				got[i-1].Mono, got[i-1].Seq)
		}
		if s.Mono%10_000_000 > 5_000_000 {
			t.Logf("sample %d read %v after its instant", i, time.Duration(s.Mono%10_000_000))
		}
	}

	if _, cerr := tc.call(codec.MethodSampleUnsub, &codec.UnsubscribeArgs{Sub: sr.Sub}); cerr != nil {
		t.Fatal(cerr)
	}
	if !samplerStops() {
		t.Error("sampler goroutine left after the last unsubscribe")
	}
	if n := len(tc.samplesFor(100 * time.Millisecond)[sr.Sub]); n != 0 {
		t.Errorf("%d samples after unsubscribe", n)
	}
	e.smp.mu.Lock()
	defer e.smp.mu.Unlock()
	if e.smp.running || len(e.smp.subs) != 0 {
		t.Errorf("running %v, %d subscriptions", e.smp.running, len(e.smp.subs))
	}
}

// TestSampleCoalesced checks that subscriptions of 10 and 30 ms share
// wake-ups: every sample of the slower one has the MONO stamp of one of
// the faster one.
func TestSampleCoalesced(t *testing.T) {
	_, tc := newTestEngine(t, Config{})
	fast := tc.sampleSub(&codec.SampleArgs{Sources: []string{"mem"}, Period: 10_000_000})
	slow := tc.sampleSub(&codec.SampleArgs{Sources: []string{"load"}, Period: 29_200_000})
	if slow.Period != 30_000_000 {
		t.Errorf("29.2 ms rounded to %d", slow.Period)
	}
	// 2 s, not less: a loaded machine skips late ticks, and the test
	// needs a few of each.
	got := tc.samplesFor(2 * time.Second)
	stamps := map[uint64]bool{}
	for _, s := range got[fast.Sub] {
		stamps[s.Mono] = true
	}
	if len(got[slow.Sub]) < 5 {
		t.Fatalf("%d slow samples", len(got[slow.Sub]))
	}
	shared := 0
	for _, s := range got[slow.Sub] {
		if stamps[s.Mono] {
			shared++
		}
		if len(s.Load) != 1 || len(s.Mem) != 0 {
			t.Fatalf("slow sample has other sources: %+v", s)
		}
	}
	// The first or last may fall outside the window of the other.
	if shared < len(got[slow.Sub])-2 {
		t.Errorf("%d of %d slow samples shared a wake-up", shared, len(got[slow.Sub]))
	}
}

func TestSampleOnceProc(t *testing.T) {
	_, tc := newTestEngine(t, Config{})
	r, cerr := tc.call(codec.MethodStart, &codec.StartArgs{Argv: [][]byte{[]byte("sh"), []byte("-c"), []byte("sleep 5 & wait")}})
	if cerr != nil {
		t.Fatal(cerr)
	}
	var st codec.StartResult
	codec.Unmarshal(r, &st, "start")
	time.Sleep(100 * time.Millisecond)

	for _, a := range []*codec.SampleArgs{{Sources: []string{"proc"}, Handles: []uint64{st.Handle}},
		{Sources: []string{"proc"}}} {
		r, cerr = tc.call(codec.MethodSampleOnce, a)
		if cerr != nil {
			t.Fatal(cerr)
		}
		var s codec.Sample
		if err := codec.Unmarshal(r, &s, "sample"); err != nil {
			t.Fatal(err)
		}
		if len(s.Proc) < 2 || s.Proc[0].PID != st.PID || s.Proc[0].Handle != st.Handle ||
			s.Proc[1].PPID != st.PID || s.Proc[1].Handle != st.Handle || len(s.CPU) != 0 || s.Seq != 0 {
			t.Errorf("args %+v: sample %+v", a, s.Proc)
		}
	}
}

func TestSampleErrors(t *testing.T) {
	_, tc := newTestEngine(t, Config{})
	tests := []struct {
		name   string
		method string
		args   *codec.SampleArgs
		code   uint16
		field  string
	}{
		{"period 0", codec.MethodSampleSub, &codec.SampleArgs{}, codec.CodeBadArgs, "period"},
		{"unknown source", codec.MethodSampleOnce, &codec.SampleArgs{Sources: []string{"gpu"}}, codec.CodeBadArgs, "src"},
		{"unknown handle", codec.MethodSampleOnce, &codec.SampleArgs{Handles: []uint64{42}}, codec.CodeNotFound, "h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cerr := tc.call(tt.method, tt.args)
			if cerr == nil || cerr.Code != tt.code || cerr.Detail.Field != tt.field {
				t.Fatalf("error %+v, want code %d field %q", cerr, tt.code, tt.field)
			}
		})
	}
	if _, cerr := tc.call(codec.MethodSampleUnsub, &codec.UnsubscribeArgs{Sub: 9}); cerr == nil || cerr.Code != codec.CodeNotFound {
		t.Fatalf("unsubscribe unknown: %+v", cerr)
	}
}

// TestSampleSessionEnd checks that a controller that leaves takes its
// subscriptions, and the sampler, with it.
func TestSampleSessionEnd(t *testing.T) {
	e, tc := newTestEngine(t, Config{})
	tc.sampleSub(&codec.SampleArgs{Sources: []string{"cpu"}, Period: 3_600_000_000_000})
	if !samplerStarts() {
		t.Fatal("no sampler")
	}
	tc.c.Close()
	if !samplerStops() {
		t.Fatal("sampler survived its only controller")
	}
	_ = e
}

// TestSampleTickNoAlloc checks that a warm tick of the sampler (read,
// filter, encode, hand over) allocates nothing.
func TestSampleTickNoAlloc(t *testing.T) {
	e := &Engine{in: make(chan func(), 64)}
	s := newSession(e, nil, "test")
	sb := &sampleSub{id: 1, sess: s, period: samplePeriodUnit}
	sb.f.src = sample.Host
	e.smp.subs = []*sampleSub{sb}
	w := &sampler{e: e, host: sample.NewHost(procRoot), procs: sample.NewProcs(procRoot),
		self: sample.NewSelf(procRoot), refresh: e.refreshAll}
	t.Cleanup(func() { w.host.Close(); w.procs.Close(); w.self.Close() })
	run := func() {
		sb.due = 0
		w.tick()
		s.mu.Lock() // what the writer does
		sb.free, sb.pending = sb.pending[:0], nil
		s.mu.Unlock()
	}
	run()
	run()
	if n := testing.AllocsPerRun(50, run); n != 0 {
		t.Errorf("%v allocations per tick", n)
	}
}

// tryConn is a connection whose TryWriteFrames always writes, counting
// the frames; the sampler calls nothing else on it.
type tryConn struct {
	FrameConn
	frames int
}

func (c *tryConn) TryWriteFrames(b []byte) (bool, error) {
	c.frames++
	return true, nil
}

// TestSampleDirectSendNoAlloc checks that a tick whose session writer is
// idle writes the sample itself, queues nothing for the writer, and
// allocates nothing.
func TestSampleDirectSendNoAlloc(t *testing.T) {
	e := &Engine{in: make(chan func(), 64)}
	conn := &tryConn{}
	s := newSession(e, conn, "test")
	sb := &sampleSub{id: 1, sess: s, period: samplePeriodUnit}
	sb.f.src = sample.Host
	e.smp.subs = []*sampleSub{sb}
	w := &sampler{e: e, host: sample.NewHost(procRoot), procs: sample.NewProcs(procRoot),
		self: sample.NewSelf(procRoot), refresh: e.refreshAll}
	t.Cleanup(func() { w.host.Close(); w.procs.Close(); w.self.Close() })
	run := func() {
		sb.due = 0
		w.tick()
	}
	run()
	if conn.frames != 1 || sb.pending != nil {
		t.Fatalf("%d frames written, pending %v", conn.frames, sb.pending != nil)
	}
	if n := testing.AllocsPerRun(50, run); n != 0 {
		t.Errorf("%v allocations per tick", n)
	}

	// A writer awake may be writing the subscription's response: the
	// sample waits for it.
	s.setWriting(true)
	run()
	if conn.frames != 52 || sb.pending == nil {
		t.Errorf("with the writer busy: %d frames written, pending %v", conn.frames, sb.pending != nil)
	}
}

// TestSampleTimer checks that an instant past fires the timer at once,
// and that arming and waiting allocate nothing.
func TestSampleTimer(t *testing.T) {
	tm, err := newSampleTimer()
	if err != nil {
		t.Fatal(err)
	}
	defer tm.close()
	t0 := time.Now()
	tm.set(monoNow() + uint64(20*time.Millisecond))
	if err := tm.wait(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 19*time.Millisecond {
		t.Errorf("timer set 20 ms ahead fired after %v", d)
	}
	n := testing.AllocsPerRun(50, func() {
		tm.set(1)
		tm.wait()
	})
	if n != 0 {
		t.Errorf("%v allocations per set and wait", n)
	}
}
