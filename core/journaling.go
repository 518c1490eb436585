// SPDX-License-Identifier: Apache-2.0

package core

import (
	"cmp"
	"path/filepath"
	"slices"

	"gitlab.com/tacet/tacet/core/journal"
)

// The journal (package journal) holds what a daemon started after this
// one died needs to report this one's processes. A record is written
// when a process is started (before the start's response, so that a
// start reported to a controller is never forgotten), when a staged
// process runs, when a process ends and when it is released; the journal
// is flushed to disk, off the loop, after a start and after an end. No
// output goes through it: the spools hold that.

// journalPath is the journal's file in the state directory.
func journalPath(stateDir string) string { return filepath.Join(stateDir, "journal") }

// journalAppend writes r, when there is a journal. An append that fails
// (the disk is full) is counted in journal.Writer.Err; the daemon goes
// on without it.
func (e *Engine) journalAppend(r *journal.Record, sync bool) {
	if e.jr == nil {
		return
	}
	e.jr.Append(r)
	if sync {
		e.jr.Sync()
	}
}

// startRecord returns the journal's view of p: how it was started, and
// what became of it so far.
func (e *Engine) startRecord(p *proc) journal.Record {
	r := journal.Record{K: journal.KindStart, Handle: p.h, Tag: p.tag, Argv: p.argv,
		PID: uint32(p.pid), PStart: p.pstart, Pgrp: p.pgrp, State: p.state, Times: p.times,
		Timeout: int64(p.timeout), Grace: int64(p.grace), Lease: int64(p.lease), Real: p.created.real, Mono: p.created.mono,
		Spools: make([]string, 3)}
	if p.cg != nil {
		r.Cgroup = p.cg.dir
	}
	for i, st := range p.streams {
		switch {
		case st == nil:
		case st.spoolPath != "":
			r.Spools[i] = st.spoolPath
		default:
			r.MemOnly = true
			r.Spools[i] = e.spoolName(p.h, i+1) + keptOnly
		}
	}
	switch p.state {
	case stateExited:
		ex := p.exit
		r.Exit = &ex
	case stateFailed:
		f := p.fail
		r.Fail = &f
	}
	return r
}

// keptOnly ends the name of the file a keeper continues a memory-only
// stream in.
const keptOnly = ".kept-only"

func (e *Engine) journalStart(p *proc) {
	if e.jr == nil {
		return
	}
	p.pstart, _ = pidStartTime(p.pid)
	r := e.startRecord(p)
	e.journalAppend(&r, false)
	// Flushed once the response is on its way.
	e.afterResponse(e.jr.Sync)
}

func (e *Engine) journalState(p *proc) {
	e.journalAppend(&journal.Record{K: journal.KindState, Handle: p.h, State: p.state, Times: p.times}, false)
}

func (e *Engine) journalExit(p *proc) {
	e.journalAppend(&journal.Record{K: journal.KindExit, Handle: p.h, Exit: &p.exit}, true)
}

func (e *Engine) journalFailed(p *proc) {
	e.journalAppend(&journal.Record{K: journal.KindFailed, Handle: p.h, Fail: &p.fail}, true)
}

// journalRelease records that p is forgotten, and rewrites the journal
// when the records of released processes make up most of it.
func (e *Engine) journalRelease(p *proc) {
	if e.jr == nil {
		return
	}
	e.journalAppend(&journal.Record{K: journal.KindRelease, Handle: p.h}, false)
	if e.jr.Records() > 2*len(e.procs)+compactMin {
		e.jr.Rewrite(e.snapshot())
	}
}

// compactMin is the number of records a journal may hold beyond twice
// the live processes before it is rewritten: a rewrite costs a write of
// every live process, so it is done when that is small beside the file.
const compactMin = 1024

// snapshot returns the records of a journal that says what the daemon
// knows now: this instance, then every process not released.
func (e *Engine) snapshot() []journal.Record {
	recs := make([]journal.Record, 0, len(e.procs)+1)
	recs = append(recs, journal.Record{K: journal.KindInstance, Instance: e.cfg.Instance,
		Boot: readTrim("/proc/sys/kernel/random/boot_id"), Cgroups: e.instanceCgroups()})
	for _, p := range e.procsInOrder() {
		recs = append(recs, e.startRecord(p))
	}
	return recs
}

// procsInOrder returns the processes in the order they were started.
func (e *Engine) procsInOrder() []*proc {
	ps := make([]*proc, 0, len(e.procs))
	for _, p := range e.procs {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *proc) int {
		if c := cmp.Compare(a.created.mono, b.created.mono); c != 0 {
			return c
		}
		return cmp.Compare(a.h, b.h)
	})
	return ps
}
