// SPDX-License-Identifier: Apache-2.0

package core

import (
	"context"
	"os"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/core/journal"
)

// runEngine runs New(cfg)'s loop until the returned stop is called or
// the test ends.
func runEngine(t *testing.T, cfg Config) (*Engine, *testClient, func()) {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if e.cg != nil && !cfg.KillOnExit {
		// An engine that leaves its processes leaves its cgroup directory
		// too, for the next one on its state directory; at the end of the
		// test there is none. Registered first, so run after stop.
		t.Cleanup(func() { removeEmptyCgroups(e.cg.dir, nil) })
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return e, connect(t, e), stop
}

func (tc *testClient) start(script string) codec.StartResult {
	tc.t.Helper()
	r, cerr := tc.call(codec.MethodStart, &codec.StartArgs{Argv: [][]byte{[]byte("sh"), []byte("-c"), []byte(script)}})
	if cerr != nil {
		tc.t.Fatal(cerr)
	}
	var sr codec.StartResult
	if err := codec.Unmarshal(r, &sr, "start"); err != nil {
		tc.t.Fatal(err)
	}
	return sr
}

func (tc *testClient) wait(h uint64) codec.Exit {
	tc.t.Helper()
	r, cerr := tc.call(codec.MethodWait, &codec.HandleArgs{Handle: h})
	if cerr != nil {
		tc.t.Fatal(cerr)
	}
	var ex codec.Exit
	if err := codec.Unmarshal(r, &ex, "exit"); err != nil {
		tc.t.Fatal(err)
	}
	return ex
}

func (tc *testClient) status(h uint64) codec.ProcInfo {
	tc.t.Helper()
	r, cerr := tc.call(codec.MethodStatus, &codec.HandleArgs{Handle: h})
	if cerr != nil {
		tc.t.Fatal(cerr)
	}
	var pi codec.ProcInfo
	if err := codec.Unmarshal(r, &pi, "status"); err != nil {
		tc.t.Fatal(err)
	}
	return pi
}

// TestCarryOver stops an engine that leaves its processes running and
// starts another on its state directory: it reports the finished process
// with its exit record and output, the one that ended in between with an
// unknown exit, and the running one as running; it can kill that one's
// tree, whose exit is then unknown.
func TestCarryOver(t *testing.T) {
	cfg := Config{StateDir: t.TempDir()}
	_, tc, stop := runEngine(t, cfg)
	done := tc.start("printf 'done\\n'; exit 7")
	tc.wait(done.Handle)
	live := tc.start("sleep 300 & printf 'started\\n'; wait")
	gone := tc.start("sleep 0.1")
	r, cerr := tc.call(codec.MethodStart, &codec.StartArgs{Argv: [][]byte{[]byte("sleep"), []byte("300")},
		Lease: uint64(300 * time.Millisecond)})
	var leased codec.StartResult
	if cerr != nil || codec.Unmarshal(r, &leased, "start") != nil {
		t.Fatal(cerr)
	}
	for tc.status(live.Handle).Lengths[0] == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	time.Sleep(300 * time.Millisecond) // gone ends while no engine runs

	cfg.KillOnExit = true
	_, tc, _ = runEngine(t, cfg)
	pi := tc.status(done.Handle)
	if pi.State != stateExited || pi.Exit.Code != 7 || pi.Exit.Unknown || pi.Lengths[0] != 5 {
		t.Fatalf("finished process after the restart: %+v", pi)
	}
	r, cerr = tc.call(codec.MethodRead, &codec.ReadArgs{Handle: done.Handle, Stream: 1})
	var rr codec.ReadResult
	if cerr != nil || codec.Unmarshal(r, &rr, "read") != nil || string(rr.Data) != "done\n" || !rr.EOF {
		t.Fatalf("output of the finished process: %q %v", rr.Data, cerr)
	}
	if pi := tc.status(live.Handle); pi.State != stateRunning || pi.PID != live.PID {
		t.Fatalf("running process after the restart: %+v", pi)
	}
	if _, cerr := tc.call(codec.MethodSignal, &codec.SignalArgs{Handle: live.Handle, Signal: 9, Tree: true}); cerr != nil {
		t.Fatal(cerr)
	}
	if ex := tc.wait(live.Handle); !ex.Unknown || ex.Why != "tree" || ex.Times.EndMono == 0 {
		t.Fatalf("exit of the carried-over process: %+v", ex)
	}
	if pi := tc.status(gone.Handle); pi.State != stateExited || !pi.Exit.Unknown {
		t.Errorf("process that ended while no engine ran: %q %+v", pi.State, pi.Exit)
	}
	// Its controller went with the previous engine: the lease runs out.
	if ex := tc.wait(leased.Handle); !ex.Unknown || ex.Why != "lease" {
		t.Errorf("exit of the leased process: %+v", ex)
	}
	if n := tc.start("exit 0").Handle; n == live.Handle || n == done.Handle {
		t.Fatalf("handle %#x given again", n)
	}
}

// TestStateDirLocked refuses a second engine on a state directory in use.
func TestStateDirLocked(t *testing.T) {
	cfg := Config{StateDir: t.TempDir()}
	runEngine(t, cfg)
	if _, err := New(cfg); err == nil {
		t.Fatal("a second engine opened a state directory in use")
	}
}

// TestJournalCompacts rewrites the journal once released processes make
// up most of it, keeping the ones not released.
func TestJournalCompacts(t *testing.T) {
	cfg := Config{StateDir: t.TempDir()}
	e, _, _ := runEngine(t, cfg)
	const n, kept = 3 * compactMin, (3*compactMin + 99) / 100 // every 100th is kept
	done := make(chan int)
	e.post(func() {
		for i := 0; i < n; i++ {
			p := &proc{h: e.newHandle(), argv: [][]byte{[]byte("x")}, state: stateExited, pidfd: -1, created: now()}
			e.procs[p.h] = p
			r := e.startRecord(p)
			e.journalAppend(&r, false)
			if i%100 != 0 {
				e.forget(p)
			}
		}
		done <- e.jr.Records()
	})
	if recs := <-done; recs > 2*kept+compactMin+1 {
		t.Errorf("%d records in the journal of %d live processes", recs, kept)
	}
	recs, err := journal.Read(journalPath(e.cfg.StateDir))
	if err != nil {
		t.Fatal(err)
	}
	if st := journal.Replay(recs); len(st.Procs) != kept {
		t.Errorf("the journal replays to %d processes, want %d", len(st.Procs), kept)
	}
}

// BenchmarkStart measures proc.start of a process that exits at once,
// from request to response, with the journal and without it, in turns on
// one engine so that both see the same noise of a shared machine. It
// reports each one's time per start and their ratio.
func BenchmarkStart(b *testing.B) {
	e, tc := newTestEngine(b, Config{})
	jr := e.jr
	journalOn := func(on bool) {
		ch := make(chan struct{})
		e.post(func() {
			e.jr = nil
			if on {
				e.jr = jr
			}
			close(ch)
		})
		<-ch
	}
	args := &codec.StartArgs{Argv: [][]byte{[]byte("/bin/true")}}
	var spent [2]time.Duration // with, without the journal
	var sr codec.StartResult
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range spent {
			on := (i+k)%2 == 0
			journalOn(on)
			t0 := time.Now()
			r, cerr := tc.call(codec.MethodStart, args)
			if on {
				spent[0] += time.Since(t0)
			} else {
				spent[1] += time.Since(t0)
			}
			if cerr != nil || codec.Unmarshal(r, &sr, "start") != nil {
				b.Fatal(cerr)
			}
			if _, cerr := tc.call(codec.MethodWait, &codec.HandleArgs{Handle: sr.Handle}); cerr != nil {
				b.Fatal(cerr)
			}
			if _, cerr := tc.call(codec.MethodRelease, &codec.HandleArgs{Handle: sr.Handle}); cerr != nil {
				b.Fatal(cerr)
			}
		}
	}
	journalOn(true)
	b.ReportMetric(float64(spent[0].Nanoseconds())/float64(b.N), "ns/start-journal")
	b.ReportMetric(float64(spent[1].Nanoseconds())/float64(b.N), "ns/start-nojournal")
	b.ReportMetric(float64(spent[0])/float64(spent[1]), "ratio")
}

