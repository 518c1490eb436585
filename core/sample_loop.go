// SPDX-License-Identifier: Apache-2.0

package core

import (
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/core/sample"
)

// readSample reads the sources in src and the processes ts into r, with
// both clocks and the daemon's cost, and returns the sources it could not
// read.
func readSample(h *sample.HostReader, p *sample.ProcReader, self *sample.SelfReader,
	src sample.Sources, ts []sample.Target, r *codec.Sample) sample.Sources {
	t := now()
	r.K, r.Real, r.Mono, r.Miss = codec.EventSample, t.real, t.mono, r.Miss[:0]
	h.Read(src, r)
	r.Proc = r.Proc[:0]
	if src&sample.Proc != 0 {
		r.Proc = p.Read(ts, r.Proc)
	}
	self.Read(&r.Self)
	r.Dur = monoNow() - t.mono
	var miss sample.Sources
	if len(r.Miss) > 0 {
		miss, _ = sample.ParseSources(r.Miss)
	}
	return miss
}

// sampler is the state of the sampler goroutine, reused for every tick.
type sampler struct {
	e       *Engine
	host    *sample.HostReader
	procs   *sample.ProcReader
	self    *sample.SelfReader
	read    codec.Sample
	view    codec.Sample
	due     []*sampleSub
	targets []sample.Target
	buf     []byte
	refresh func() // e.refreshAll, made once: a method value allocates
}

// sampleLoop is the sampler goroutine. It runs on a thread of its own so
// that it can sleep in clock_nanosleep to an absolute MONO instant, which
// wakes it once per tick and more precisely than a Go timer, whose
// wake-ups go through the netpoller with millisecond resolution (design
// notes 6.3). kick interrupts the sleep with a signal when the plan
// changes. It exits, closing done, when there is no subscription.
func (e *Engine) sampleLoop(done chan struct{}) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sm := &e.smp
	sm.tid.Store(int32(unix.Gettid()))
	w := &sampler{e: e, host: sample.NewHost(procRoot), procs: sample.NewProcs(procRoot),
		self: sample.NewSelf(procRoot), refresh: e.refreshAll}
	defer func() {
		w.host.Close()
		w.procs.Close()
		w.self.Close()
	}()

	for {
		sm.mu.Lock()
		sm.replan.Store(false)
		if len(sm.subs) == 0 {
			sm.running = false
			sm.tid.Store(0)
			close(done)
			sm.mu.Unlock()
			return
		}
		next := sm.subs[0].due
		for _, sb := range sm.subs {
			next = min(next, sb.due)
		}
		sm.mu.Unlock()

		if !sm.sleepUntil(next) {
			continue
		}
		sm.mu.Lock()
		w.tick()
		sm.mu.Unlock()
	}
}

// sleepUntil sleeps until the MONO instant t and reports whether it got
// there, false when kick interrupted it.
func (sm *sampling) sleepUntil(t uint64) bool {
	ts := unix.NsecToTimespec(int64(t))
	for {
		err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
		if err != unix.EINTR {
			return true
		}
		// EINTR is also the Go runtime's preemption signal; only a kick
		// ends the sleep early.
		if sm.replan.Load() {
			return false
		}
	}
}

// kick makes the sampler re-plan, and returns once it has started to.
// The signal is sent again until the sampler clears replan, because it
// may arrive just before the sampler enters clock_nanosleep and be lost.
// SIGURG is the signal the Go runtime itself uses to preempt, so an extra
// one is harmless.
func (sm *sampling) kick() {
	sm.replan.Store(true)
	for i := 0; i < 2000 && sm.replan.Load(); i++ {
		if tid := sm.tid.Load(); tid != 0 {
			unix.Tgkill(os.Getpid(), int(tid), unix.SIGURG)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// tick reads the union of what the subscriptions due now asked for,
// once, and hands each its view. It runs with sampling.mu held.
func (w *sampler) tick() {
	sm := &w.e.smp
	t := monoNow()
	var src sample.Sources
	w.due, w.targets = w.due[:0], w.targets[:0]
	all := false
	for _, sb := range sm.subs {
		if sb.due > t {
			continue
		}
		w.due = append(w.due, sb)
		src |= sb.f.src
		all = all || sb.f.all
		w.addTargets(sb.f.targets)
	}
	if all {
		w.addTargets(sm.all)
		// The list is refreshed in the loop for the next tick; the send
		// does not block, so a busy loop only makes it one tick older.
		select {
		case w.e.in <- w.refresh:
		default:
		}
	}
	if len(w.due) == 0 {
		return
	}

	miss := readSample(w.host, w.procs, w.self, src, w.targets, &w.read)
	for _, sb := range w.due {
		w.read.Seq = sb.seq
		sb.f.view(&w.read, miss, &w.view)
		w.buf, _ = codec.AppendEvent(w.buf[:0], sb.id, &w.view)
		w.buf = sb.deliver(w.buf)
		sb.seq++
		sb.due = (t/sb.period + 1) * sb.period
	}
	clear(w.due)
}

// addTargets adds ts to the targets of this tick, each process once.
func (w *sampler) addTargets(ts []sample.Target) {
	for _, t := range ts {
		dup := false
		for _, x := range w.targets {
			dup = dup || (x.Handle == t.Handle && x.PID == t.PID)
		}
		if !dup {
			w.targets = append(w.targets, t)
		}
	}
}

// deliver queues payload b as sb's pending sample, replacing one not yet
// sent, wakes the writer and returns a buffer for the next sample.
//
// TODO: waking the writer goroutine costs a second thread wake-up per
// sample, besides the sampler's own, and with it most of the daemon's
// CPU while sampling (about 1.7% of a core at 10 Hz here, where one read
// of every source costs 60-76 µs). Writing the sample frame from the
// sampler thread, under a write lock shared with the writer, would make
// it one wake-up per sample; the lock must never be held across a write
// that can block on a controller that does not read.
func (sb *sampleSub) deliver(b []byte) []byte {
	s := sb.sess
	s.mu.Lock()
	if sb.dead {
		s.mu.Unlock()
		return b
	}
	spare := sb.pending
	if spare == nil {
		spare, sb.free = sb.free, nil
	}
	sb.pending = b
	s.mu.Unlock()
	s.wakeup()
	return spare[:0]
}
