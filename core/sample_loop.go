// SPDX-License-Identifier: Apache-2.0

package core

import (
	"encoding/binary"

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
	procGen uint64 // e.smp.procGen when the list of every process was last refreshed
	refresh func() // e.refreshAll, made once: a method value allocates
}

// sampleLoop is the sampler goroutine. It sleeps on the sampling timer
// (sample_timer.go) until the earliest instant a subscription is due, so
// that it wakes once per tick; kick fires the timer early when the plan
// changes. It exits, closing done, when there is no subscription.
func (e *Engine) sampleLoop(done chan struct{}) {
	sm := &e.smp
	defer close(done) // last, once the files are closed
	w := &sampler{e: e, host: sample.NewHost(procRoot), procs: sample.NewProcs(procRoot),
		self: sample.NewSelf(procRoot), refresh: e.refreshAll, procGen: sm.procGen.Load() - 1}
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
			sm.mu.Unlock()
			return
		}
		next := sm.subs[0].due
		for _, sb := range sm.subs {
			next = min(next, sb.due)
		}
		sm.mu.Unlock()

		// A kick between the plan and set would be undone by set: look
		// again after it.
		sm.timer.set(next)
		if sm.replan.Load() {
			continue
		}
		sm.timer.wait()
		sm.mu.Lock()
		w.tick()
		sm.mu.Unlock()
	}
}

// kick makes the sampler re-plan: the timer fires at once, and the
// sampler, seeing replan, looks at the subscriptions again.
func (sm *sampling) kick() {
	sm.replan.Store(true)
	sm.timer.set(0)
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
		// The list is refreshed in the loop for the next tick when a
		// process has started or ended since the last refresh; the send
		// does not block, so a busy loop only makes it one tick older.
		if gen := sm.procGen.Load(); gen != w.procGen {
			select {
			case w.e.in <- w.refresh:
				w.procGen = gen
			default:
			}
		}
	}
	if len(w.due) == 0 {
		return
	}

	miss := readSample(w.host, w.procs, w.self, src, w.targets, &w.read)
	for _, sb := range w.due {
		w.read.Seq = sb.seq
		sb.f.view(&w.read, miss, &w.view)
		w.buf, _ = codec.AppendEvent(append(w.buf[:0], 0, 0, 0, 0), sb.id, &w.view)
		binary.BigEndian.PutUint32(w.buf, uint32(len(w.buf)-4))
		w.buf = sb.send(w.buf)
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

// frameTryWriter is a FrameConn that can write a small frame at once from
// a goroutine other than its writer, such as netstack.Conn.
type frameTryWriter interface {
	TryWriteFrames(frames []byte) (bool, error)
}

// send writes frame b of sb, its 4-byte length and payload, from the
// sampler when the session's writer is idle and has nothing queued, else
// queues it for the writer as deliver does. It returns a buffer for the
// next sample. Writing here spares waking the writer goroutine, which
// cost a second thread wake-up per sample and most of the daemon's CPU
// while sampling. The writer must be idle, not merely without queued
// control frames, so that a subscription's response, which the writer
// may be writing, reaches the controller before its first sample.
func (sb *sampleSub) send(b []byte) []byte {
	s := sb.sess
	tw, ok := s.conn.(frameTryWriter)
	if !ok {
		return sb.deliver(b)
	}
	s.mu.Lock()
	idle := !sb.dead && sb.pending == nil && len(s.ctl) == 0 && !s.writing && !s.closed && !s.over
	s.mu.Unlock()
	if !idle {
		return sb.deliver(b)
	}
	sent, err := tw.TryWriteFrames(b)
	switch {
	case err != nil:
		s.conn.Close() // a frame may have been cut; the reader ends the session
		return b[:0]
	case sent:
		return b[:0]
	}
	return sb.deliver(b)
}

// deliver queues frame b as sb's pending sample, replacing one not yet
// sent, wakes the writer and returns a buffer for the next sample.
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
