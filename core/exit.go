// SPDX-License-Identifier: Apache-2.0

package core

import (
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
)

// onReaped records the end of a process. The exit is reported now, when
// the process is reaped, even if a descendant still holds its output
// open: the streams are drained of what is already in the pipes, and the
// exit carries their lengths at this instant.
func (e *Engine) onReaped(r reapResult) {
	p, ok := e.byPID[r.pid]
	if !ok {
		return // an orphaned descendant handed to the subreaper
	}
	if p.releasing && !p.released {
		// A released child can end before the loop hears from its
		// release: the exit waits for the release's instants.
		p.pendingReap = &r
		return
	}
	delete(e.byPID, r.pid)
	e.ended(p, r.at, func(ex *codec.Exit) {
		switch ws := r.status; {
		case ws.Signaled():
			ex.Signal, ex.Core = uint8(ws.Signal()), ws.CoreDump()
		default:
			ex.Code = uint8(ws.ExitStatus())
		}
		ex.Usage = rusage(&r.usage)
	})
}

// ended records that p ended at the instant at, reports it and journals
// it. fill sets what is known of how it ended: the wait status of a
// child, or nothing but unknown for a process of a previous instance.
func (e *Engine) ended(p *proc, at stamp, fill func(ex *codec.Exit)) {
	p.stopTimers()
	open := false
	for _, st := range p.streams {
		if st != nil && !st.drain() {
			open = true
		}
	}
	if p.why == "" && p.timedTree.Load() {
		p.why = "tree"
	}
	ex := &p.exit
	*ex = codec.Exit{K: codec.EventExit, Handle: p.h, PID: uint32(p.pid), Why: p.why}
	fill(ex)
	p.times.EndReal, p.times.EndMono = at.real, at.mono
	ex.Times = p.times
	ex.Lengths = p.lengths()
	ex.Open = open
	if p.cg != nil {
		ex.Cgroup = cgroupUsage(p.cg, e.cg != nil && e.cg.has("memory"))
		if ex.Cgroup.OOMKill > 0 && ex.Why == "" {
			ex.Why = "oom"
		}
	}
	if p.sp != nil {
		p.sp.Close()
		p.pidfd = -1
	}
	if p.pidFile != nil {
		p.pidfd = -1
		p.pidFile.Close()
		p.pidFile = nil
	}
	if p.stdin != nil {
		p.stdin.abandon()
	}
	e.keepCollected(p)
	p.setState(stateExited, at)
	e.smp.procGen.Add(1)
	e.journalExit(p)
	p.notify(ex)
	for _, w := range p.waiters {
		w.s.respond(w.id, ex)
	}
	p.waiters = nil

	// Removed once the exit is on its way: an rmdir is not needed to
	// report it. It fails while descendants remain; release retries.
	if p.cg != nil && e.removeCgroup(p.cg) == nil {
		p.cg = nil
	}
	e.retain(p)
}

// retain releases p on its own once the configured retention has passed.
func (e *Engine) retain(p *proc) {
	if e.cfg.Retention > 0 {
		time.AfterFunc(e.cfg.Retention, func() {
			e.post(func() {
				if e.procs[p.h] == p {
					e.forget(p)
				}
			})
		})
	}
}

// rusage converts wait4's usage into the protocol's.
func rusage(ru *unix.Rusage) codec.Rusage {
	return codec.Rusage{
		UserNs: uint64(ru.Utime.Nano()), SysNs: uint64(ru.Stime.Nano()),
		MaxRSS: uint64(ru.Maxrss), MinFlt: uint64(ru.Minflt), MajFlt: uint64(ru.Majflt),
		InBlk: uint64(ru.Inblock), OutBlk: uint64(ru.Oublock),
		NVCSw: uint64(ru.Nvcsw), NIVCSw: uint64(ru.Nivcsw),
	}
}

// cgroupUsage reads what the kernel accounted to the process's cgroup:
// cpu.stat, which every cgroup v2 has, and the memory files when the
// memory controller is on, which is on the path of every exit otherwise.
func cgroupUsage(cg *cgroup, memory bool) codec.CgUsage {
	var u codec.CgUsage
	if b, err := os.ReadFile(filepath.Join(cg.dir, "cpu.stat")); err == nil {
		user, ok1 := statKey(b, "user_usec")
		sys, ok2 := statKey(b, "system_usec")
		if ok1 && ok2 {
			u.Valid, u.UserNs, u.SysNs = true, user*1000, sys*1000
		}
	}
	if !memory {
		return u
	}
	if peak, ok := cg.single("memory.peak"); ok {
		u.MemPeak = peak
	}
	if n, ok := cg.statValue("memory.events", "oom_kill"); ok {
		u.OOMKill = n
	}
	return u
}
