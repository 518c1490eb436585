// SPDX-License-Identifier: Apache-2.0

package core

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/core/journal"
	"gitlab.com/tacet/tacet/core/keeper"
)

// A daemon that starts on the state directory of one that died carries
// its processes over: it reads the journal, takes the output pipes back
// from the dead daemon's keeper, and rebuilds each process's record.
// Processes that had ended keep their exit record and their spooled
// output. Processes still running (the same pid with the same start
// time, in the same boot) are no longer the daemon's children: they are
// watched through a pidfd until they end, signalled through it or their
// cgroup, and their exit record is marked unknown.

// takeTimeout bounds the wait for an old keeper that has not yet seen
// its daemon die.
const takeTimeout = 2 * time.Second

// recover reads the journal of the previous instance, carries its
// processes over and starts this instance's journal.
func (e *Engine) recover() error {
	path := journalPath(e.cfg.StateDir)
	recs, err := journal.Read(path)
	if errors.Is(err, journal.ErrNotJournal) {
		// Kept aside for a person to look at; the daemon starts afresh.
		os.Rename(path, path+".unreadable")
		recs, err = nil, nil
	}
	if err != nil {
		return err
	}
	old := journal.Replay(recs)
	if bytes.Equal(old.Instance, e.cfg.Instance) {
		// Controllers could not tell the restart, and handles of the
		// two instances would collide.
		return errors.New("the instance id is the previous instance's")
	}
	taken := e.takeBack()
	sameBoot := old.Boot == readTrim("/proc/sys/kernel/random/boot_id")
	e.noteOldCgroups(old)
	for _, jp := range old.Procs {
		e.inherit(jp, taken, sameBoot)
	}
	// Before this instance's journal replaces the old one, so that a
	// crash meanwhile leaves the directories recorded.
	e.sweepOldCgroups()
	for _, tk := range taken {
		// TODO: a pipe whose process the journal does not know (a start
		// whose record the crash cut short) is closed here, so its
		// writer gets SIGPIPE; the keeper should send the spool path with
		// each pipe, and the daemon keep draining it there.
		if tk.Pipe != nil {
			tk.Pipe.Close()
		}
	}
	e.jr, err = journal.Create(path, e.snapshot())
	return err
}

// keeperSock is where this instance's keeper listens after a takeover.
func (e *Engine) keeperSock() string {
	return filepath.Join(e.cfg.StateDir, "keeper-"+hex.EncodeToString(e.cfg.Instance[:4])+".sock")
}

// takeBack takes the pipes back from every keeper of a previous instance
// that listens in the state directory, by stream id.
func (e *Engine) takeBack() map[uint64]keeper.Taken {
	out := map[uint64]keeper.Taken{}
	socks, _ := filepath.Glob(filepath.Join(e.cfg.StateDir, "keeper-*.sock"))
	for _, s := range socks {
		if s == e.keeperSock() {
			continue
		}
		got, err := keeper.Take(s, takeTimeout)
		if errors.Is(err, unix.ECONNREFUSED) {
			os.Remove(s) // its keeper is gone
		}
		for _, tk := range got {
			out[tk.ID] = tk
		}
	}
	return out
}

// inherit rebuilds the record of one process of the previous instance.
func (e *Engine) inherit(jp *journal.Proc, taken map[uint64]keeper.Taken, sameBoot bool) {
	r := &jp.Start
	p := &proc{h: r.Handle, tag: r.Tag, argv: r.Argv, state: r.State, pid: int(r.PID), pidfd: -1,
		pstart: r.PStart, pgrp: r.Pgrp, times: r.Times, timeout: time.Duration(r.Timeout),
		grace: time.Duration(r.Grace), lease: time.Duration(r.Lease), created: stamp{r.Real, r.Mono},
		inherited: true}
	if p.grace == 0 {
		p.grace = defaultGrace
	}
	switch {
	case jp.Exit != nil:
		p.state, p.exit = stateExited, *jp.Exit
	case jp.Fail != nil:
		p.state, p.fail = stateFailed, *jp.Fail
	}
	e.procs[p.h] = p
	if p.tag != "" {
		e.byTag[p.tag] = p
	}
	if r.Cgroup != "" {
		if _, err := os.Stat(r.Cgroup); err == nil {
			p.cg = &cgroup{dir: r.Cgroup, fd: -1}
		}
	}
	live := !jp.Ended() && sameBoot && e.adopt(p)
	for i, path := range r.Spools {
		if path != "" && i < len(p.streams) {
			p.streams[i] = e.inheritStream(p, uint8(i+1), path, r.MemOnly, taken)
		}
	}
	switch {
	case live:
		e.watchInherited(p)
		if p.timeout > 0 && p.state == stateRunning {
			ran := time.Duration(monoNow() - p.times.ExecMono)
			e.after(p, max(p.timeout-ran, 0), func() { e.terminate(p, "timeout") })
		}
		if p.lease > 0 {
			// The starting connection died with the previous instance;
			// when is not known, so the lease counts from now.
			e.after(p, p.lease, func() { e.terminate(p, "lease") })
		}
	case !jp.Ended():
		// It ended while no daemon watched: when is not known either,
		// and the end instant is when this daemon found it gone.
		e.ended(p, now(), func(ex *codec.Exit) { ex.Unknown = true })
	default:
		// Its cgroup stays while descendants remain, for release to end
		// them, like that of a process of this instance.
		if p.cg != nil && e.removeCgroup(p.cg) == nil {
			p.cg = nil
		}
		e.retain(p)
	}
}