// BenchmarkJournalStart measures what the journal adds to a start: the
// pid's start time read from /proc, the record encoded and written.
func BenchmarkJournalStart(b *testing.B) {
	e, _ := newTestEngine(b, Config{})
	p := &proc{h: 1, argv: [][]byte{[]byte("/bin/true")}, pid: os.Getpid(), state: stateRunning, created: now()}
	done := make(chan struct{})
	b.ResetTimer()
	e.post(func() {
		for i := 0; i < b.N; i++ {
			e.journalStart(p)
			e.later = e.later[:0]
		}
		close(done)
	})
	<-done
}

// TestCarryOverPIDReused takes a journaled process whose pid now names
// another process (this test, with another start time) for one that
// ended, and one whose pid is gone likewise; neither is signalled.
func TestCarryOverPIDReused(t *testing.T) {
	dir := t.TempDir()
	self, ok := pidStartTime(os.Getpid())
	if !ok {
		t.Fatal("no start time for this process")
	}
	w, err := journal.Create(journalPath(dir), []journal.Record{
		{K: journal.KindInstance, Instance: []byte("an old instance!"), Boot: readTrim("/proc/sys/kernel/random/boot_id")},
		{K: journal.KindStart, Handle: 1, Argv: [][]byte{[]byte("reused")}, PID: uint32(os.Getpid()), PStart: self + 1, State: stateRunning},
		{K: journal.KindStart, Handle: 2, Argv: [][]byte{[]byte("gone")}, PID: 1 << 22, PStart: 5, State: stateRunning},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	_, tc, _ := runEngine(t, Config{StateDir: dir})
	for h := uint64(1); h <= 2; h++ {
		pi := tc.status(h)
		if pi.State != stateExited || !pi.Exit.Unknown || pi.Exit.Times.EndReal == 0 {
			t.Errorf("process %d: %q %+v, want exited with an unknown exit", h, pi.State, pi.Exit)
		}
	}
	if _, cerr := tc.call(codec.MethodSignal, &codec.SignalArgs{Handle: 1, Signal: 15}); cerr == nil || cerr.Code != codec.CodeWrongState {
		t.Errorf("signal to a process whose pid was reused: %v", cerr)
	}
}

// TestCarryOverMemOnly reports the output of a finished memory-only
// stream, which died with the previous engine, as a gap "restart" over
// its whole length.
func TestCarryOverMemOnly(t *testing.T) {
	cfg := Config{StateDir: t.TempDir()}
	_, tc, stop := runEngine(t, cfg)
	r, cerr := tc.call(codec.MethodStart, &codec.StartArgs{Argv: [][]byte{[]byte("sh"), []byte("-c"), []byte("printf 12345")},
		Output: codec.OutSpec{MemOnly: true}})
	var sr codec.StartResult
	if cerr != nil || codec.Unmarshal(r, &sr, "start") != nil {
		t.Fatal(cerr)
	}
	tc.wait(sr.Handle)
	stop()

	_, tc, _ = runEngine(t, cfg)
	r, cerr = tc.call(codec.MethodRead, &codec.ReadArgs{Handle: sr.Handle, Stream: 1})
	var rr codec.ReadResult
	if cerr != nil || codec.Unmarshal(r, &rr, "read") != nil {
		t.Fatal(cerr)
	}
	if rr.GapTo != 5 || rr.Why != "restart" || rr.Length != 5 || len(rr.Data) != 0 {
		t.Fatalf("out.read of a memory-only stream after the restart: %+v", rr)
	}
}

// TestCarryOverStaged refuses to release a process staged by the
// previous engine, whose gate that engine held, and can still kill it.
func TestCarryOverStaged(t *testing.T) {
	cfg := Config{StateDir: t.TempDir()}
	_, tc, stop := runEngine(t, cfg)
	r, cerr := tc.call(codec.MethodStart, &codec.StartArgs{Argv: [][]byte{[]byte("sleep"), []byte("300")}, Stage: true})
	var sr codec.StartResult
	if cerr != nil || codec.Unmarshal(r, &sr, "start") != nil || sr.State != stateStaged {
		t.Fatalf("staged start: %+v %v", sr, cerr)
	}
	stop()

	cfg.KillOnExit = true
	_, tc, _ = runEngine(t, cfg)
	if pi := tc.status(sr.Handle); pi.State != stateStaged {
		t.Fatalf("staged process after the restart: %+v", pi)
	}
	if _, cerr := tc.call(codec.MethodTrigger, &codec.TriggerArgs{Handles: []uint64{sr.Handle}}); cerr == nil || cerr.Code != codec.CodeWrongState {
		t.Fatalf("trigger of a process staged by the previous engine: %v", cerr)
	}
	if _, cerr := tc.call(codec.MethodSignal, &codec.SignalArgs{Handle: sr.Handle, Signal: 9, Tree: true}); cerr != nil {
		t.Fatal(cerr)
	}
	if ex := tc.wait(sr.Handle); !ex.Unknown {
		t.Fatalf("exit of the staged process: %+v", ex)
	}
}
