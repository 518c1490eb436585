// SPDX-License-Identifier: Apache-2.0

package core

import (
	"bytes"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/core/spawn"
)

const defaultGrace = 2 * time.Second

// start runs proc.start for session s, in the loop.
func (e *Engine) start(s *session, a *codec.StartArgs) (*codec.StartResult, *codec.Error) {
	if e.stopping {
		return nil, codec.NewError(codec.CodeShuttingDown, "the daemon is stopping")
	}
	if len(a.Argv) == 0 || len(a.Argv[0]) == 0 {
		return nil, badArgs("argv", "argv is empty")
	}
	for _, kv := range a.Env.Set {
		if bytes.IndexByte(kv, '=') <= 0 {
			return nil, badArgs("env", "env.set entries are KEY=VALUE, got "+strconv.Quote(string(kv)))
		}
	}
	if a.Tag != "" {
		if p, ok := e.byTag[a.Tag]; ok {
			return e.restart(s, p, a)
		}
	}
	if a.Cgroup.MemMax != 0 || a.Cgroup.CPUQuota != 0 {
		if err := e.checkCgroupLimits(a); err != nil {
			return nil, err
		}
	}

	if cerr := checkCollect(a); cerr != nil {
		return nil, cerr
	}
	p := &proc{h: e.newHandle(), tag: a.Tag, argv: cloneArgv(a.Argv), pidfd: -1, owner: s,
		lease: time.Duration(a.Lease), timeout: time.Duration(a.Timeout), grace: time.Duration(a.Grace)}
	if p.grace == 0 {
		p.grace = defaultGrace
	}
	p.watch(s)
	p.created = now()
	p.times.StartReal, p.times.StartMono = p.created.real, p.created.mono

	sp, io, cerr := e.prepare(p, a)
	if cerr != nil {
		return nil, cerr
	}
	proc, err := spawn.Start(sp)
	kickReaper()
	io.closeChildEnds()
	if err != nil {
		io.closeAll()
		e.dropCgroup(p)
		return nil, e.spawnFailed(p, err)
	}
	e.register(p, proc, io, a)
	e.noteCollect(p, a)
	return &codec.StartResult{Handle: p.h, PID: uint32(p.pid), New: true, State: p.state}, nil
}

// restart answers a start whose tag names an existing process: the same
// process when the argv is the same, else ALREADY_EXISTS.
func (e *Engine) restart(s *session, p *proc, a *codec.StartArgs) (*codec.StartResult, *codec.Error) {
	if !sameArgv(p.argv, a.Argv) {
		return nil, codec.NewError(codec.CodeExists, "tag "+strconv.Quote(a.Tag)+" names a process with another argv")
	}
	p.watch(s)
	if p.state == stateFailed {
		return nil, failedError(&p.fail)
	}
	return &codec.StartResult{Handle: p.h, PID: uint32(p.pid), New: false, State: p.state}, nil
}

// register records a started process and starts its pumps and timers.
func (e *Engine) register(p *proc, sp *spawn.Process, io *childIO, a *codec.StartArgs) {
	p.sp, p.pid, p.pidfd = sp, sp.PID, sp.PidFD
	p.pgrp = a.Pgroup != "inherit"
	p.stdin = io.stdin
	e.procs[p.h] = p
	e.byPID[p.pid] = p
	if p.tag != "" {
		e.byTag[p.tag] = p
	}
	for i, f := range io.parent {
		if f == nil {
			continue
		}
		st := newStream(p.h, uint8(i+1), &e.mem, &e.disk, e.spoolPath(p.h, i+1, a.Output.MemOnly), e.cfg.RingMax)
		p.streams[i] = st
		st.attach(f)
		// After the response: the keeper needs the pipe only if the
		// daemon dies, and a sendmsg per stream need not delay the start.
		e.afterResponse(func() { e.keepStream(st, f) })
		e.wg.Add(1)
		go st.pump(f, e.wg.Done)
	}
	state := stateRunning
	if a.Stage {
		state = stateStaged
		if a.At != 0 {
			e.scheduleRelease([]*proc{p}, a.At)
		}
	} else {
		x, _ := sp.Result()
		p.times.ExecReal, p.times.ExecMono = ourReal(x.Real), uint64(x.Mono)
		e.armTimeout(p)
	}
	// The state event follows the start's response, so that a controller
	// knows the handle before it hears of it.
	p.state = state
	e.smp.procGen.Add(1)
	at := now()
	if state == stateRunning {
		at = stamp{p.times.ExecReal, p.times.ExecMono} // when the child passed to execve
	}
	e.afterResponse(func() { p.setState(state, at) })
	e.watchLease(p)
	e.journalStart(p)
}

