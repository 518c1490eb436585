// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// schedOf returns the nice value and scheduling policy of a process from
// the text of its /proc/PID/stat (fields 19 and 41).
func schedOf(t *testing.T, stat string) (nice, policy int) {
	t.Helper()
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		t.Fatalf("not a stat line: %q", stat)
	}
	f := strings.Fields(stat[i+2:]) // f[0] is field 3
	if len(f) < 39 {
		t.Fatalf("short stat line: %q", stat)
	}
	nice, _ = strconv.Atoi(f[16])
	policy, _ = strconv.Atoi(f[38])
	return nice, policy
}

// A daemon moved off the experiment's CPUs (--cpus, --nice, --idle) does
// not hand that placement down: what it starts runs on the CPUs the
// daemon had before, at nice 0 in SCHED_OTHER, unless its start asks
// for a nice value or CPUs of its own.
func TestPlacementNotInherited(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: lowering a child's nice value below the daemon's needs root")
	}
	if runtime.NumCPU() < 2 {
		t.Skip("skipping: needs 2 CPUs to tell the daemon's affinity from its children's")
	}
	d := startDaemon(t, "--cpus", "0", "--nice", "7", "--idle")
	daemonStat, err := os.ReadFile("/proc/" + strconv.Itoa(d.PID()) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	if nice, policy := schedOf(t, string(daemonStat)); nice != 7 || policy != 5 {
		t.Fatalf("daemon nice %d policy %d, want 7 and SCHED_IDLE (5)", nice, policy)
	}
	c := dial(t, d, d.unix)

	script := "cat /proc/self/stat; grep Cpus_allowed_list /proc/self/status"
	out, ex := c.run(sh(script))
	if ex.Code != 0 {
		t.Fatalf("exit %+v", ex)
	}
	stat, cpus, _ := strings.Cut(string(out), "\n")
	if nice, policy := schedOf(t, stat); nice != 0 || policy != 0 {
		t.Errorf("child nice %d policy %d, want 0 and SCHED_OTHER (0)", nice, policy)
	}
	if strings.TrimSpace(strings.TrimPrefix(cpus, "Cpus_allowed_list:")) == "0" {
		t.Errorf("child runs on the daemon's CPU only: %q", cpus)
	}

	a := sh(script)
	a.HasNice, a.Nice, a.CPUs = true, 3, []uint16{1}
	out, _ = c.run(a)
	stat, cpus, _ = strings.Cut(string(out), "\n")
	if nice, policy := schedOf(t, stat); nice != 3 || policy != 0 {
		t.Errorf("child asking for nice 3: nice %d policy %d", nice, policy)
	}
	if got := strings.TrimSpace(strings.TrimPrefix(cpus, "Cpus_allowed_list:")); got != "1" {
		t.Errorf("child asking for CPU 1 runs on %q", got)
	}
}
