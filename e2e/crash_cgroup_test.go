// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bufio"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// TestSIGKILLRestartRemovesCgroups kills tacetd with SIGKILL while one
// process tree runs and other processes have ended, and starts it again
// on the same state directory. The new instance removes what the dead
// one left in its cgroup directory, but the running process's cgroup,
// through which it still kills that process's tree; the directory goes
// with that cgroup, once the process has ended and is released.
func TestSIGKILLRestartRemovesCgroups(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	var hi codec.HostInfo
	c.mustCall(codec.MethodHostInfo, nil, &hi)
	if hi.Containment != "cgroup2" {
		t.Skipf("containment %q: the daemon makes no cgroups (cgroup v2, writable by root, is needed)", hi.Containment)
	}
	dir := daemonCgroupDir(t, d.PID(), c.conn.Welcome().Instance)

	for range 3 {
		c.procWait(c.start(sh("exit 0")).Handle, eventTimeout)
	}
	released := c.start(sh("exit 0")).Handle
	c.procWait(released, eventTimeout)
	c.release(released)
	c.start(sh("sleep 0.2")) // ends while no daemon runs
	live := c.start(sh("sleep 300 & wait")).Handle
	liveCg := filepath.Join(dir, "p"+strconv.FormatUint(live, 16))
	members := waitMembers(t, liveCg, 2) // sh and its sleep
	// The cgroup of a start whose journal record the SIGKILL cut off.
	stray := filepath.Join(dir, "p"+strconv.FormatUint(live+0x100, 16))
	if err := os.Mkdir(stray, 0o755); err != nil {
		t.Fatal(err)
	}
	c.close()

	d.restart(crashDowntime)
	c = dial(t, d, d.tcp)
	if got := cgroupChildren(t, dir); !slices.Equal(got, []string{filepath.Base(liveCg)}) {
		t.Errorf("after the restart the dead instance's directory holds %q, want only the running process's cgroup %s",
			got, filepath.Base(liveCg))
	}
	if got := cgroupMembers(liveCg); !slices.Equal(got, members) {
		t.Fatalf("the running process's cgroup holds %v after the restart, before %v", got, members)
	}

	c.signal(live, 9, true)
	if ex := c.procWait(live, eventTimeout); !ex.Unknown || ex.Why != "tree" {
		t.Errorf("exit of the carried-over process: %+v", ex)
	}
	// cgroup.kill is asynchronous: the sleep may leave after the exit.
	waitMembers(t, liveCg, 0)
	for _, pid := range members {
		if st, ok := readStat(pid); ok && st.state != 'Z' && st.state != 'X' {
			t.Errorf("pid %d of the killed tree is still alive (%c)", pid, st.state)
		}
	}
	// The cgroup goes at the exit if the tree has left it by then, and at
	// the release otherwise; the directory with it.
	c.release(live)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the dead instance's directory is still there after the release (%v): %q", err, cgroupChildren(t, dir))
	}
}

// daemonCgroupDir returns the directory in which the daemon of pid and
// instance inst makes its processes' cgroups: tacet-<first 4 bytes of
// inst, hex> under its own cgroup. It fails the test when there is none.
func daemonCgroupDir(t *testing.T, pid int, inst []byte) string {
	t.Helper()
	dir, err := daemonCgroupPath(pid, inst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the daemon reports cgroup2 containment, but its directory: %v", err)
	}
	return dir
}

// daemonCgroupPath is where daemonCgroupDir looks, whether or not the
// directory exists.
func daemonCgroupPath(pid int, inst []byte) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return "", err
	}
	own := ""
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			own = p
		}
	}
	root, err := cgroup2Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, own, "tacet-"+hex.EncodeToString(inst[:4])), nil
}

// cgroup2Root returns where the cgroup v2 hierarchy is mounted: on
// /sys/fs/cgroup, or /sys/fs/cgroup/unified beside v1 controllers.
func cgroup2Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if fields := strings.Fields(pre); ok && strings.HasPrefix(post, "cgroup2 ") && len(fields) > 4 {
			return fields[4], nil
		}
	}
	return "", errors.New("no cgroup2 mount in /proc/self/mountinfo")
}

// cgroupChildren lists the cgroups in dir.
func cgroupChildren(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, de := range ents {
		if de.IsDir() {
			out = append(out, de.Name())
		}
	}
	return out
}

// cgroupMembers returns the sorted pids of cgroup dir.
func cgroupMembers(dir string) []int {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// waitMembers waits until cgroup dir holds n processes and returns them.
func waitMembers(t *testing.T, dir string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(eventTimeout)
	for {
		m := cgroupMembers(dir)
		if len(m) == n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("cgroup %s holds %v, want %d processes", dir, m, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
