// SPDX-License-Identifier: Apache-2.0

package spawn

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The start benchmarks run each way of starting /bin/true in a small
// process and again with 200 MiB of touched heap: a fork copies the page
// tables of all of it, a vfork none.
var benchHeaps = []int{0, 200 << 20}

func BenchmarkStartTrue(b *testing.B) {
	eachHeap(b, func(b *testing.B) { benchStart(b, newSpec("/bin/true")) })
}

// BenchmarkStagedTrue is a staged start and its release, which forks.
func BenchmarkStagedTrue(b *testing.B) {
	s := newSpec("/bin/true")
	s.Staged = true
	eachHeap(b, func(b *testing.B) { benchStart(b, s) })
}

// BenchmarkForkExecTrue is the baseline: the runtime's own fork, which
// shares memory with the parent (CLONE_VM|CLONE_VFORK) as Start does when
// not staged.
func BenchmarkForkExecTrue(b *testing.B) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	fd := null.Fd()
	attr := &syscall.ProcAttr{
		Env:   []string{"PATH=" + defaultPath},
		Files: []uintptr{fd, fd, fd},
	}
	eachHeap(b, func(b *testing.B) {
		for b.Loop() {
			pid, err := syscall.ForkExec("/bin/true", []string{"/bin/true"}, attr)
			if err != nil {
				b.Fatal(err)
			}
			benchReap(b, pid)
		}
	})
}

// BenchmarkStartCgroup puts each child in a cgroup: a vfork child writes
// its cgroup.procs, a staged one is created there by clone3.
func BenchmarkStartCgroup(b *testing.B) {
	for _, staged := range []bool{false, true} {
		b.Run(pathName(staged), func(b *testing.B) {
			_, fd := newCgroup(b)
			s := newSpec("/bin/true")
			s.CgroupFD = fd
			s.Staged = staged
			benchStart(b, s)
		})
	}
}

// eachHeap runs f as a sub-benchmark for each of benchHeaps.
func eachHeap(b *testing.B, f func(b *testing.B)) {
	for _, n := range benchHeaps {
		b.Run(fmt.Sprintf("heap=%dMiB", n>>20), func(b *testing.B) {
			heap := make([]byte, n)
			for i := 0; i < n; i += os.Getpagesize() {
				heap[i] = 1
			}
			f(b)
			runtime.KeepAlive(heap)
		})
		// Unmap it, so that the next benchmark starts small again.
		debug.FreeOSMemory()
	}
}

func benchStart(b *testing.B, s *Spec) {
	for b.Loop() {
		p, err := Start(s)
		if err != nil {
			b.Fatal(err)
		}
		if s.Staged {
			if err := p.Release(); err != nil {
				b.Fatal(err)
			}
			if _, err := p.Result(); err != nil {
				b.Fatal(err)
			}
		}
		p.Close()
		benchReap(b, p.PID)
	}
}

func benchReap(b *testing.B, pid int) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			if err != nil || ws.ExitStatus() != 0 {
				b.Fatalf("wait4 %d: %v, status %#x", pid, err, ws)
			}
			return
		}
	}
}
