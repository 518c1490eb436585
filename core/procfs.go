// SPDX-License-Identifier: Apache-2.0

package core

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

// ppidOf reads the parent of pid from /proc/PID/stat, whose command name
// may hold spaces and parentheses: the fields resume after the last ')'.
func ppidOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0
	}
	return atoiOr(string(f[1]), 0)
}

// pidStartTime returns field 22 of /proc/PID/stat, the instant the
// process started in clock ticks after boot. A pid reused by a later
// process has a later start time. It is read on every start, so with
// plain syscalls into a buffer on the stack: os.ReadFile's stat and
// allocations double its cost.
func pidStartTime(pid int) (uint64, bool) {
	var path [32]byte
	p := strconv.AppendInt(append(path[:0], "/proc/"...), int64(pid), 10)
	p = append(p, "/stat"...)
	fd, err := unix.Open(string(p), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	var buf [1024]byte
	n, err := unix.Read(fd, buf[:])
	unix.Close(fd)
	if err != nil || n <= 0 {
		return 0, false
	}
	b := buf[:n]
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	// After the command name: field 3 (state) is f[0], field 22 is f[19].
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(f[19]), 10, 64)
	return v, err == nil
}