// spawnFailed records why p could not start and returns the error for
// its start request. A start that fails before its response leaves no
// record, so a retry with the same tag starts afresh; a staged start that
// fails at release keeps its record (see released).
func (e *Engine) spawnFailed(p *proc, err error) *codec.Error {
	t := now()
	p.state = stateFailed
	p.fail = codec.Failed{K: codec.EventFailed, Handle: p.h, Step: "fork", Real: t.real, Mono: t.mono}
	var se *spawn.Error
	if errors.As(err, &se) {
		p.fail.Step, p.fail.Errno, p.fail.Sys = se.Step, uint32(se.Errno), errnoName(se.Errno)
	} else if errno, ok := err.(unix.Errno); ok {
		p.fail.Errno, p.fail.Sys = uint32(errno), errnoName(errno)
	}
	return failedError(&p.fail)
}

func failedError(f *codec.Failed) *codec.Error {
	ce := codec.NewError(codec.CodeSpawnFailed, "spawn failed at "+f.Step+": "+unix.Errno(f.Errno).Error())
	ce.Detail = codec.ErrorDetail{Step: f.Step, Errno: f.Errno, Sys: f.Sys}
	return ce
}

// newHandle returns a handle unique within this daemon instance; its top
// bits come from the instance id, so handles of two instances rarely
// collide.
func (e *Engine) newHandle() uint64 {
	for {
		e.nextH++
		// A process carried over from a previous instance may hold it.
		if _, ok := e.procs[e.nextH]; !ok {
			return e.nextH
		}
	}
}

// spoolPath returns where stream n of process h is spooled, or "" for
// memory-only retention. The file is made at the stream's first byte,
// off the loop.
func (e *Engine) spoolPath(h uint64, n int, memOnly bool) string {
	if memOnly || e.cfg.StateDir == "" {
		return ""
	}
	return e.spoolName(h, n)
}

// spoolName is the path of the spool of stream n of process h.
func (e *Engine) spoolName(h uint64, n int) string {
	return filepath.Join(e.cfg.StateDir, "spool", strconv.FormatUint(h, 16)+"."+strconv.Itoa(n))
}

func (e *Engine) checkCgroupLimits(a *codec.StartArgs) *codec.Error {
	if a.Cgroup.MemMax != 0 && (e.cg == nil || !e.cg.has("memory")) {
		return codec.NewError(codec.CodeUnsupported, "no memory controller for process cgroups on this machine")
	}
	if a.Cgroup.CPUQuota != 0 && (e.cg == nil || !e.cg.has("cpu")) {
		return codec.NewError(codec.CodeUnsupported, "no cpu controller for process cgroups on this machine")
	}
	return nil
}

func (e *Engine) dropCgroup(p *proc) {
	if p.cg != nil {
		p.cg.remove()
		p.cg = nil
	}
}

func badArgs(field, msg string) *codec.Error {
	ce := codec.NewError(codec.CodeBadArgs, msg)
	ce.Detail.Field = field
	return ce
}

func cloneArgv(argv [][]byte) [][]byte {
	out := make([][]byte, len(argv))
	for i, a := range argv {
		out[i] = bytes.Clone(a)
	}
	return out
}

func sameArgv(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// lookupCred resolves user and group names or numbers.
func lookupCred(userName, groupName string) (*spawn.Cred, error) {
	c := &spawn.Cred{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	if userName != "" {
		// A number is an id; anything else is a name.
		lookup := user.Lookup
		if _, err := strconv.Atoi(userName); err == nil {
			lookup = user.LookupId
		}
		u, err := lookup(userName)
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.UID, c.GID = uint32(uid), uint32(gid)
		if ids, err := u.GroupIds(); err == nil {
			for _, g := range ids {
				if n, err := strconv.Atoi(g); err == nil {
					c.Groups = append(c.Groups, uint32(n))
				}
			}
		}
	}
	if groupName != "" {
		lookup := user.LookupGroup
		if _, err := strconv.Atoi(groupName); err == nil {
			lookup = user.LookupGroupId
		}
		g, err := lookup(groupName)
		if err != nil {
			return nil, err
		}
		gid, _ := strconv.Atoi(g.Gid)
		c.GID = uint32(gid)
	}
	return c, nil
}
