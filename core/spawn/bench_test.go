// SPDX-License-Identifier: Apache-2.0

package spawn

import (
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func BenchmarkStartTrue(b *testing.B) {
	s := newSpec("/bin/true")
	for b.Loop() {
		p, err := Start(s)
		if err != nil {
			b.Fatal(err)
		}
		p.Close()
		benchReap(b, p.PID)
	}
}

// BenchmarkForkExecTrue is the baseline: the runtime's own fork, which
// shares memory with the parent (CLONE_VM|CLONE_VFORK) where Start copies
// it.
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
	for b.Loop() {
		pid, err := syscall.ForkExec("/bin/true", []string{"/bin/true"}, attr)
		if err != nil {
			b.Fatal(err)
		}
		benchReap(b, pid)
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
