// SPDX-License-Identifier: Apache-2.0

//go:build cgo

package spawn

/*
#include "spawn.h"
*/
import "C"

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

var (
	// ErrNoStatus is returned when the child ended without reporting how
	// its start went, as when it is killed during setup.
	ErrNoStatus = errors.New("spawn: child ended without reporting its outcome")

	// ErrNotHeld is returned by ReleaseAt for a process not started with
	// Staged, or already released or closed.
	ErrNotHeld = errors.New("spawn: process is not held")

	// ErrEnded is the Result of a staged process that ended, killed,
	// before its release: its program never ran.
	ErrEnded = errors.New("spawn: staged process ended before its release")
)

// Process is a child started by Start. Its methods are not safe for
// concurrent use, and Close should come last; ReleaseAt may run on one
// process while another goroutine works on another.
type Process struct {
	PID   int
	PidFD int // a pidfd for the child, or -1 if the kernel gave none

	status int  // read end of the status pipe; -1 once read to the end or closed
	held   bool // staged, stopped after execve, not yet released or closed
	info   ExecInfo
	err    error
}

// finish reads the execve outcome from the status pipe.
func (p *Process) finish() {
	p.info, p.err = outcome(p.status, p.PID)
	closeFD(&p.status)
}

// Result returns the instant the program began: for a start that was not
// staged, the clocks the child read just before execve; for a staged one,
// the clocks read just after its release. A staged process that ended
// before its release has ErrEnded; one not released yet has no result.
func (p *Process) Result() (ExecInfo, error) {
	return p.info, p.err
}

// Close closes the pidfd and the pipe p holds. Closing a staged process
// before its release calls the start off: the program is killed
// (SIGKILL) before its first instruction.
func (p *Process) Close() error {
	if p.held {
		p.held = false
		p.kill()
	}
	err := errors.Join(closeFD(&p.PidFD), closeFD(&p.status))
	if err != nil {
		return fmt.Errorf("spawn: close: %w", err)
	}
	return nil
}

// kill kills a staged child. Through the pidfd a child reaped meanwhile
// cannot be mistaken for another process that took its pid; without one,
// the tracer checks that pid is still its stopped tracee first.
func (p *Process) kill() {
	if p.PidFD >= 0 {
		unix.PidfdSendSignal(p.PidFD, unix.SIGKILL, nil, 0)
		return
	}
	onTracer(func() { C.spawn_cancel(C.pid_t(p.PID)) })
}

// Release lets a staged process run now: ReleaseAt(0, p).
func (p *Process) Release() error {
	_, err := ReleaseAt(0, p)
	return err
}
