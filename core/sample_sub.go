// SPDX-License-Identifier: Apache-2.0

package core

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tinylib/msgp/msgp"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/core/sample"
)

// Sampling (spec/PROTOCOL.md 11.15). Subscriptions live in the engine's
// sampling record, shared by the loop, which adds and removes them, and
// the sampler goroutine (sample_loop.go), which exists only while there
// is a subscription and sleeps to the next instant one is due. The
// sampler encodes each sample into a buffer of the subscription and the
// session's writer sends it as bulk (sample_send.go); a sample not yet
// sent when the next is ready is replaced by it.

const (
	samplePeriodUnit = 1_000_000 // ns: periods are rounded up to a multiple
	maxSampleSubs    = 64        // per connection
	procRoot         = "/proc"
)

// sampling is the engine's sampling state.
type sampling struct {
	mu      sync.Mutex // guards the fields below; lock before a session's mu
	subs    []*sampleSub
	running bool          // the sampler goroutine exists
	done    chan struct{} // closed when it exits
	all     []sample.Target

	replan  atomic.Bool   // set by kick, cleared by the sampler when it re-plans
	procGen atomic.Uint64 // bumped by the loop when a started process starts or ends
	timer   *sampleTimer  // made by the loop with the first subscription, then kept

	// Owned by the loop: the decoded arguments, and the readers and
	// result of sample.once.
	args     codec.SampleArgs
	unsub    codec.UnsubscribeArgs
	once     sampleFilter
	onceHost *sample.HostReader
	onceProc *sample.ProcReader
	onceSelf *sample.SelfReader
	onceRead codec.Sample
	onceView codec.Sample
}

// sampleFilter is what one request asked for.
type sampleFilter struct {
	src     sample.Sources
	devs    [][]byte
	handles []uint64
	pids    []uint32
	all     bool // "proc" with no handles and no pids: every started process
	targets []sample.Target
}

// sampleSub is one sample subscription. The sampler owns period, due and
// seq under sampling.mu; pending, free and dead are guarded by the
// session's mu.
type sampleSub struct {
	id     uint32
	sess   *session
	f      sampleFilter
	period uint64
	due    uint64 // MONO ns of the next sample
	seq    uint64

	pending []byte // an encoded payload waiting for the writer
	free    []byte // a spare buffer for the sampler
	dead    bool
}

// newFilter checks the arguments of sample.once and sample.subscribe and
// resolves the handles to processes.
func (e *Engine) newFilter(a *codec.SampleArgs, f *sampleFilter) *codec.Error {
	src, err := sample.ParseSources(a.Sources)
	if err != nil {
		return badArgs("src", err.Error())
	}
	*f = sampleFilter{src: src, devs: f.devs[:0], handles: append(f.handles[:0], a.Handles...),
		pids: append(f.pids[:0], a.PIDs...), targets: f.targets[:0]}
	for _, d := range a.Devs {
		f.devs = append(f.devs, bytes.Clone(d))
	}
	f.all = src&sample.Proc != 0 && len(a.Handles) == 0 && len(a.PIDs) == 0
	for _, h := range a.Handles {
		p, ok := e.procs[h]
		if !ok {
			ce := codec.NewError(codec.CodeNotFound, "no such process")
			ce.Detail.Field = "h"
			return ce
		}
		f.targets = append(f.targets, procTarget(p))
	}
	for _, pid := range a.PIDs {
		f.targets = append(f.targets, sample.Target{PID: int(pid)})
	}
	return nil
}

func procTarget(p *proc) sample.Target {
	t := sample.Target{Handle: p.h, PID: p.pid, Tree: true}
	if p.cg != nil {
		t.Cgroup = p.cg.dir
	}
	return t
}

