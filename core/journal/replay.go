// SPDX-License-Identifier: Apache-2.0

package journal

import "gitlab.com/tacet/tacet/codec"

// State is what a journal says: the processes that were not released,
// each as its start record brought up to date, with its exit or failure
// if it ended.
type State struct {
	Instance []byte   // of the last instance that wrote the journal
	Boot     string   // the boot the last instance ran in
	Cgroups  []string // cgroup directories the last instance had to remove
	Procs    []*Proc
}

// Proc is one process of a State.
type Proc struct {
	Start Record // K is KindStart; State and Times are the latest known
	Exit  *codec.Exit
	Fail  *codec.Failed
}

// Ended reports whether the journal holds the end of the process.
func (p *Proc) Ended() bool { return p.Exit != nil || p.Fail != nil }

// Replay folds records into the state they describe. Records about a
// handle the journal never started are ignored.
func Replay(recs []Record) *State {
	st := &State{}
	byH := map[uint64]*Proc{}
	var order []*Proc
	for i := range recs {
		r := &recs[i]
		if r.K == KindInstance {
			st.Instance, st.Boot, st.Cgroups = r.Instance, r.Boot, r.Cgroups
			continue
		}
		if r.K == KindStart {
			p := &Proc{Start: *r}
			if r.Exit != nil || r.Fail != nil {
				// A rewrite writes an ended process as one record.
				p.Exit, p.Fail = r.Exit, r.Fail
				p.Start.Exit, p.Start.Fail = nil, nil
			}
			byH[r.Handle] = p
			order = append(order, p)
			continue
		}
		p := byH[r.Handle]
		if p == nil {
			continue
		}
		switch r.K {
		case KindState:
			p.Start.State, p.Start.Times = r.State, r.Times
		case KindExit:
			p.Exit = r.Exit
			p.Start.State = "exited"
		case KindFailed:
			p.Fail = r.Fail
			p.Start.State = "failed"
		case KindRelease:
			delete(byH, r.Handle)
		}
	}
	for _, p := range order {
		if byH[p.Start.Handle] == p {
			st.Procs = append(st.Procs, p)
		}
	}
	return st
}
