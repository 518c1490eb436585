// SPDX-License-Identifier: Apache-2.0

package core

import (
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/core/spawn"
)

// Process states, as on the wire.
const (
	stateStaged  = "staged"
	stateRunning = "running"
	stateExited  = "exited"
	stateFailed  = "failed"
)

// proc is the record of one process, owned by the loop.
type proc struct {
	h           uint64
	tag         string
	argv        [][]byte
	state       string
	pid         int
	pidfd       int
	sp          *spawn.Process
	pgrp        bool        // the process leads its own process group
	releasing   bool        // a staged start's release is scheduled
	released    bool        // the loop has recorded the release's outcome
	pendingReap *reapResult // the exit, when it came before the release's outcome
	cg          *cgroup
	pstart      uint64   // field 22 of /proc/PID/stat, to tell the pid's reuse
	pidFile     *os.File // the pidfd of a process of a previous instance, watched by the poller
	inherited   bool     // started by a previous instance of the daemon (recover.go)

	owner    *session
	lease    time.Duration
	watchers map[*session]struct{}
	waiters  []waiter

	streams [3]*Stream // stdout, stderr, pty; nil when not captured
	stdin   *stdinPipe

	times   codec.Times
	timeout time.Duration
	grace   time.Duration
	timers  []*time.Timer // pending timeouts, lease and scheduled signals
	leaseT  *time.Timer   // looks at the owner's silence (lease.go); also in timers
	why     string        // why the daemon ended it, once it decided to
	// timedTree is set by a timer thread just before it sends a tree
	// SIGTERM or SIGKILL at an instant (timers.go): the only field of a
	// proc written outside the loop.
	timedTree atomic.Bool
	exit      codec.Exit
	fail      codec.Failed
	created   stamp
}

type waiter struct {
	s  *session
	id uint32
}

// info returns the proc.status view of p.
func (p *proc) info() codec.ProcInfo {
	pi := codec.ProcInfo{
		Handle: p.h, PID: uint32(p.pid), Tag: p.tag, State: p.state, Argv: p.argv,
		Real: p.created.real, Mono: p.created.mono, Lengths: p.lengths(),
	}
	switch p.state {
	case stateExited:
		pi.Exit = p.exit
	case stateFailed:
		pi.Fail = p.fail
	}
	return pi
}

// lengths returns the bytes captured so far per stream; element i is
// stream i+1: two elements, or three (the first two 0) with a pty.
func (p *proc) lengths() []uint64 {
	n := 2
	if p.streams[2] != nil {
		n = 3
	}
	out := make([]uint64, n)
	for i, st := range p.streams[:n] {
		if st != nil {
			out[i], _ = st.Len()
		}
	}
	return out
}

// stream returns the stream numbered id on the wire.
func (p *proc) stream(id uint8) *Stream {
	if id < 1 || id > 3 {
		return nil
	}
	return p.streams[id-1]
}

// watch makes s receive p's state, exit and failed events.
func (p *proc) watch(s *session) {
	if p.watchers == nil {
		p.watchers = make(map[*session]struct{})
	}
	p.watchers[s] = struct{}{}
}

// notify sends a control event to every watcher.
func (p *proc) notify(ev interface{ MarshalMsg([]byte) ([]byte, error) }) {
	for s := range p.watchers {
		s.event(ev)
	}
}

// stateEvent tells the watchers that p is now in state.
func (p *proc) setState(state string, at stamp) {
	p.state = state
	p.notify(&codec.State{K: codec.EventState, Handle: p.h, PID: uint32(p.pid), State: state, Real: at.real, Mono: at.mono})
}

// stopTimers cancels every pending timer of p.
func (p *proc) stopTimers() {
	for _, t := range p.timers {
		t.Stop()
	}
	p.timers = nil
}

// signal sends sig to the process, or with tree to every process of its
// tree, however they detached: through the cgroup where there is one,
// else through the process group and the descendants found in /proc.
func (p *proc) signal(sig unix.Signal, tree bool) error {
	if !tree {
		if p.state != stateRunning && p.state != stateStaged {
			return errNotRunning
		}
		if p.pidfd >= 0 {
			return unix.PidfdSendSignal(p.pidfd, sig, nil, 0)
		}
		return unix.Kill(p.pid, sig)
	}
	if p.cg != nil {
		// The cgroup outlives the process while descendants remain in it.
		if p.state != stateRunning && p.state != stateStaged && !p.cg.populated() {
			return errNotRunning
		}
		return p.cg.signal(sig)
	}
	if p.state != stateRunning && p.state != stateStaged {
		return errNotRunning
	}
	return signalDescendants(p.pid, p.pgrp && p.state != stateExited, sig)
}

// signalDescendants is the fallback tree kill without a cgroup: the
// process group, then every process whose chain of parents leads to pid.
// A descendant that left the group and whose parent died before the walk
// has been reparented to the daemon and is missed; that is why a cgroup
// is used wherever the machine has one.
func signalDescendants(pid int, group bool, sig unix.Signal) error {
	if group {
		unix.Kill(-pid, sig)
	}
	for _, d := range descendants(pid) {
		unix.Kill(d, sig)
	}
	if group {
		return nil
	}
	return unix.Kill(pid, sig)
}

// descendants lists the processes below pid by walking /proc.
func descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c := atoiOr(e.Name(), -1)
		if c > 0 {
			parent[c] = ppidOf(c)
		}
	}
	var out []int
	for c := range parent {
		// Bounded by the map's size, in case a pid reused mid-walk makes
		// the parents loop.
		for q, n := parent[c], 0; q > 1 && n < len(parent); q, n = parent[q], n+1 {
			if q == pid {
				out = append(out, c)
				break
			}
		}
	}
	return out
}
