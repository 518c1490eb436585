// SPDX-License-Identifier: Apache-2.0

// Package spawn starts child processes for tacetd and says exactly which
// step of a start failed.
//
// Start creates the child, which sets itself up (cgroup, session, stdio,
// resource limits, CPU affinity, nice, credentials, working directory)
// before it calls execve. A failed step comes back as an *Error naming the
// step and the errno, so a missing directory and a missing program are
// told apart. A staged start goes through execve too and is then held,
// stopped before the program's first instruction, until ReleaseAt, so a
// caller can prepare many processes and let them go together at an
// instant for the price of one ptrace request each.
//
// A start is a vfork, as posix_spawn and os/exec do it: the child borrows
// the daemon's memory until execve, so its cost does not grow with the
// daemon's size, and the goroutine calling Start holds its OS thread
// until the child has exec'd. A vfork into a cgroup needs clone3 on a new
// stack, which the package has for amd64 only; on other arches a start
// into a cgroup is forked, copying the daemon's page tables.
//
// A staged child is traced: it calls PTRACE_TRACEME before execve, so
// that execve stops it, and the package keeps one locked OS thread, the
// tracer, that forks every staged child and later detaches it, since the
// kernel takes ptrace requests only from the thread that forked. This
// needs no privilege for one's own child, but fails the "ptrace" step with
// EPERM where ptrace is forbidden: Yama's ptrace_scope 3, or 2 without
// CAP_SYS_PTRACE, or a seccomp filter. The tracer's exit kills the held
// children (PTRACE_O_EXITKILL), so they die with the daemon instead of
// starting late.
//
// The package never waits for its children. The daemon reaps every child
// in one place (it is a subreaper calling wait4(-1)), and a child that
// failed before or at execve has exited with status 127 and must be
// reaped there like any other; Error.PID names it. That wait4 also
// reports the stop of each staged child after execve, which is no exit
// and which the reaper must ignore; the package learns of the stop itself.
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
	// ResetSched starts the child at nice 0 (unless Nice is set), in
	// SCHED_OTHER and with no I/O priority class, whatever the caller
	// runs at; each is best effort (lowering a nice value may be denied).
	ResetSched bool

	// CgroupFD is an O_DIRECTORY fd of a cgroup v2 directory for the
	// child, or -1. The child is created in it (CLONE_INTO_CGROUP), so
	// it runs nothing outside it.
	CgroupFD int

	// Staged makes Start return once execve has succeeded, with the
	// program stopped before its first instruction until ReleaseAt.
	// Signals sent to it meanwhile stay pending, and only SIGKILL ends
	// it before its release; Process.Close is the orderly way to call
	// it off.
	Staged bool
}

// ExecInfo holds an instant read from both clocks, in nanoseconds: when
// a program began (see Process.Result) or when a release woke up. Real is
// CLOCK_REALTIME and Mono is CLOCK_MONOTONIC, which is comparable across
// processes on one machine.
type ExecInfo struct {
	Real, Mono int64
}

// Error reports the step of a start that failed. The steps, in the order
// the child takes them, are "fork" (in the parent), "setsid", "setpgid",
// "ctty", "fds", "rlimit", "affinity", "nice", "setgroups", "setgid",
// "setuid", "chdir", "ptrace" (staged only) and "execve". These names go
// on the wire. A held process that cannot be released fails "ptrace" too.
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
