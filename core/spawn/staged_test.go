// SPDX-License-Identifier: Apache-2.0

package spawn

import (
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestStaged(t *testing.T) {
	r, w := newPipe(t)
	s := newSpec("sh", "-c", "printf ran")
	s.Staged = true
	s.Stdout = int(w.Fd())
	p, err := Start(s)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// Still the test binary, and still so a moment later.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if exe := exeOf(t, p.PID); exe != self {
			t.Fatalf("staged child runs %s before Release", exe)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := p.Result(); err != ErrNotReleased {
		t.Errorf("Result before Release: %v, want ErrNotReleased", err)
	}

	before := monotonic()
	if err := p.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	info, err := p.Result()
	after := monotonic()
	if err != nil {
		t.Fatalf("Result: %v", err)
	}
	if info.Mono < before || info.Mono > after {
		t.Errorf("exec at mono %d, outside Release %d to Result %d", info.Mono, before, after)
	}
	if d := time.Since(time.Unix(0, info.Real)); d < 0 || d > 10*time.Second {
		t.Errorf("exec at real time %d, %v from now", info.Real, d)
	}
	if err := p.Release(); err != ErrNoGate {
		t.Errorf("second Release: %v, want ErrNoGate", err)
	}

	if out := readAll(t, r); out != "ran" {
		t.Errorf("output %q, want %q", out, "ran")
	}
	if ws := reap(t, p.PID); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("wait status %#x, want exit 0", ws)
	}
}

func TestStagedBadProgram(t *testing.T) {
	s := newSpec("/nonexistent")
	s.Staged = true
	e := stepError(t, s)
	if e.Step != "execve" || e.Errno != unix.ENOENT {
		t.Errorf("got %v, want execve ENOENT", e)
	}
}

func TestStagedCancel(t *testing.T) {
	r, w := newPipe(t)
	s := newSpec("sh", "-c", "printf ran")
	s.Staged = true
	s.Stdout = int(w.Fd())
	p, err := Start(s)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := p.Release(); err != ErrNoGate {
		t.Errorf("Release after Close: %v, want ErrNoGate", err)
	}

	if ws := reap(t, p.PID); !ws.Exited() || ws.ExitStatus() != 127 {
		t.Errorf("wait status %#x, want exit 127", ws)
	}
	if out := readAll(t, r); out != "" {
		t.Errorf("cancelled child wrote %q", out)
	}
	if _, err := p.Result(); !errors.Is(err, ErrNotReleased) {
		t.Errorf("Result after cancel: %v, want ErrNotReleased", err)
	}
}

func exeOf(t *testing.T, pid int) string {
	t.Helper()
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
