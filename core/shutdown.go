// SPDX-License-Identifier: Apache-2.0

package core

import (
	"os"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
)

// shutdown tells every controller that the daemon is going away and, with
// KillOnExit, ends every process tree: SIGTERM, then SIGKILL after a
// grace period, reaping meanwhile so their exits are recorded.
func (e *Engine) shutdown(reaped chan reapResult) {
	e.stopping = true
	e.stopSampling()
	for s := range e.sessions {
		s.goaway(codec.NewError(codec.CodeShuttingDown, "the daemon is stopping"))
	}
	if e.cfg.KillOnExit {
		e.endAll(reaped)
	}
	for s := range e.sessions {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.wakeup()
		go func(s *session) {
			// Let the writer flush the GOAWAY before the connection closes.
			time.Sleep(50 * time.Millisecond)
			s.conn.Close()
		}(s)
	}
	e.closeCgroupReaper()
	if e.cg != nil && e.cfg.KillOnExit {
		for _, p := range e.procs {
			if p.cg != nil {
				e.removeCgroup(p.cg)
			}
		}
		os.Remove(e.cg.dir)
	}
}

// endAll ends every live process tree and waits, boundedly, for them.
func (e *Engine) endAll(reaped chan reapResult) {
	live := func() int {
		n := 0
		for _, p := range e.procs {
			if p.state == stateRunning || p.state == stateStaged {
				n++
			}
		}
		return n
	}
	for _, p := range e.procs {
		if p.state == stateRunning || p.state == stateStaged {
			p.why = "shutdown"
			p.signal(unix.SIGTERM, true)
		}
	}
	e.reapFor(reaped, defaultGrace, live)
	for _, p := range e.procs {
		if p.state == stateRunning || p.state == stateStaged || p.cg != nil {
			p.signal(unix.SIGKILL, true)
		}
	}
	e.reapFor(reaped, 2*time.Second, live)
}

// reapFor handles reaped children until live reports none or d passes.
func (e *Engine) reapFor(reaped chan reapResult, d time.Duration, live func() int) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for live() > 0 {
		select {
		case r := <-reaped:
			e.onReaped(r)
		case l := <-e.lost:
			e.onLost(l)
		case <-deadline.C:
			return
		}
	}
}
