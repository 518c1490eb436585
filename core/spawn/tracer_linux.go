// SPDX-License-Identifier: Apache-2.0

//go:build cgo

package spawn

/*
#include "spawn.h"
*/
import "C"

import (
	"errors"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The tracer is the one OS thread that forks every staged child, holds it
// once execve has stopped it, and releases it. A child that asks to be
// traced with PTRACE_TRACEME is traced by the thread that forked it, and
// the kernel takes ptrace requests on it from that thread alone, so all
// three must run there. The thread is locked for the life of the process
// and never exits: a tracer's exit would kill its held children
// (PTRACE_O_EXITKILL), as the daemon's exit should.
//
// While a release at an instant is pending, the thread waits for it in C,
// polling a timerfd for the instant and an eventfd for other work (a
// staged start), which it does and then goes back to waiting. No Go timer
// and no other thread stands between the trigger and the release, so a
// release is not late for want of a CPU for them on a busy machine.
var tracer struct {
	once sync.Once
	efd  int // eventfd: work is queued
	tfd  int // timerfd on CLOCK_REALTIME, for the instant

	mu   sync.Mutex // guards the fields below
	work []func()   // to run on the thread, in order
	due  []*release // releases not done yet
}

// release is one ReleaseAt waiting for the tracer.
//
// TODO: a release is not called off when its processes end before the
// instant: it stays queued, and its ReleaseAt blocked, until the instant
// comes and the detaches fail with ESRCH. Harmless but for the goroutine
// and the memory it holds meanwhile; dropping it from due when every one
// of its processes is closed would fix that.
type release struct {
	at   int64 // CLOCK_REALTIME ns; 0: now
	pids []C.pid_t
	done chan struct{} // closed once the fields below are set

	woke  [2]C.int64_t
	times []C.int64_t
	errs  []C.int
}

func startTracer() {
	tracer.once.Do(func() {
		var err error
		tracer.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err == nil {
			tracer.tfd, err = unix.TimerfdCreate(unix.CLOCK_REALTIME, unix.TFD_CLOEXEC)
		}
		if err != nil {
			// Without them the tracer cannot wait for both; a process
			// out of fds cannot start children anyway.
			panic("spawn: tracer: " + err.Error())
		}
		go traceLoop()
	})
}

// kick wakes the tracer, waiting in C or about to.
func kick() {
	var one = [8]byte{1}
	unix.Write(tracer.efd, one[:])
}

// onTracer runs fn on the tracer thread and returns when it is done.
func onTracer(fn func()) {
	startTracer()
	done := make(chan struct{})
	tracer.mu.Lock()
	tracer.work = append(tracer.work, func() {
		fn()
		close(done)
	})
	tracer.mu.Unlock()
	kick()
	<-done
}

func traceLoop() {
	runtime.LockOSThread() // never unlocked: see tracer
	var buf [8]byte
	for {
		tracer.mu.Lock()
		work := tracer.work
		tracer.work = nil
		var next *release
		for _, r := range tracer.due {
			if next == nil || r.at < next.at {
				next = r
			}
		}
		tracer.mu.Unlock()

		for _, fn := range work {
			fn()
		}
		switch {
		case len(work) > 0:
			// More may have come meanwhile; look again before waiting.
		case next == nil:
			unix.Read(tracer.efd, buf[:]) // blocks until work or a release comes
		case releaseNow(next):
			tracer.mu.Lock()
			tracer.due = slices.DeleteFunc(tracer.due, func(r *release) bool { return r == next })
			tracer.mu.Unlock()
			close(next.done)
		}
	}
}

// releaseNow waits for r's instant in C and releases its processes, unless
// work comes first; it reports whether it released them.
func releaseNow(r *release) bool {
	var hush time.Duration
	if r.at > 0 {
		hush = quiet
	}
	return C.spawn_release(C.int(tracer.efd), C.int(tracer.tfd), C.int64_t(r.at), C.int64_t(hush),
		&r.pids[0], C.int(len(r.pids)), &r.woke[0], &r.times[0], &r.errs[0]) != 0
}

// holdTimeout bounds the wait for a staged child to stop after execve,
// which takes microseconds unless the machine is overloaded.
const holdTimeout = 5 * time.Second

// hold waits until the staged child pid, whose execve succeeded, is
// stopped before its first instruction, and readies it for release.
func hold(pid int) error {
	var errno C.int
	onTracer(func() { errno = C.spawn_hold(C.pid_t(pid), C.int64_t(holdTimeout)) })
	if errno == 0 {
		return nil
	}
	return &Error{Step: "ptrace", Errno: unix.Errno(errno), PID: pid}
}

// quiet is how long the tracer thread stays asleep after a release at an
// instant before it returns to Go, where reporting the release would wake
// the rest of the daemon, and the controller, while the released programs
// are starting. Over 8 daemons on one loaded 2-CPU machine, that work
// spread the programs' starts several times wider.
const quiet = 5 * time.Millisecond

// ReleaseAt lets the staged processes ps run from their first
// instruction, together, at the CLOCK_REALTIME instant at in ns since the
// epoch, or at once if that instant is not in the future. It returns the
// clocks read when the wait ended, just before the first release. Each
// process's Result then says when it was released; the error returned
// joins those of the processes that could not be.
//
// The processes are released one after the other by one thread, a
// PTRACE_DETACH each, which takes a few microseconds. After a release at
// an instant ReleaseAt returns quiet later, and staged starts wait for
// the tracer during that time.
func ReleaseAt(at int64, ps ...*Process) (ExecInfo, error) {
	for _, p := range ps {
		if !p.held {
			return ExecInfo{}, ErrNotHeld
		}
	}
	if len(ps) == 0 {
		return ExecInfo{}, nil
	}

	r := &release{at: max(at, 0), pids: make([]C.pid_t, len(ps)), done: make(chan struct{}),
		times: make([]C.int64_t, 2*len(ps)), errs: make([]C.int, len(ps))}
	for i, p := range ps {
		r.pids[i] = C.pid_t(p.PID)
	}
	startTracer()
	tracer.mu.Lock()
	tracer.due = append(tracer.due, r)
	tracer.mu.Unlock()
	kick()
	<-r.done

	var all []error
	for i, p := range ps {
		p.held = false
		p.info, p.err = ExecInfo{Real: int64(r.times[2*i]), Mono: int64(r.times[2*i+1])}, nil
		switch errno := unix.Errno(r.errs[i]); errno {
		case 0:
			continue
		case unix.ESRCH:
			// A held child leaves its stop only by being killed.
			p.info, p.err = ExecInfo{}, ErrEnded
		default:
			p.info, p.err = ExecInfo{}, &Error{Step: "ptrace", Errno: errno, PID: p.PID}
		}
		all = append(all, p.err)
	}
	return ExecInfo{Real: int64(r.woke[0]), Mono: int64(r.woke[1])}, errors.Join(all...)
}
