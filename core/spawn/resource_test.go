// SPDX-License-Identifier: Apache-2.0

package spawn

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestNoLeaks(t *testing.T) {
	starts := []*Spec{newSpec("true"), newSpec("/nonexistent"), newSpec("true")}
	starts[2].Staged = true
	once := func() {
		for _, s := range starts {
			startAndReap(t, s)
		}
	}
	once() // let the runtime open what it keeps open
	fds, goroutines := countFDs(t), runtime.NumGoroutine()

	for range 200 / len(starts) {
		once()
	}
	if n := countFDs(t); n != fds {
		t.Errorf("%d fds open after 200 starts, %d before", n, fds)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after 200 starts, %d before", n, goroutines)
	}
}

func startAndReap(t *testing.T, s *Spec) {
	t.Helper()
	p, err := Start(s)
	if err != nil {
		reapFailed(t, err)
		return
	}
	if s.Staged {
		p.Release()
		p.Result()
	}
	p.Close()
	reap(t, p.PID)
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestSignalsReset(t *testing.T) {
	// Give the parent an ignored signal; a thread's blocked set is
	// filled by Start itself around the fork.
	signal.Ignore(syscall.SIGUSR2)
	defer signal.Reset(syscall.SIGUSR2)

	eachPath(t, func(t *testing.T, staged bool) {
		s := newSpec("sleep", "10")
		s.Staged = staged
		p := startReleased(t, s)
		defer p.Close()
		blocked, ignored := statusLine(t, p.PID, "SigBlk"), statusLine(t, p.PID, "SigIgn")
		if err := unix.PidfdSendSignal(p.PidFD, unix.SIGKILL, nil, 0); err != nil {
			t.Errorf("pidfd_send_signal: %v", err)
			unix.Kill(p.PID, unix.SIGKILL)
		}
		ws := reap(t, p.PID)

		if blocked != "0000000000000000" || ignored != "0000000000000000" {
			t.Errorf("child SigBlk %s SigIgn %s, want both empty", blocked, ignored)
		}
		if !ws.Signaled() || ws.Signal() != unix.SIGKILL {
			t.Errorf("wait status %#x, want killed by SIGKILL", ws)
		}

		// The vfork child reset its own copy of the handlers.
		if got := statusLine(t, os.Getpid(), "SigIgn"); got == "0000000000000000" {
			t.Errorf("daemon SigIgn %s after the start, want SIGUSR2 still ignored", got)
		}
	})
}

// TestConcurrent starts from several goroutines at once, so that children
// are forked while other starts hold open pipes, and staged children are
// forked while a vfork child runs in the memory they copy.
func TestConcurrent(t *testing.T) {
	concurrent(t, func(int) int { return -1 })
}

// TestConcurrentCgroup is TestConcurrent with each worker's children in a
// cgroup of the worker's, where vfork children are created by clone3.
func TestConcurrentCgroup(t *testing.T) {
	dir, _ := newCgroup(t)
	concurrent(t, func(w int) int {
		return openDir(t, mkCgroup(t, dir, strconv.Itoa(w)))
	})
}

// concurrent runs starts on four workers at once, the odd ones staged,
// each into the cgroup that cgroup(worker) opens, or none for -1.
func concurrent(t *testing.T, cgroup func(w int) int) {
	const workers, starts = 4, 25
	errs := make(chan error, workers)
	for w := range workers {
		fd := cgroup(w)
		go func() { errs <- startSerially(w, starts, w%2 == 1, fd) }()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func startSerially(w, n int, staged bool, cgroup int) error {
	for i := range n {
		want := fmt.Sprintf("%d.%d", w, i)
		r, wr, err := os.Pipe()
		if err != nil {
			return err
		}
		s := newSpec("printf", "%s", want)
		s.Stdout = int(wr.Fd())
		s.Staged = staged
		s.CgroupFD = cgroup
		p, err := Start(s)
		wr.Close()
		if err == nil && staged {
			if err = p.Release(); err == nil {
				_, err = p.Result()
			}
		}
		if err != nil {
			if p != nil {
				p.Close()
			}
			r.Close()
			return err
		}
		out, err := io.ReadAll(r)
		r.Close()
		p.Close()
		var ws unix.WaitStatus
		if _, werr := unix.Wait4(p.PID, &ws, 0, nil); werr != nil || ws.ExitStatus() != 0 {
			return fmt.Errorf("child %d: wait4: %v, status %#x", p.PID, werr, ws)
		}
		if err != nil || string(out) != want {
			return fmt.Errorf("child %d: output %q (%v), want %q", p.PID, out, err, want)
		}
	}
	return nil
}
