// SPDX-License-Identifier: Apache-2.0

package core

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/core/spawn"
)

// childIO holds the fds made for one start: the ends the child receives
// and the ends the daemon keeps.
type childIO struct {
	child  []int       // closed in the parent once the child has them
	parent [3]*os.File // read ends: stdout, stderr, pty
	stdin  *stdinPipe
}

func (c *childIO) closeChildEnds() {
	for _, fd := range c.child {
		unix.Close(fd)
	}
	c.child = nil
}

func (c *childIO) closeAll() {
	c.closeChildEnds()
	for _, f := range c.parent {
		if f != nil {
			f.Close()
		}
	}
	if c.stdin != nil {
		c.stdin.f.Close()
	}
}

// prepare turns the start arguments into a spawn.Spec, making the pipes,
// the pseudo-terminal and the cgroup. A failure here is reported like a
// failure in the child, with its step.
func (e *Engine) prepare(p *proc, a *codec.StartArgs) (*spawn.Spec, *childIO, *codec.Error) {
	sp := &spawn.Spec{Argv: a.Argv, Env: buildEnv(&a.Env), Dir: a.Cwd, Stdin: -1, Stdout: -1, Stderr: -1, CgroupFD: -1, Staged: a.Stage}
	io := &childIO{}
	fail := func(step string, err error) (*spawn.Spec, *childIO, *codec.Error) {
		io.closeAll()
		return nil, nil, e.spawnFailed(p, &spawn.Error{Step: step, Errno: errnoOf(err)})
	}

	switch a.Pgroup {
	case "", "pgrp":
		sp.Setpgid = true
	case "session":
		sp.Setsid = true
	case "inherit":
	default:
		return nil, nil, badArgs("pg", "pg must be pgrp, session or inherit")
	}
	if a.Output.PTY {
		if err := io.openPTY(sp, a.Output.Rows, a.Output.Cols); err != nil {
			return fail("pty", err)
		}
	} else {
		if err := io.openStdin(sp, &a.Stdin); err != nil {
			return fail("stdin", err)
		}
		if err := io.openPipes(sp); err != nil {
			return fail("fds", err)
		}
	}
	if cerr := setLimits(sp, a, e.cfg.ChildCPUs, e.cfg.ResetSched); cerr != nil {
		io.closeAll()
		return nil, nil, cerr
	}
	if a.User != "" || a.Group != "" {
		cred, err := lookupCred(a.User, a.Group)
		if err != nil {
			io.closeAll()
			return nil, nil, badArgs("user", err.Error())
		}
		sp.Cred = cred
	}
	if e.cg != nil {
		cg, err := e.cg.create(p.h)
		if err != nil {
			return fail("cgroup", err)
		}
		p.cg = cg
		sp.CgroupFD = cg.fd
		if cerr := applyCgroupLimits(cg, &a.Cgroup); cerr != nil {
			io.closeAll()
			e.dropCgroup(p)
			return nil, nil, cerr
		}
	}
	return sp, io, nil
}

// pipeSize is the capacity asked for the output pipes; the kernel caps
// it at /proc/sys/fs/pipe-max-size for unprivileged daemons.
const pipeSize = 1 << 20

// openPipes makes the stdout and stderr pipes. The daemon's ends are
// non-blocking so that the runtime's poller wakes their pumps.
func (c *childIO) openPipes(sp *spawn.Spec) error {
	for i, target := range []*int{&sp.Stdout, &sp.Stderr} {
		var fds [2]int
		if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
			return err
		}
		unix.SetNonblock(fds[0], true)
		// A larger pipe lets a child that writes in bursts go on while
		// the daemon is busy spooling; its pages are used only when full.
		unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, pipeSize)
		c.parent[i] = os.NewFile(uintptr(fds[0]), "stdout")
		c.child = append(c.child, fds[1])
		*target = fds[1]
	}
	return nil
}

// openStdin gives the child /dev/null, a pipe the daemon writes, or a
// file opened by the daemon.
func (c *childIO) openStdin(sp *spawn.Spec, in *codec.StdinSpec) error {
	switch in.Mode {
	case "", "none":
		return nil
	case "file":
		fd, err := unix.Open(string(in.Path), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		c.child = append(c.child, fd)
		sp.Stdin = fd
		return nil
	case "pipe":
		var fds [2]int
		if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
			return err
		}
		unix.SetNonblock(fds[1], true)
		c.stdin = newStdinPipe(os.NewFile(uintptr(fds[1]), "stdin"))
		c.child = append(c.child, fds[0])
		sp.Stdin = fds[0]
		return nil
	}
	return unix.EINVAL
}

// openPTY makes a pseudo-terminal: the child gets the slave as stdin,
// stdout and stderr and as its controlling terminal; the daemon reads
// and writes the master.
func (c *childIO) openPTY(sp *spawn.Spec, rows, cols uint16) error {
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	unlock := 0
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, unlock); err != nil {
		unix.Close(m)
		return err
	}
	n, err := unix.IoctlGetUint32(m, unix.TIOCGPTN)
	if err != nil {
		unix.Close(m)
		return err
	}
	if rows == 0 {
		rows, cols = 24, 80
	}
	unix.IoctlSetWinsize(m, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	s, err := unix.Open("/dev/pts/"+strconv.Itoa(int(n)), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(m)
		return err
	}
	master := os.NewFile(uintptr(m), "ptmx")
	c.parent[2] = master
	// The stdin writer needs its own fd: the pump owns the master's.
	w, err := unix.Dup(m)
	if err == nil {
		unix.CloseOnExec(w)
		c.stdin = newStdinPipe(os.NewFile(uintptr(w), "pty"))
		c.stdin.tty = true
	}
	c.child = append(c.child, s)
	sp.Stdin, sp.Stdout, sp.Stderr = s, s, s
	sp.Setsid, sp.Setpgid, sp.Ctty = true, false, true
	return nil
}

// buildEnv returns the child's environment: the daemon's or none, then
// Set applied in order, then Unset.
func buildEnv(es *codec.EnvSpec) [][]byte {
	var env [][]byte
	if es.Mode != "clear" {
		// A copy of the slice: unsetEnv filters in place.
		env = slices.Clone(daemonEnv())
	}
	for _, kv := range es.Set {
		env = setEnv(env, kv)
	}
	for _, k := range es.Unset {
		env = unsetEnv(env, k)
	}
	return env
}

// daemonEnv is the daemon's environment, which does not change while it
// runs, converted once rather than at every start.
var daemonEnv = sync.OnceValue(func() [][]byte {
	var env [][]byte
	for _, kv := range os.Environ() {
		env = append(env, []byte(kv))
	}
	return env
})

func envKey(kv []byte) []byte {
	if i := bytes.IndexByte(kv, '='); i >= 0 {
		return kv[:i]
	}
	return kv
}

func setEnv(env [][]byte, kv []byte) [][]byte {
	env = unsetEnv(env, envKey(kv))
	return append(env, kv)
}

func unsetEnv(env [][]byte, key []byte) [][]byte {
	out := env[:0]
	for _, kv := range env {
		if !bytes.Equal(envKey(kv), key) {
			out = append(out, kv)
		}
	}
	return out
}

func errnoOf(err error) unix.Errno {
	if errno, ok := err.(unix.Errno); ok {
		return errno
	}
	if pe, ok := err.(*os.PathError); ok {
		if errno, ok := pe.Err.(unix.Errno); ok {
			return errno
		}
	}
	return unix.EIO
}
