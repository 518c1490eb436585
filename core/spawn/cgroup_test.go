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
	dir, fd := newCgroup(t)
	s := newSpec("sleep", "10")
	s.CgroupFD = fd
	p, err := Start(s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	line := cgroupOf(t, p.PID)

	// Kill through the cgroup, which is also how the daemon will do it.
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
}

// newCgroup makes a cgroup named after the test under the cgroup2 mount
// and returns it with an O_DIRECTORY fd, both removed when the test ends.
func newCgroup(t *testing.T) (string, int) {
	t.Helper()
	root := cgroup2Mount(t)
	dir := filepath.Join(root, "tacet-spawn-"+t.Name())
	os.Remove(dir) // left by an earlier run that was killed
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cgroup2 at %s is not writable (%v); run as root to cover CgroupFD", root, err)
	}
	t.Cleanup(func() { removeCgroup(t, dir) })

	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return dir, fd
}

// removeCgroup removes dir once the kernel has seen its last process go;
// until then rmdir fails with EBUSY.
func removeCgroup(t *testing.T, dir string) {
	var err error
	for range 100 {
		if err = unix.Rmdir(dir); !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("remove cgroup %s: %v", dir, err)
	}
}

func cgroup2Mount(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
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
	t.Skip("no cgroup2 mount in /proc/self/mountinfo; CgroupFD is not covered")
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