// adopt opens a pidfd on p if it is still the process the journal
// recorded. The start time is checked after the pidfd is open, so that
// the pidfd cannot name a later process.
func (e *Engine) adopt(p *proc) bool {
	fd, err := unix.PidfdOpen(p.pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return false
	}
	if st, ok := pidStartTime(p.pid); !ok || p.pstart == 0 || st != p.pstart {
		unix.Close(fd)
		return false
	}
	// Non-blocking, so the runtime's poller waits for it (watchInherited).
	p.pidFile = os.NewFile(uintptr(fd), "pidfd")
	p.pidfd = fd
	return true
}

// lostResult is the end of a process of a previous instance, seen on its
// pidfd.
type lostResult struct {
	p  *proc
	at stamp
}

// watchInherited waits, in the runtime's poller and so without a thread
// of its own, for p's pidfd to become readable, which it does when the
// process ends, and then hands the end to the loop.
func (e *Engine) watchInherited(p *proc) {
	rc, err := p.pidFile.SyscallConn()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err == nil {
			rc.Read(func(fd uintptr) bool { return pidfdReadable(int(fd)) })
		}
		l := lostResult{p, now()}
		select {
		case e.lost <- l:
		case <-e.stopped:
		}
	}()
}

// pidfdReadable reports whether the process of pidfd fd has ended.
func pidfdReadable(fd int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || n > 0
	}
}

// onLost records the end of a process of a previous instance. Its
// parent, not this daemon, reaps it, so how it ended is unknown.
func (e *Engine) onLost(l lostResult) {
	p := l.p
	if e.procs[p.h] != p || p.state == stateExited || p.state == stateFailed {
		return
	}
	e.ended(p, l.at, func(ex *codec.Exit) { ex.Unknown = true })
}

// inheritStream rebuilds stream id of p from its spool and, when a keeper
// gave it back, its pipe, which is then read on from where the keeper
// stopped.
func (e *Engine) inheritStream(p *proc, id uint8, path string, memOnly bool, taken map[uint64]keeper.Taken) *Stream {
	spool := path
	if memOnly {
		spool = ""
	}
	st := newStream(p.h, id, &e.mem, &e.disk, spool, e.cfg.RingMax)
	key := p.h<<2 | uint64(id)
	tk, ok := taken[key]
	delete(taken, key)

	var length, held uint64
	why := "restart" // a memory-only stream's bytes died with the daemon
	if !memOnly {
		why = "disk-budget"
		if fi, err := os.Stat(path); err == nil {
			held = uint64(fi.Size())
		}
		length = held
		if ok {
			length = uint64(tk.Offset)
		}
	}
	// TODO: a memory-only stream of a process that runs across the
	// restart goes on from offset 0 with what the keeper and this daemon
	// read after the crash; the count of bytes before it is not known.
	// The daemon could journal each memory-only stream's length now and
	// then, and report the rest as a gap of uncertain length.
	if p.state == stateExited && int(id) <= len(p.exit.Lengths) && p.exit.Lengths[id-1] > length {
		length = p.exit.Lengths[id-1]
	}
	st.inherit(length, held, why)
	if ok && tk.Pipe != nil {
		st.attach(tk.Pipe)
		e.keepStream(st, tk.Pipe)
		e.wg.Add(1)
		go st.pump(tk.Pipe, e.wg.Done)
	} else {
		// TODO: a stream whose pipe no keeper gave back (the keeper was
		// killed too) ends at what its spool holds, and whatever the
		// process writes later is lost unreported.
		st.eof = true
	}
	return st
}
