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

	// The program is in place, and stopped by ptrace ("t"), still so a
	// moment later.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if exe := exeOf(t, p.PID); exe == self {
			t.Fatalf("staged child still runs %s after Start", exe)
		}
		if st := stateOf(t, p.PID); st != "t" {
			t.Fatalf("staged child in state %q, want t (stopped by its tracer)", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if info, err := p.Result(); info != (ExecInfo{}) || err != nil {
		t.Errorf("Result before release: %+v, %v; want nothing", info, err)
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
		t.Errorf("released at mono %d, outside Release %d to Result %d", info.Mono, before, after)
	}
	if d := time.Since(time.Unix(0, info.Real)); d < 0 || d > 10*time.Second {
		t.Errorf("released at real time %d, %v from now", info.Real, d)
	}
	if err := p.Release(); err != ErrNotHeld {
		t.Errorf("second Release: %v, want ErrNotHeld", err)
	}

	if out := readAll(t, r); out != "ran" {
		t.Errorf("output %q, want %q", out, "ran")
	}
	if ws := reap(t, p.PID); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("wait status %#x, want exit 0", ws)
	}
}

// TestStagedAt releases two processes at an instant: neither runs before
// it, both run after it.
func TestStagedAt(t *testing.T) {
	var ps []*Process
	for range 2 {
		s := newSpec("true")
		s.Staged = true
		p, err := Start(s)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ps = append(ps, p)
	}

	at := time.Now().Add(30 * time.Millisecond).UnixNano()
	woke, err := ReleaseAt(at, ps...)
	if err != nil {
		t.Fatalf("ReleaseAt: %v", err)
	}
	if woke.Real < at {
		t.Errorf("woke %v before the instant", time.Duration(at-woke.Real))
	}
	for _, p := range ps {
		info, err := p.Result()
		if err != nil || info.Real < woke.Real || info.Mono < woke.Mono {
			t.Errorf("child %d released at %+v (%v), before the wake-up %+v", p.PID, info, err, woke)
		}
		if ws := reap(t, p.PID); !ws.Exited() || ws.ExitStatus() != 0 {
			t.Errorf("child %d: wait status %#x, want exit 0", p.PID, ws)
		}
	}
}

func TestStagedBadProgram(t *testing.T) {
	s := newSpec("/nonexistent")
	s.Staged = true
	e := startError(t, s)
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
	if err := p.Release(); err != ErrNotHeld {
		t.Errorf("Release after Close: %v, want ErrNotHeld", err)
	}

	if ws := reap(t, p.PID); !ws.Signaled() || ws.Signal() != unix.SIGKILL {
		t.Errorf("wait status %#x, want killed by SIGKILL", ws)
	}
	if out := readAll(t, r); out != "" {
		t.Errorf("cancelled child wrote %q", out)
	}
}

// TestStagedKilled kills a held child: its release then says it ended.
func TestStagedKilled(t *testing.T) {
	s := newSpec("true")
	s.Staged = true
	p, err := Start(s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := unix.Kill(p.PID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ws := reap(t, p.PID); !ws.Signaled() || ws.Signal() != unix.SIGKILL {
		t.Errorf("wait status %#x, want killed by SIGKILL", ws)
	}
	if err := p.Release(); !errors.Is(err, ErrEnded) {
		t.Errorf("Release after the kill: %v, want ErrEnded", err)
	}
	if _, err := p.Result(); err != ErrEnded {
		t.Errorf("Result: %v, want ErrEnded", err)
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

func stateOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	return statField(t, string(b), 3)
}

func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
