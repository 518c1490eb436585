// SPDX-License-Identifier: Apache-2.0

package spawn

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestEcho(t *testing.T) {
	eachPath(t, func(t *testing.T, staged bool) {
		s := newSpec("sh", "-c", "printf hi; exit 3")
		s.Staged = staged
		out, ws := run(t, s)
		if out != "hi" {
			t.Errorf("output %q, want %q", out, "hi")
		}
		if !ws.Exited() || ws.ExitStatus() != 3 {
			t.Errorf("wait status %#x, want exit 3", ws)
		}
	})
}

func TestExecInfo(t *testing.T) {
	eachPath(t, func(t *testing.T, staged bool) {
		before := monotonic()
		s := newSpec("true")
		s.Staged = staged
		p := startReleased(t, s)
		defer p.Close()
		reap(t, p.PID)

		info, err := p.Result()
		if err != nil {
			t.Fatalf("Result: %v", err)
		}
		if info.Mono < before || time.Since(time.Unix(0, info.Real)).Abs() > time.Minute {
			t.Errorf("ExecInfo %+v, started at mono %d", info, before)
		}
		if p.PidFD < 0 {
			t.Errorf("no pidfd on Linux %s", uname())
		}
	})
}

func TestStepErrors(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	closed := closedFD(t)

	tests := []struct {
		name  string
		spec  func(s *Spec)
		step  string
		errno unix.Errno
	}{
		{"no program", func(s *Spec) { s.Argv[0] = []byte("/nonexistent") }, "execve", unix.ENOENT},
		{"not in PATH", func(s *Spec) { s.Argv[0] = []byte("tacet-nonexistent") }, "execve", unix.ENOENT},
		{"not executable", func(s *Spec) { s.Argv[0] = []byte(plain) }, "execve", unix.EACCES},
		{"not executable in PATH", func(s *Spec) {
			s.Argv[0] = []byte("plain")
			s.Env = [][]byte{[]byte("PATH=/nonexistent-dir:" + dir + ":/bin")}
		}, "execve", unix.EACCES},
		{"no dir", func(s *Spec) { s.Dir = []byte("/nonexistent-dir") }, "chdir", unix.ENOENT},
		{"bad stdout", func(s *Spec) { s.Stdout = closed }, "fds", unix.EBADF},
		{"rlimit cur above max", func(s *Spec) {
			s.Rlimits = []Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 10, Max: 5}}
		}, "rlimit", unix.EINVAL},
		{"no such cpu", func(s *Spec) { s.CPUs = []int{maxCPU - 1} }, "affinity", unix.EINVAL},
		{"ctty not a tty", func(s *Spec) { s.Setsid, s.Ctty = true, true }, "ctty", unix.ENOTTY},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachPath(t, func(t *testing.T, staged bool) {
				s := newSpec("true")
				s.Staged = staged
				tt.spec(s)
				e := startError(t, s)
				if e.Step != tt.step || e.Errno != tt.errno || e.PID <= 0 {
					t.Errorf("got %+v, want step %q errno %v", e, tt.step, tt.errno)
				}
			})
		})
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name string
		spec func(s *Spec)
		step string
	}{
		{"no argv", func(s *Spec) { s.Argv = nil }, "execve"},
		{"NUL in argv", func(s *Spec) { s.Argv = append(s.Argv, []byte("a\x00b")) }, "execve"},
		{"NUL in env", func(s *Spec) { s.Env = [][]byte{[]byte("A=\x00")} }, "execve"},
		{"NUL in dir", func(s *Spec) { s.Dir = []byte("/\x00") }, "chdir"},
		{"ctty without setsid", func(s *Spec) { s.Ctty = true }, "ctty"},
		{"negative cpu", func(s *Spec) { s.CPUs = []int{-1} }, "affinity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSpec("true")
			tt.spec(s)
			e := startError(t, s)
			if e.Step != tt.step || e.Errno != unix.EINVAL || e.PID != 0 {
				t.Errorf("got %+v, want step %q EINVAL and no child", e, tt.step)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	s := newSpec("true")
	s.Dir = []byte("/nonexistent-dir")
	err := error(startError(t, s))
	if got, want := err.Error(), "spawn: chdir: no such file or directory"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, unix.ENOENT) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%v does not unwrap to ENOENT", err)
	}
}

func TestArbitraryBytes(t *testing.T) {
	eachPath(t, func(t *testing.T, staged bool) {
		arg := "\xff\xfe a\x80\n"
		s := newSpec("sh", "-c", `printf %s "$1"; printf %s "$X"; exec pwd -P`, "sh", arg)
		s.Env = append(s.Env, []byte("X=\xc3\x28"))
		s.Staged = staged
		dir := filepath.Join(t.TempDir(), "\xfe\xff")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s.Dir = []byte(dir)

		want := arg + "\xc3\x28" + dir + "\n"
		if out := output(t, s); out != want {
			t.Errorf("output %q, want %q", out, want)
		}
	})
}

func uname() string {
	var u unix.Utsname
	unix.Uname(&u)
	return unix.ByteSliceToString(u.Release[:])
}

// closedFD returns a number that is not an open fd, and high enough that
// Start will not open it for its own pipes.
func closedFD(t *testing.T) int {
	t.Helper()
	const fd = 9999
	if _, err := unix.FcntlInt(fd, unix.F_GETFD, 0); err != unix.EBADF {
		t.Fatalf("fd %d: %v, want it closed", fd, err)
	}
	return fd
}
