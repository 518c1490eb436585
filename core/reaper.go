// SPDX-License-Identifier: Apache-2.0

package core

import (
	"sync"

	"golang.org/x/sys/unix"
)

// reapResult is one child reaped by wait4.
type reapResult struct {
	pid    int
	status unix.WaitStatus
	usage  unix.Rusage
	at     stamp
}

// The reaper is one goroutine for the whole process that sits in a
// blocking wait4(-1) on a thread of its own: one thread for every child,
// never one per child. The kernel wakes it directly when any child
// ends, which is sooner than a SIGCHLD travelling through the runtime's
// signal goroutine. It reaps orphaned descendants too, since the daemon
// is their subreaper, and hands everything to the engine running at the
// moment; with no child at all, wait4 fails with ECHILD and the reaper
// waits for the next start to kick it.
//
// It is process-wide because wait4(-1) is: two reapers would steal each
// other's children.
var reaper struct {
	once sync.Once
	kick chan struct{} // capacity 1: a child may exist now

	mu   sync.Mutex
	out  chan<- reapResult // the running engine's, nil between engines
	done <-chan struct{}   // closed when that engine stops reading out
}

// startReaper makes out receive every reaped child until stop is called.
func startReaper(out chan<- reapResult) (stop func()) {
	reaper.once.Do(func() {
		reaper.kick = make(chan struct{}, 1)
		go reapLoop()
	})
	done := make(chan struct{})
	reaper.mu.Lock()
	reaper.out, reaper.done = out, done
	reaper.mu.Unlock()
	kickReaper()
	return func() {
		reaper.mu.Lock()
		if reaper.out == out {
			reaper.out, reaper.done = nil, nil
		}
		reaper.mu.Unlock()
		close(done)
	}
}

// kickReaper tells the reaper that a child may have been started, in
// case it is waiting because there was none.
func kickReaper() {
	select {
	case reaper.kick <- struct{}{}:
	default:
	}
}

func reapLoop() {
	for {
		var r reapResult
		pid, err := unix.Wait4(-1, &r.status, 0, &r.usage)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil || pid <= 0:
			<-reaper.kick // no child left: wait for a start
			continue
		}
		if r.status.Stopped() {
			// A staged child stopped by its execve: wait reports the
			// stops of traced children even without WUNTRACED. It is
			// not an exit; spawn watches for that stop itself, through
			// ptrace, and the tracer's release ends it.
			continue
		}
		r.pid, r.at = pid, now()
		reaper.mu.Lock()
		out, done := reaper.out, reaper.done
		reaper.mu.Unlock()
		if out != nil {
			select {
			case out <- r:
			case <-done:
			}
		}
	}
}
