// SPDX-License-Identifier: Apache-2.0

//go:build cgo

package spawn

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

var (
	// ErrNoStatus is returned when the child ended without reporting how
	// its start went, as when it is killed during setup.
	ErrNoStatus = errors.New("spawn: child ended without reporting its outcome")

	// ErrNoGate is returned by Release for a process not started with
	// Staged, or already released or closed.
	ErrNoGate = errors.New("spawn: no gate to open")

	// ErrNotReleased is returned by Result for a staged process that
	// has not been released.
	ErrNotReleased = errors.New("spawn: result before release")
)

// Process is a child started by Start. Its methods are not safe for
// concurrent use, and Close should come last.
type Process struct {
	PID   int
	PidFD int // a pidfd for the child, or -1 if the kernel gave none

	status   int  // read end of the status pipe; -1 once read to the end or closed
	gate     int  // write end of the gate pipe; -1 unless staged and not released
	staged   bool // whether the child stops before execve
	released bool
	done     bool // whether info and err hold the execve outcome
	info     ExecInfo
	err      error
}

// await reads what Start waits for: the READY record of a staged child,
// or else the execve outcome.
func (p *Process) await() error {
	if p.staged {
		_, err := expect(p.status, p.PID, recReady)
		return err
	}
	p.finish()
	return p.err
}

func (p *Process) finish() {
	p.info, p.err = outcome(p.status, p.PID)
	p.done = true
	closeFD(&p.status)
}

// Release lets a staged child go on to execve. It writes one byte to the
// gate and closes it; Result then reports the outcome.
func (p *Process) Release() error {
	if p.gate < 0 {
		return ErrNoGate
	}
	var err error
	for {
		if _, err = unix.Write(p.gate, []byte{1}); err != unix.EINTR {
			break
		}
	}
	closeFD(&p.gate) // a pipe's write end has nothing to flush
	p.released = true

	var errno unix.Errno
	if errors.As(err, &errno) {
		return &Error{Step: "gate", Errno: errno, PID: p.PID}
	}
	return err
}

// Result returns the clocks the child read just before execve, or the
// error of the execve step. For a staged process it blocks until the
// child has called execve, and must follow Release. For other processes
// it returns at once what Start saw.
//
// A child killed between reading the clocks and execve is reported as
// started: that moment cannot be told from a successful execve.
func (p *Process) Result() (ExecInfo, error) {
	switch {
	case p.done:
		return p.info, p.err
	case !p.released:
		return ExecInfo{}, ErrNotReleased
	case p.status < 0:
		return ExecInfo{}, fmt.Errorf("spawn: result: %w", os.ErrClosed)
	}
	p.finish()
	return p.info, p.err
}

// Close closes the pidfd and the pipes p holds. Closing a staged process
// before Release calls the start off: the child exits with status 127
// and never runs the program.
func (p *Process) Close() error {
	err := closeFD(&p.PidFD)
	err = errors.Join(err, closeFD(&p.status), closeFD(&p.gate))
	if err != nil {
		return fmt.Errorf("spawn: close: %w", err)
	}
	return nil
}