// refreshAll rebuilds the list of running started processes, for
// subscriptions to every process. It runs in the loop.
func (e *Engine) refreshAll() {
	sm := &e.smp
	sm.mu.Lock()
	sm.all = sm.all[:0]
	for _, p := range e.procs {
		if p.state == stateRunning || p.state == stateStaged {
			sm.all = append(sm.all, procTarget(p))
		}
	}
	sm.mu.Unlock()
}

// dispatchSample decodes and runs the sample.* methods.
func (e *Engine) dispatchSample(s *session, id uint32, method string, a []byte) (msgp.Marshaler, *codec.Error) {
	sm := &e.smp
	if method == codec.MethodSampleUnsub {
		if err := decode(a, &sm.unsub); err != nil {
			return nil, err
		}
		return e.sampleUnsubscribe(s, sm.unsub.Sub)
	}
	if err := decode(a, &sm.args); err != nil {
		return nil, err
	}
	if method == codec.MethodSampleOnce {
		return e.sampleOnce(&sm.args)
	}
	return e.sampleSubscribe(s, id, &sm.args)
}

// sampleOnce answers sample.once.
func (e *Engine) sampleOnce(a *codec.SampleArgs) (msgp.Marshaler, *codec.Error) {
	sm := &e.smp
	if err := e.newFilter(a, &sm.once); err != nil {
		return nil, err
	}
	if sm.onceHost == nil {
		sm.onceHost = sample.NewHost(procRoot)
		sm.onceProc = sample.NewProcs(procRoot)
		sm.onceSelf = sample.NewSelf(procRoot)
	}
	if sm.once.all {
		e.refreshAll()
		sm.once.targets = append(sm.once.targets[:0], sm.all...)
	}
	r := &sm.onceRead
	miss := readSample(sm.onceHost, sm.onceProc, sm.onceSelf, sm.once.src, sm.once.targets, r)
	sm.once.view(r, miss, &sm.onceView)
	return &sm.onceView, nil
}

// sampleSubscribe answers sample.subscribe and starts the sampler if it
// is not running.
func (e *Engine) sampleSubscribe(s *session, reqID uint32, a *codec.SampleArgs) (msgp.Marshaler, *codec.Error) {
	if a.Period == 0 {
		return nil, badArgs("period", "period must be above 0")
	}
	if e.smp.timer == nil {
		t, err := newSampleTimer()
		if err != nil {
			return nil, codec.NewError(codec.CodeInternal, err.Error())
		}
		e.smp.timer = t
	}
	sb := &sampleSub{sess: s}
	if err := e.newFilter(a, &sb.f); err != nil {
		return nil, err
	}
	s.mu.Lock()
	n := len(s.ssubs)
	s.mu.Unlock()
	if n >= maxSampleSubs {
		ce := codec.NewError(codec.CodeLimit, "too many sample subscriptions on this connection")
		ce.Detail.Limit = maxSampleSubs
		return nil, ce
	}
	if sb.f.all {
		e.refreshAll()
	}
	sb.period = (a.Period + samplePeriodUnit - 1) / samplePeriodUnit * samplePeriodUnit
	sb.due = (monoNow()/sb.period + 1) * sb.period
	sb.id = s.newSubID()
	s.respond(reqID, &codec.SampleSubResult{Sub: sb.id, Period: sb.period})

	s.mu.Lock()
	s.ssubs = append(s.ssubs, sb)
	s.mu.Unlock()
	e.smp.add(e, sb)
	return nil, nil
}

// sampleUnsubscribe answers sample.unsubscribe. Once it returns no sample
// of the subscription is queued, and without subscriptions the sampler
// goroutine has exited.
func (e *Engine) sampleUnsubscribe(s *session, id uint32) (msgp.Marshaler, *codec.Error) {
	s.mu.Lock()
	i := slices.IndexFunc(s.ssubs, func(sb *sampleSub) bool { return sb.id == id })
	var sb *sampleSub
	if i >= 0 {
		sb = s.ssubs[i]
		s.ssubs = slices.Delete(s.ssubs, i, i+1)
	}
	s.mu.Unlock()
	if sb == nil {
		return nil, codec.NewError(codec.CodeNotFound, "no such subscription")
	}
	e.smp.remove(sb)
	return success(), nil
}

