// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procStat is what the tests read from /proc/PID/stat.
type procStat struct {
	state byte
	ppid  int
	start uint64 // starttime in clock ticks since boot: tells a reused PID apart
}

// readStat reads /proc/PID/stat. The command name may hold spaces and
// parentheses, so the fields are counted from the last ')'.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	start, _ := strconv.ParseUint(f[19], 10, 64) // field 22 of stat
	return procStat{state: f[0][0], ppid: ppid, start: start}, true
}

// pidStamp names one process instance: its PID and start time.
type pidStamp struct {
	pid   int
	start uint64
}

// stampPIDs records the start times of pids; those already gone are left
// out.
func stampPIDs(pids []int) []pidStamp {
	var out []pidStamp
	for _, pid := range pids {
		if st, ok := readStat(pid); ok {
			out = append(out, pidStamp{pid, st.start})
		}
	}
	return out
}

// liveness says "gone" when the process no longer exists (or its PID now
// names another process), "zombie" when it exists but was not reaped,
// else "alive".
func (s pidStamp) liveness() string {
	st, ok := readStat(s.pid)
	switch {
	case !ok || st.start != s.start:
		return "gone"
	case st.state == 'Z' || st.state == 'X':
		return "zombie"
	}
	return "alive"
}

// waitGone fails unless every process of stamps is gone, zombies
// included, within timeout.
func waitGone(t testing.TB, stamps []pidStamp, timeout time.Duration) {
	t.Helper()
	if left := survivors(stamps, timeout); len(left) > 0 {
		t.Fatalf("%d of %d processes survive after %v: %s", len(left), len(stamps), timeout,
			strings.Join(first(left, 20), ", "))
	}
}

// survivors waits up to timeout for the processes of stamps to be gone
// and describes those that are not.
func survivors(stamps []pidStamp, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		for _, s := range stamps {
			if l := s.liveness(); l != "gone" {
				left = append(left, strconv.Itoa(s.pid)+" "+l+" "+cmdline(s.pid))
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// isDaemonHelper reports whether pid runs the daemon's own binary, as
// its output keeper does: such a process is the daemon's, not part of a
// tree a controller started.
func isDaemonHelper(pid int) bool {
	exe, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return false
	}
	bin, err := os.Stat(tacetdBin)
	return err == nil && os.SameFile(exe, bin)
}

// checkAlive fails unless every process of stamps is alive.
func checkAlive(t testing.TB, stamps []pidStamp) {
	t.Helper()
	for _, s := range stamps {
		if l := s.liveness(); l != "alive" {
			t.Errorf("process %d is %s, want alive", s.pid, l)
		}
	}
}

// descendants lists every process whose chain of parents leads to root.
func descendants(root int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok {
			parent[pid] = st.ppid
		}
	}
	var out []int
	for pid := range parent {
		for q, n := parent[pid], 0; q > 1 && n < 64; q, n = parent[q], n+1 {
			if q == root {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// waitNoDescendants fails unless root has no descendant left within
// timeout, apart from those in keep and the daemon's own helpers.
func waitNoDescendants(t testing.TB, root int, keep []pidStamp, timeout time.Duration) {
	t.Helper()
	kept := map[int]bool{}
	for _, s := range keep {
		kept[s.pid] = true
	}
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		for _, pid := range descendants(root) {
			if !kept[pid] && !isDaemonHelper(pid) {
				left = append(left, strconv.Itoa(pid)+" "+cmdline(pid))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still has %d descendants after %v: %s", root, len(left), timeout,
				strings.Join(first(left, 20), ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strconv.Quote(string(bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '})))
}

// cgroupPIDs lists the members of process h's cgroup, which the daemon
// of pid and instance inst names p<handle, hex> in its directory (see
// daemonCgroupDir); nil when there is no such cgroup or no cgroup v2.
func cgroupPIDs(pid int, inst []byte, h uint64) []int {
	dir, err := daemonCgroupPath(pid, inst)
	if err != nil {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "p"+strconv.FormatUint(h, 16), "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// statusField returns a field of /proc/PID/status, such as "Threads".
func statusField(pid int, name string) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// threads returns the number of threads of pid.
func threads(pid int) int {
	n, _ := strconv.Atoi(statusField(pid, "Threads"))
	return n
}

// fdCount returns the number of open fds of pid.
func fdCount(t testing.TB, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// fdList names the open fds of pid and what they point to, for a
// failure message.
func fdList(pid int) []string {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out = append(out, e.Name()+"->"+target)
	}
	return out
}

// zombieChildren lists the children of pid that are zombies.
func zombieChildren(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(c); ok && st.ppid == pid && st.state == 'Z' {
			out = append(out, c)
		}
	}
	return out
}

// parsePIDs reads the decimal numbers of text, one a line.
func parsePIDs(t testing.TB, text []byte) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Fields(string(text)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("not a PID: %q in %q", f, text)
		}
		out = append(out, pid)
	}
	return out
}

func first[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}
