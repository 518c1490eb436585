// SPDX-License-Identifier: Apache-2.0

// Package spawn starts child processes for tacetd and says exactly which
// step of a start failed.
//
// Start creates the child, which sets itself up (cgroup, session, stdio,
// resource limits, CPU affinity, nice, credentials, working directory)
// before it calls execve. A failed step comes back as an *Error naming the
// step and the errno, so a missing directory and a missing program are
// told apart. A staged start stops just before execve until Release, so a
// caller can prepare many processes and let them go together.
//
// A start that is not staged is a vfork, as posix_spawn and os/exec do
// it: the child borrows the daemon's memory until execve, so its cost
// does not grow with the daemon's size, and the goroutine calling Start
// holds its OS thread until the child has exec'd. A staged child cannot
// hold a thread while it waits, so it is forked with clone3 and copies
// the daemon's page tables, which costs more in a large daemon. A vfork
// into a cgroup needs clone3 on a new stack, which the package has for
// amd64 only; on other arches a start into a cgroup is forked too.
//
// The package never waits for its children. The daemon reaps every child
// in one place (it is a subreaper calling wait4(-1)), and a child that
// failed before or at execve has exited with status 127 and must be
// reaped there like any other; Error.PID names it.
//
// Spawn is for Linux and needs cgo: after fork the child may run only
// async-signal-safe code, which rules out Go, so that part is written in
// C (spawn_linux.c).
package spawn

import "golang.org/x/sys/unix"

// Rlimit is one resource limit to set in the child.
type Rlimit struct {
	Resource int    // unix.RLIMIT_*
	Cur, Max uint64 // unix.RLIM_INFINITY for no limit
}

// Cred is the identity the child takes before execve.
type Cred struct {
	UID, GID uint32
	Groups   []uint32 // the supplementary groups; empty clears them
}

// Spec describes a process to start. The byte strings may hold any bytes
// except NUL.
//
// Mind the fd fields: their zero value is fd 0, not "none". A Spec must
// set Stdin, Stdout, Stderr and CgroupFD, to -1 where nothing is meant.
type Spec struct {
	// Argv[0] names the program. Without a '/' it is looked up in the
	// PATH of Env, or in /usr/local/bin:/usr/bin:/bin when Env has none.
	// Unlike execvp, a file without a known executable format is not
	// retried with /bin/sh; its ENOEXEC is reported.
	Argv [][]byte
	Env  [][]byte // the complete environment, each "K=V"
	Dir  []byte   // the working directory; empty keeps the daemon's

	// Stdin, Stdout and Stderr are fds of the caller that become 0, 1
	// and 2 in the child; -1 means /dev/null.
	Stdin, Stdout, Stderr int

	Setsid  bool // start a new session, and so a new process group
	Setpgid bool // start a new process group; ignored with Setsid
	Ctty    bool // make Stdin, a terminal, the controlling one; needs Setsid

	Cred    *Cred // nil keeps the daemon's identity
	Rlimits []Rlimit
	CPUs    []int // the CPUs to run on; empty inherits the affinity
	Nice    *int  // nil inherits the nice value

	// CgroupFD is an O_DIRECTORY fd of a cgroup v2 directory for the
	// child, or -1. The child is created in it (CLONE_INTO_CGROUP), so
	// it runs nothing outside it.
	CgroupFD int

	// Staged makes Start return once setup is done, with the child
	// waiting for Release before execve. Until execve the child blocks
	// every signal, so only SIGKILL ends a staged child; Process.Close
	// is the orderly way to call it off.
	Staged bool
}

// ExecInfo holds the clocks read in the child just before execve, in
// nanoseconds. Real is CLOCK_REALTIME and Mono is CLOCK_MONOTONIC, which
// is comparable across processes on one machine.
type ExecInfo struct {
	Real, Mono int64
}

// Error reports the step of a start that failed. The steps, in the order
// the child takes them, are "fork" (in the parent), "setsid", "setpgid",
// "ctty", "fds", "rlimit", "affinity", "nice", "setgroups", "setgid",
// "setuid", "chdir", "gate" and "execve". These names go on the wire.
//
// The child is created in its cgroup by clone3, so a cgroup it cannot
// join fails the "fork" step, with no PID.
//
// Start also reports a Spec it refuses, such as a NUL byte in Argv, as
// the step that would have failed, with EINVAL and no PID.
type Error struct {
	Step  string
	Errno unix.Errno
	PID   int // the child, which has exited 127; 0 if none was started
}

// Error returns "spawn: <step>: <errno text>".
func (e *Error) Error() string {
	return "spawn: " + e.Step + ": " + e.Errno.Error()
}

// Unwrap returns e.Errno, so errors.Is(err, unix.ENOENT) works.
func (e *Error) Unwrap() error {
	return e.Errno
}
