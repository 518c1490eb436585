// SPDX-License-Identifier: Apache-2.0

package spawn

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The start benchmarks run each way of starting /bin/true in a small
// process and again with 200 MiB of touched heap: a fork copies the page
// tables of all of it, a vfork none.
var benchHeaps = []int{0, 200 << 20}

func BenchmarkStartTrue(b *testing.B) {
	eachHeap(b, func(b *testing.B) { benchStart(b, newSpec("/bin/true")) })
}

// BenchmarkStagedTrue is a staged start and its release: a vfork from the
// tracer thread, the wait for the stop after execve, and a detach.
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

// BenchmarkStartCgroup starts each child in a cgroup of its own, made and
// removed in the loop as the daemon does for every process, by each path.
// A vfork child is created in its cgroup by clone3, as a fork is.
func BenchmarkStartCgroup(b *testing.B) {
	eachHeap(b, func(b *testing.B) {
		eachCgroupPath(b, func(b *testing.B, s *Spec, parent string) {
			for b.Loop() {
				startInCgroup(b, s, parent)
			}
		})
	})
}

// BenchmarkStartCgroupSpaced is BenchmarkStartCgroup with 100 ms between
// starts, as in a daemon that is not under load: work the kernel defers,
// such as an RCU grace period, then shows in every start instead of being
// shared by many. Its ns/op is the mean of the starts alone, without the
// pauses; run it with -benchtime=30x for a mean of 30.
func BenchmarkStartCgroupSpaced(b *testing.B) {
	eachHeap(b, func(b *testing.B) {
		eachCgroupPath(b, func(b *testing.B, s *Spec, parent string) {
			var n int
			var total time.Duration
			for b.Loop() {
				time.Sleep(100 * time.Millisecond)
				t0 := time.Now()
				startInCgroup(b, s, parent)
				total += time.Since(t0)
				n++
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(n), "ns/op")
		})
	})
}

// eachCgroupPath runs f as a sub-benchmark for each path, with a Spec for
// /bin/true and a cgroup under which f makes the children's cgroups.
func eachCgroupPath(b *testing.B, f func(b *testing.B, s *Spec, parent string)) {
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			p.use(b)
			parent, _ := newCgroup(b)
			s := newSpec("/bin/true")
			s.Staged = p.staged
			f(b, s, parent)
		})
	}
}

// startInCgroup makes a cgroup under parent, starts s in it, reaps the
// child and removes the cgroup.
func startInCgroup(b *testing.B, s *Spec, parent string) {
	dir := filepath.Join(parent, "child")
	if err := unix.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	s.CgroupFD = fd
	startOnce(b, s)
	unix.Close(fd)
	if err := unix.Rmdir(dir); err != nil {
		b.Fatal(err)
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
		startOnce(b, s)
	}
}

// startOnce starts s, releases it if it is staged, and reaps it.
func startOnce(b *testing.B, s *Spec) {
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
