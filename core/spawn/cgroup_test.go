// SPDX-License-Identifier: Apache-2.0

package spawn

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCgroup(t *testing.T) {
	eachPath(t, func(t *testing.T, staged bool) {
		dir, fd := newCgroup(t)
		s := newSpec("sleep", "10")
		s.CgroupFD = fd
		s.Staged = staged
		p := startReleased(t, s)
		defer p.Close()
		line := cgroupOf(t, p.PID)

		// Kill through the cgroup, which is also how the daemon
		// will do it.
		if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil {
			t.Errorf("cgroup.kill: %v", err)
			unix.Kill(p.PID, unix.SIGKILL)
		}
		ws := reap(t, p.PID)

		if want := "/" + filepath.Base(dir); !strings.HasPrefix(line, "0::/") || !strings.HasSuffix(line, want) {
			t.Errorf("child cgroup %q, want 0::...%s", line, want)
		}
		if !ws.Signaled() || ws.Signal() != unix.SIGKILL {
			t.Errorf("wait status %#x, want killed by cgroup.kill", ws)
		}
	})
}

// TestCgroupErrors covers a cgroup the child cannot join. Every path
// creates the child in its cgroup with clone3, so the failure is the
// fork's and no child exists.
func TestCgroupErrors(t *testing.T) {
	tests := []struct {
		name  string
		dir   func(t *testing.T) int
		errno unix.Errno
	}{
		{"not a cgroup", plainDir, unix.EBADF},
		{"invalid domain", invalidCgroup, unix.EOPNOTSUPP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachPath(t, func(t *testing.T, staged bool) {
				s := newSpec("true")
				s.CgroupFD = tt.dir(t)
				s.Staged = staged
				e := startError(t, s)
				if e.Step != "fork" || e.Errno != tt.errno || e.PID != 0 {
					t.Errorf("got %+v, want step fork errno %v and no child", e, tt.errno)
				}
			})
		})
	}
}

func plainDir(t *testing.T) int {
	return openDir(t, t.TempDir())
}

// invalidCgroup returns a cgroup of type "domain invalid": a sibling of a
// threaded cgroup, which can hold no process.
func invalidCgroup(t *testing.T) int {
	dir, _ := newCgroup(t)
	threaded, invalid := mkCgroup(t, dir, "threaded"), mkCgroup(t, dir, "invalid")
	if err := os.WriteFile(filepath.Join(threaded, "cgroup.type"), []byte("threaded"), 0); err != nil {
		t.Skipf("cannot make a threaded cgroup: %v", err)
	}
	return openDir(t, invalid)
}

// newCgroup makes a cgroup named after the test under the cgroup2 mount
// and returns it with an O_DIRECTORY fd, both removed when the test ends.
func newCgroup(tb testing.TB) (string, int) {
	tb.Helper()
	root := cgroup2Mount(tb)
	dir := mkCgroup(tb, root, "tacet-spawn-"+strings.ReplaceAll(tb.Name(), "/", "-"))
	return dir, openDir(tb, dir)
}

// mkCgroup makes the cgroup name under dir, removed when the test ends.
func mkCgroup(tb testing.TB, dir, name string) string {
	tb.Helper()
	dir = filepath.Join(dir, name)
	os.Remove(dir) // left by an earlier run that was killed
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Skipf("cgroup2 at %s is not writable (%v); run as root to cover CgroupFD", dir, err)
	}
	tb.Cleanup(func() { removeCgroup(tb, dir) })
	return dir
}

// openDir returns an O_DIRECTORY fd of dir, closed when the test ends.
func openDir(tb testing.TB, dir string) int {
	tb.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	return fd
}

// removeCgroup removes dir once the kernel has seen its last process go;
// until then rmdir fails with EBUSY.
func removeCgroup(tb testing.TB, dir string) {
	var err error
	for range 100 {
		if err = unix.Rmdir(dir); !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		tb.Errorf("remove cgroup %s: %v", dir, err)
	}
}

func cgroup2Mount(tb testing.TB) string {
	tb.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// The filesystem type follows the " - " separator.
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields := strings.Fields(pre)
		if ok && strings.HasPrefix(post, "cgroup2 ") && len(fields) > 4 {
			return fields[4]
		}
	}
	tb.Skip("no cgroup2 mount in /proc/self/mountinfo; CgroupFD is not covered")
	return ""
}

// cgroupOf returns the cgroup v2 line of /proc/pid/cgroup.
func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "0::") {
			return line
		}
	}
	t.Fatalf("no cgroup v2 line in %q", b)
	return ""
}
