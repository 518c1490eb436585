// SPDX-License-Identifier: Apache-2.0

package spawn

/*
#include <stdlib.h>
#include "spawn.h"
*/
import "C"

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Start starts the process s describes. It returns once the child has
// called execve with success, or with the *Error of the step that failed.
// With s.Staged the program is then stopped before its first instruction
// until ReleaseAt.
//
// On error the returned Process is nil and Start holds no fd. A child
// that was started and failed has exited; the caller's reaper reaps it.
func Start(s *Spec) (*Process, error) {
	if err := check(s); err != nil {
		return nil, err
	}
	f, err := openFiles(s)
	if err != nil {
		return nil, err
	}

	var pid, pidfd int
	if s.Staged {
		onTracer(func() { pid, pidfd, err = fork(s, f) })
	} else {
		pid, pidfd, err = fork(s, f)
	}
	f.closeChild()
	if err != nil {
		f.closeParent()
		return nil, err
	}

	p := &Process{PID: pid, PidFD: pidfd, status: f.statusR}
	p.finish()
	if p.err == nil && s.Staged {
		p.info = ExecInfo{} // the instant that counts is the release
		if p.err = hold(p.PID); p.err != nil {
			// Alive but not stopped, or ended: either way it must not run.
			p.kill()
		}
		p.held = p.err == nil
	}
	if p.err != nil {
		p.Close()
		return nil, p.err
	}
	return p, nil
}

// fork lays out the attributes in C memory and starts the child, which
// reads them from the parent's memory, or from its copy of it when it is
// forked; spawn_fork returns after a vfork child has exec'd or exited, so
// the memory can be freed here either way. Until then the
// calling thread is blocked in C, as os/exec's is in vfork; the cgo call
// hands the P to another thread if it takes long.
//
// It does not take syscall.ForkLock. That lock keeps an fd from reaching
// a child between its creation and its close-on-exec flag being set; our
// child closes every fd it does not name (close_range), and all the fds
// Start opens are close-on-exec from the start. Taking it would only make
// every start wait for os/exec.
func fork(s *Spec, f *files) (pid, pidfd int, err error) {
	paths := candidates(s.Argv[0], s.Env)
	var a arena
	a.layout(s, paths, f)
	a.mem = C.malloc(C.size_t(a.off)) // never nil: cgo's malloc aborts instead
	defer C.free(a.mem)
	a.off = 0
	attr := a.layout(s, paths, f)

	var cpidfd, cerr C.int
	cpid := C.spawn_fork(&attr, &cpidfd, &cerr)
	if cpid < 0 {
		return 0, -1, &Error{Step: "fork", Errno: unix.Errno(cerr)}
	}
	return int(cpid), int(cpidfd), nil
}

// files holds the fds the parent opens for one start. The child's ends
// are closed as soon as the fork returns, so that the status pipe ends
// when the child's copy does.
type files struct {
	statusR, statusW int
	null             int // /dev/null, -1 unless a stdio fd is -1
}

func openFiles(s *Spec) (*files, error) {
	f := &files{-1, -1, -1}
	err := pipe(&f.statusR, &f.statusW)
	if err == nil && (s.Stdin < 0 || s.Stdout < 0 || s.Stderr < 0) {
		err = devNull(&f.null)
	}
	if err != nil {
		f.closeChild()
		f.closeParent()
		return nil, forkError(err)
	}
	return f, nil
}

func pipe(r, w *int) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	*r, *w = p[0], p[1]
	return nil
}

func devNull(fd *int) error {
	n, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err == nil {
		*fd = n
	}
	return err
}

// forkError reports a failure to prepare the fork as a fork failure: to
// the caller both mean the child could not be created.
func forkError(err error) error {
	return &Error{Step: "fork", Errno: errnoOf(err)}
}

// errnoOf returns the errno in err, or EIO if it holds none.
func errnoOf(err error) unix.Errno {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		errno = unix.EIO
	}
	return errno
}

func (f *files) closeChild() {
	closeFD(&f.statusW)
	closeFD(&f.null)
}

func (f *files) closeParent() {
	closeFD(&f.statusR)
}

// closeFD closes *fd unless it is -1, then sets it to -1.
func closeFD(fd *int) error {
	if *fd < 0 {
		return nil
	}
	err := unix.Close(*fd)
	*fd = -1
	return err
}