// endSampleSubs ends the sample subscriptions of a session that ended.
func (e *Engine) endSampleSubs(s *session) {
	s.mu.Lock()
	subs := s.ssubs
	s.ssubs = nil
	s.mu.Unlock()
	for _, sb := range subs {
		e.smp.remove(sb)
	}
}

// stopSampling ends every sample subscription, for shutdown.
func (e *Engine) stopSampling() {
	for s := range e.sessions {
		e.endSampleSubs(s)
	}
}

// add registers sb with the sampler, starting it if needed.
func (sm *sampling) add(e *Engine, sb *sampleSub) {
	sm.mu.Lock()
	sm.subs = append(sm.subs, sb)
	start := !sm.running
	if start {
		sm.running = true
		sm.done = make(chan struct{})
		go e.sampleLoop(sm.done)
	}
	sm.mu.Unlock()
	if !start {
		sm.kick()
	}
}

// remove unregisters sb, drops its queued sample, and with the last
// subscription waits for the sampler to exit.
func (sm *sampling) remove(sb *sampleSub) {
	sm.mu.Lock()
	if i := slices.Index(sm.subs, sb); i >= 0 {
		sm.subs = slices.Delete(sm.subs, i, i+1)
	}
	last, done := len(sm.subs) == 0 && sm.running, sm.done
	sm.mu.Unlock()

	s := sb.sess
	s.mu.Lock()
	sb.dead, sb.pending, sb.free = true, nil, nil
	s.mu.Unlock()
	if last {
		sm.kick()
		<-done
	}
}

// view fills v with what f asked for out of r, a read of the union of
// several requests; miss is the set of sources r could not read. v's
// slices alias r's records or reuse v's storage.
func (f *sampleFilter) view(r *codec.Sample, miss sample.Sources, v *codec.Sample) {
	*v = codec.Sample{K: codec.EventSample, Seq: r.Seq, Real: r.Real, Mono: r.Mono, Dur: r.Dur,
		Self: r.Self, Miss: (miss & f.src).Names(v.Miss[:0]),
		CPU: pick(f.src&sample.CPU, r.CPU), Mem: pick(f.src&sample.Mem, r.Mem),
		Load: pick(f.src&sample.Load, r.Load), PSI: pick(f.src&sample.PSI, r.PSI),
		VM: pick(f.src&sample.VM, r.VM), Net: v.Net[:0], Disk: v.Disk[:0], Proc: v.Proc[:0]}
	if f.src&sample.Net != 0 {
		for _, n := range r.Net {
			if f.wantDev(n.Dev) {
				v.Net = append(v.Net, n)
			}
		}
	}
	if f.src&sample.Disk != 0 {
		for _, d := range r.Disk {
			if f.wantDev(d.Dev) {
				v.Disk = append(v.Disk, d)
			}
		}
	}
	if f.src&sample.Proc != 0 {
		for _, p := range r.Proc {
			if f.wantProc(&p) {
				v.Proc = append(v.Proc, p)
			}
		}
	}
}

// pick returns recs when the source is wanted.
func pick[T any](want sample.Sources, recs []T) []T {
	if want == 0 {
		return nil
	}
	return recs
}

func (f *sampleFilter) wantDev(dev []byte) bool {
	if len(f.devs) == 0 {
		return true
	}
	for _, d := range f.devs {
		if bytes.Equal(d, dev) {
			return true
		}
	}
	return false
}

func (f *sampleFilter) wantProc(p *codec.ProcSample) bool {
	if p.Handle != 0 {
		return f.all || slices.Contains(f.handles, p.Handle)
	}
	return slices.Contains(f.pids, p.PID)
}
