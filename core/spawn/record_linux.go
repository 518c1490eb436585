// SPDX-License-Identifier: Apache-2.0

package spawn

/*
#include "spawn.h"
*/
import "C"

import (
	"fmt"
	"io"
	"unsafe"

	"golang.org/x/sys/unix"
)

// steps names each C spawn_step as it goes on the wire.
var steps = [...]string{
	C.SPAWN_STEP_FORK:      "fork",
	C.SPAWN_STEP_SETSID:    "setsid",
	C.SPAWN_STEP_SETPGID:   "setpgid",
	C.SPAWN_STEP_CTTY:      "ctty",
	C.SPAWN_STEP_FDS:       "fds",
	C.SPAWN_STEP_RLIMIT:    "rlimit",
	C.SPAWN_STEP_AFFINITY:  "affinity",
	C.SPAWN_STEP_NICE:      "nice",
	C.SPAWN_STEP_SETGROUPS: "setgroups",
	C.SPAWN_STEP_SETGID:    "setgid",
	C.SPAWN_STEP_SETUID:    "setuid",
	C.SPAWN_STEP_CHDIR:     "chdir",
	C.SPAWN_STEP_PTRACE:    "ptrace",
	C.SPAWN_STEP_EXECVE:    "execve",
}

// Record kinds, from spawn.h, where the format is described.
const (
	recExec = C.SPAWN_REC_EXEC
	recFail = C.SPAWN_REC_FAIL
)

type record = C.struct_spawn_record

// readRecord reads one record from the status pipe with blocking reads.
// It returns io.EOF at a clean end of file.
func readRecord(fd int) (record, error) {
	var r record
	b := unsafe.Slice((*byte)(unsafe.Pointer(&r)), unsafe.Sizeof(r))
	for n := 0; n < len(b); {
		m, err := unix.Read(fd, b[n:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return r, fmt.Errorf("spawn: read status pipe: %w", err)
		case m == 0 && n == 0:
			return r, io.EOF
		case m == 0:
			return r, fmt.Errorf("spawn: read status pipe: %w", io.ErrUnexpectedEOF)
		}
		n += m
	}
	return r, nil
}

// failure turns a FAIL record from the child pid into its error.
func failure(r record, pid int) error {
	if int(r.step) >= len(steps) {
		return fmt.Errorf("spawn: status record names unknown step %d", r.step)
	}
	return &Error{Step: steps[r.step], Errno: unix.Errno(r.err), PID: pid}
}

// expect reads the next record, which must be of kind want. A FAIL
// record is returned as its *Error.
func expect(fd, pid int, want uint32) (record, error) {
	r, err := readRecord(fd)
	switch {
	case err == io.EOF:
		return r, ErrNoStatus
	case err != nil:
		return r, err
	case r.kind == recFail:
		return r, failure(r, pid)
	case uint32(r.kind) != want:
		return r, fmt.Errorf("spawn: status record of kind %d, want %d", r.kind, want)
	}
	return r, nil
}

// outcome reads what follows setup: the EXEC record, then either end of
// file, when close-on-exec shut the pipe in a successful execve, or the
// FAIL record of the execve step.
func outcome(fd, pid int) (ExecInfo, error) {
	r, err := expect(fd, pid, recExec)
	if err != nil {
		return ExecInfo{}, err
	}
	info := ExecInfo{Real: int64(r.real_ns), Mono: int64(r.mono_ns)}

	r, err = readRecord(fd)
	switch {
	case err == io.EOF:
		return info, nil
	case err != nil:
		return ExecInfo{}, err
	case r.kind == recFail:
		return ExecInfo{}, failure(r, pid)
	}
	return ExecInfo{}, fmt.Errorf("spawn: status record of kind %d after exec", r.kind)
}
