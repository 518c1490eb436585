// SPDX-License-Identifier: Apache-2.0

package core

import (
	"errors"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/core/spawn"
)

// Timers exist only while something is due: a timeout, a lease, a
// scheduled signal or release. An idle daemon has none.

// after runs fn in the loop after d, and keeps the timer with p so that
// it is cancelled when p ends.
func (e *Engine) after(p *proc, d time.Duration, fn func()) {
	t := time.AfterFunc(d, func() { e.post(fn) })
	p.timers = append(p.timers, t)
}

// armTimeout starts p's timeout, counted from its exec: SIGTERM to the
// tree, then SIGKILL after the grace period.
func (e *Engine) armTimeout(p *proc) {
	if p.timeout <= 0 {
		return
	}
	e.after(p, p.timeout, func() { e.terminate(p, "timeout") })
}

// terminate ends p's tree gracefully: SIGTERM now, SIGKILL after the
// grace period if the process is still there. It is safe to call twice.
func (e *Engine) terminate(p *proc, why string) {
	if p.state == stateExited || p.state == stateFailed {
		return
	}
	if p.why == "" {
		p.why = why
	}
	p.signal(unix.SIGTERM, true)
	e.after(p, p.grace, func() {
		if p.state != stateExited {
			p.signal(unix.SIGKILL, true)
		}
	})
}

// waitUntil sleeps until the CLOCK_REALTIME instant at (ns), for signals
// sent at an instant. It first sleeps on a Go timer until shortly before,
// then on a thread of its own with clock_nanosleep(TIMER_ABSTIME), whose
// wake-up is precise to the kernel's timer slack rather than to the
// runtime's millisecond poller.
func waitUntil(at uint64) {
	const early = 2 * time.Millisecond
	if d := time.Duration(int64(at) - int64(realNow())); d > early {
		time.Sleep(d - early)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	ts := unix.NsecToTimespec(sysReal(at))
	for {
		err := unix.ClockNanosleep(unix.CLOCK_REALTIME, unix.TIMER_ABSTIME, &ts, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// scheduleRelease lets the staged processes ps run at the instant at (0:
// now), from a goroutine of its own, then reports each release to the
// loop. spawn.ReleaseAt sleeps on its tracer thread until the instant,
// then releases them one after the other.
func (e *Engine) scheduleRelease(ps []*proc, at uint64) {
	sps := make([]*spawn.Process, len(ps))
	for i, p := range ps {
		p.releasing = true
		sps[i] = p.sp
	}
	go func() {
		woke, _ := spawn.ReleaseAt(sysReal(at), sps...)
		rel := stamp{ourReal(woke.Real), uint64(woke.Mono)}
		for i, p := range ps {
			info, err := sps[i].Result()
			x := codec.Times{ExecReal: ourReal(info.Real), ExecMono: uint64(info.Mono)}
			e.post(func() { e.released(p, rel, x, err) })
		}
	}()
}

// released records the outcome of a staged start's release, then the
// process's exit if it was reaped meanwhile.
func (e *Engine) released(p *proc, rel stamp, x codec.Times, err error) {
	p.released = true
	ended := errors.Is(err, spawn.ErrEnded)
	if r := p.pendingReap; r != nil && (err == nil || ended) {
		p.pendingReap = nil
		defer e.onReaped(*r)
	}
	if ended {
		// Killed while staged: its exit, reaped or to come, says so,
		// with no release or exec instants.
		return
	}
	p.times.ReleaseReal, p.times.ReleaseMono = rel.real, rel.mono
	if err != nil {
		// The daemon could not let it go, so it must not run later
		// either; its reaping is of no more interest.
		p.signal(unix.SIGKILL, true)
		delete(e.byPID, p.pid)
		p.stopTimers()
		ce := e.spawnFailed(p, err)
		p.setState(stateFailed, now())
		e.smp.procGen.Add(1)
		e.journalFailed(p)
		p.notify(&p.fail)
		for _, w := range p.waiters {
			w.s.fail(w.id, ce)
		}
		p.waiters = nil
		return
	}
	p.times.ExecReal, p.times.ExecMono = x.ExecReal, x.ExecMono
	if p.state == stateStaged {
		// The change happened when the program was let go.
		p.setState(stateRunning, stamp{x.ExecReal, x.ExecMono})
		e.journalState(p)
		e.armTimeout(p)
	}
}

// scheduleSignal sends sig at the instant at, for fault injection, and
// then answers request id of s with the instant it was sent. The thread
// that slept to the instant sends the signal itself where it can, so
// that the loop's latency (microseconds when idle, milliseconds behind a
// burst of requests) does not add to the instant.
func (e *Engine) scheduleSignal(s *session, id uint32, p *proc, sig unix.Signal, tree bool, at uint64) {
	send := directSender(p, sig, tree)
	go func() {
		waitUntil(at)
		if send == nil {
			e.post(func() {
				r, cerr := e.sendSignal(p, sig, tree)
				answerSignal(s, id, r, cerr)
			})
			return
		}
		sent := now()
		err := send()
		e.post(func() {
			switch {
			case err == nil:
				s.respond(id, &codec.SignalResult{Real: sent.real, Mono: sent.mono})
			case err == errNotRunning || err == unix.ESRCH || errors.Is(err, os.ErrNotExist):
				s.fail(id, codec.NewError(codec.CodeWrongState, "the process has ended"))
			default:
				s.fail(id, codec.NewError(codec.CodeInternal, "signal: "+err.Error()))
			}
		})
	}()
}

// directSender returns a func that sends sig to p from any thread, with
// what it needs taken now, in the loop: a duplicate of p's pidfd, which
// cannot name another process after p is reaped, or p's cgroup for a
// tree. It returns nil when the send needs the loop: no pidfd, or a tree
// without a cgroup, whose members only the loop's records can find.
func directSender(p *proc, sig unix.Signal, tree bool) func() error {
	switch {
	case tree && p.cg != nil:
		cg := p.cg
		ends := sig == unix.SIGKILL || sig == unix.SIGTERM
		return func() error {
			if !cg.populated() {
				return errNotRunning
			}
			if ends {
				// Read by onReaped, which runs after the death this
				// signal may cause: it then says why.
				p.timedTree.Store(true)
			}
			return cg.signal(sig)
		}
	case !tree && p.pidfd >= 0 && (p.state == stateRunning || p.state == stateStaged):
		fd, err := unix.FcntlInt(uintptr(p.pidfd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil
		}
		return func() error {
			defer unix.Close(fd)
			return unix.PidfdSendSignal(fd, sig, nil, 0)
		}
	}
	return nil
}

// answerSignal answers a proc.signal with r or cerr.
func answerSignal(s *session, id uint32, r *codec.SignalResult, cerr *codec.Error) {
	if cerr != nil {
		s.fail(id, cerr)
		return
	}
	s.respond(id, r)
}
