// SPDX-License-Identifier: Apache-2.0

package spawn

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// newSpec returns a Spec for argv with stdio on /dev/null and no cgroup.
func newSpec(argv ...string) *Spec {
	s := &Spec{
		Env:    [][]byte{[]byte("PATH=" + defaultPath)},
		Stdin:  -1,
		Stdout: -1,
		Stderr: -1,

		CgroupFD: -1,
	}
	for _, a := range argv {
		s.Argv = append(s.Argv, []byte(a))
	}
	return s
}

// newPipe returns both ends of a pipe, closed when the test ends.
func newPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// run starts s, staged or not, with its stdout on a pipe, reads the
// output to the end and reaps the child.
func run(t *testing.T, s *Spec) (string, unix.WaitStatus) {
	t.Helper()
	r, w := newPipe(t)
	s.Stdout = int(w.Fd())
	p := startReleased(t, s)
	w.Close()
	defer p.Close()

	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read child output: %v", err)
	}
	return string(out), reap(t, p.PID)
}

// A path is one way a start goes: "vfork" shares the parent's memory
// until execve, "fork" (taken by default only into a cgroup on arches
// without spawn_clone3) copies it, and "staged" is a vfork from the tracer
// thread, traced through execve and released after it. The child's setup
// is the same code on all, but not its stack, its memory or its thread.
type path struct {
	name         string
	staged, fork bool
}

var paths = []path{{"vfork", false, false}, {"fork", false, true}, {"staged", true, false}}

// eachPath runs f as a subtest for each path, with staged set for f to
// copy into its Spec.
func eachPath(t *testing.T, f func(t *testing.T, staged bool)) {
	t.Helper()
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			p.use(t)
			f(t, p.staged)
		})
	}
}

// use makes the starts of the test go by p: forkAlways for "fork",
// reset when the test ends. Tests that call it must not run in parallel.
func (p path) use(tb testing.TB) {
	forkAlways = p.fork
	tb.Cleanup(func() { forkAlways = false })
}

// startReleased starts s and, if it is staged, releases it.
func startReleased(t *testing.T, s *Spec) *Process {
	t.Helper()
	p, err := Start(s)
	if err != nil {
		reapFailed(t, err)
		t.Fatalf("Start: %v", err)
	}
	if !s.Staged {
		return p
	}
	if err := p.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	return p
}

// output is run for a child that must exit 0.
func output(t *testing.T, s *Spec) string {
	t.Helper()
	out, ws := run(t, s)
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("child %q: wait status %#x, output %q", s.Argv, ws, out)
	}
	return out
}

// reap waits for the child pid, and only for it.
func reap(t *testing.T, pid int) unix.WaitStatus {
	t.Helper()
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("wait4 %d: %v", pid, err)
		}
		return ws
	}
}

// reapFailed reaps the child named by a Start error, which must have
// exited 127.
func reapFailed(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.PID == 0 {
		return
	}
	if ws := reap(t, e.PID); !ws.Exited() || ws.ExitStatus() != 127 {
		t.Errorf("failed child %d: wait status %#x, want exit 127", e.PID, ws)
	}
}

// startError starts s, which must fail with an *Error, and reaps the
// child if there was one.
func startError(t *testing.T, s *Spec) *Error {
	t.Helper()
	p, err := Start(s)
	if err == nil {
		p.Close()
		reap(t, p.PID)
		t.Fatalf("Start %q succeeded", s.Argv)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Start: %v (%T), want *Error", err, err)
	}
	reapFailed(t, err)
	return e
}

// statField returns field n, numbered from 1 as in proc(5), of a
// /proc/PID/stat line. The command name may hold spaces and parentheses,
// so fields are counted from the last ')'.
func statField(t *testing.T, stat string, n int) string {
	t.Helper()
	i := strings.LastIndexByte(stat, ')')
	f := strings.Fields(stat[i+1:])
	if i < 0 || n < 3 || n-3 >= len(f) {
		t.Fatalf("no field %d in stat %q", n, stat)
	}
	return f[n-3]
}

// statusLine returns the value of key in /proc/pid/status.
func statusLine(t *testing.T, pid int, key string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return ""
}
