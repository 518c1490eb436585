// SPDX-License-Identifier: Apache-2.0

package spawn

/*
#include "spawn.h"
*/
import "C"

import (
	"bytes"
	"unsafe"

	"golang.org/x/sys/unix"
)

const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// maxCPU bounds the affinity mask the parent builds for one start.
const maxCPU = 1 << 16

// check refuses a Spec the child could not carry out, before any fork.
func check(s *Spec) error {
	bad := func(step string) error { return &Error{Step: step, Errno: unix.EINVAL} }
	if len(s.Argv) == 0 || hasNUL(s.Argv) || hasNUL(s.Env) {
		return bad("execve")
	}
	if bytes.IndexByte(s.Dir, 0) >= 0 {
		return bad("chdir")
	}
	if s.Ctty && !s.Setsid {
		return bad("ctty")
	}
	for _, cpu := range s.CPUs {
		if cpu < 0 || cpu >= maxCPU {
			return bad("affinity")
		}
	}
	return nil
}

func hasNUL(list [][]byte) bool {
	for _, b := range list {
		if bytes.IndexByte(b, 0) >= 0 {
			return true
		}
	}
	return false
}

// candidates lists the paths the child passes to execve in turn, as
// execvp would search them. An empty PATH entry means the working
// directory, which is the child's, after chdir.
func candidates(name []byte, env [][]byte) [][]byte {
	if len(name) == 0 {
		return nil
	}
	if bytes.IndexByte(name, '/') >= 0 {
		return [][]byte{name}
	}
	var paths [][]byte
	for _, dir := range bytes.Split(pathOf(env), []byte(":")) {
		if len(dir) == 0 {
			paths = append(paths, name)
			continue
		}
		paths = append(paths, bytes.Join([][]byte{dir, name}, []byte("/")))
	}
	return paths
}

// pathOf returns the first PATH in env, as getenv would find it.
func pathOf(env [][]byte) []byte {
	for _, kv := range env {
		if v, ok := bytes.CutPrefix(kv, []byte("PATH=")); ok {
			return v
		}
	}
	return []byte(defaultPath)
}

// An arena lays out everything the child reads in one C allocation. It is
// used twice: with mem nil it only measures, then it fills memory of the
// measured size. So sizes and contents cannot drift apart.
type arena struct {
	mem unsafe.Pointer
	off int
}

func (a *arena) alloc(n int) unsafe.Pointer {
	off := a.off
	a.off += (n + 7) &^ 7
	if a.mem == nil {
		return nil
	}
	return unsafe.Add(a.mem, off)
}

func (a *arena) str(b []byte) *C.char {
	p := a.alloc(len(b) + 1)
	if p != nil {
		dst := unsafe.Slice((*byte)(p), len(b)+1)
		dst[copy(dst, b)] = 0
	}
	return (*C.char)(p)
}

func (a *arena) strs(list [][]byte) **C.char {
	p := a.alloc((len(list) + 1) * int(unsafe.Sizeof(uintptr(0))))
	var v []*C.char
	if p != nil {
		v = unsafe.Slice((**C.char)(p), len(list)+1)
		v[len(list)] = nil
	}
	for i, b := range list {
		s := a.str(b)
		if v != nil {
			v[i] = s
		}
	}
	return (**C.char)(p)
}

// layout returns the attributes for s, with the execve candidates from
// paths and the parent's fds from f.
func (a *arena) layout(s *Spec, paths [][]byte, f *files) C.struct_spawn_attr {
	attr := C.struct_spawn_attr{
		argv:      a.strs(s.Argv),
		envp:      a.strs(s.Env),
		paths:     a.strs(paths),
		status_fd: C.int(f.statusW),
		cgroup_fd: C.int(s.CgroupFD),
		flags:     flags(s),
	}
	if len(s.Dir) > 0 {
		attr.dir = a.str(s.Dir)
	}
	for i, fd := range [3]int{s.Stdin, s.Stdout, s.Stderr} {
		if fd < 0 {
			fd = f.null
		}
		attr.fd[i] = C.int(fd)
	}
	if s.Nice != nil {
		attr.nice = C.int(*s.Nice)
	}
	a.cred(&attr, s.Cred)
	a.rlimits(&attr, s.Rlimits)
	a.cpus(&attr, s.CPUs)
	return attr
}

// forkAlways makes every start fork, as one into a cgroup does on arches
// without spawn_clone3, so that tests and benchmarks can compare the fork
// with the vfork.
var forkAlways = false

func flags(s *Spec) C.int {
	var f C.int
	for _, b := range []struct {
		on   bool
		flag C.int
	}{
		{s.Setsid, C.SPAWN_SETSID},
		{s.Setpgid, C.SPAWN_SETPGID},
		{s.Ctty, C.SPAWN_CTTY},
		{s.Cred != nil, C.SPAWN_CRED},
		{s.Nice != nil, C.SPAWN_NICE},
		{forkAlways, C.SPAWN_FORK},
		{s.Staged, C.SPAWN_TRACE},
		{s.ResetSched, C.SPAWN_RESET_SCHED},
	} {
		if b.on {
			f |= b.flag
		}
	}
	return f
}

func (a *arena) cred(attr *C.struct_spawn_attr, c *Cred) {
	if c == nil {
		return
	}
	attr.uid, attr.gid = C.uint32_t(c.UID), C.uint32_t(c.GID)
	attr.ngroups = C.size_t(len(c.Groups))
	p := a.alloc(4 * len(c.Groups))
	attr.groups = (*C.uint32_t)(p)
	if p != nil {
		copy(unsafe.Slice((*uint32)(p), len(c.Groups)), c.Groups)
	}
}

func (a *arena) rlimits(attr *C.struct_spawn_attr, list []Rlimit) {
	attr.nrlimits = C.size_t(len(list))
	p := a.alloc(len(list) * int(unsafe.Sizeof(C.struct_spawn_rlimit{})))
	attr.rlimits = (*C.struct_spawn_rlimit)(p)
	if p == nil {
		return
	}
	dst := unsafe.Slice(attr.rlimits, len(list))
	for i, r := range list {
		dst[i] = C.struct_spawn_rlimit{
			resource: C.int32_t(r.Resource),
			cur:      C.uint64_t(r.Cur),
			max:      C.uint64_t(r.Max),
		}
	}
}

// cpus builds the affinity mask, at least 1024 CPUs wide so that a kernel
// built for that many sees every bit it expects.
func (a *arena) cpus(attr *C.struct_spawn_attr, cpus []int) {
	if len(cpus) == 0 {
		return
	}
	words := 1024 / 64
	for _, cpu := range cpus {
		words = max(words, cpu/64+1)
	}
	attr.cpus_size = C.size_t(words * 8)
	p := a.alloc(words * 8)
	attr.cpus = (*C.uint64_t)(p)
	if p == nil {
		return
	}
	mask := unsafe.Slice((*uint64)(p), words)
	clear(mask)
	for _, cpu := range cpus {
		mask[cpu/64] |= 1 << (cpu % 64)
	}
}
