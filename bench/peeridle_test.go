// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// peerIdleSubjects starts the peers whose idle footprint
// BenchmarkIdleWakeups measures beside tacetd's, over the same window:
// sshd0, a private sshd with no session (as idle0); sshd1, another one
// with one idle ControlMaster connection, its listener and the session
// processes of that connection summed (as tcp1; the ssh master itself
// is the controller's, as the client is for tcp1); and supervisord with
// one program configured and not running.
func peerIdleSubjects(b *testing.B) []*idleSubject {
	b.Helper()
	s0 := startSSHD(b)
	s1 := startSSHD(b)
	s1.startMaster(b)
	sv := startSupervisord(b)
	return []*idleSubject{
		{name: "sshd0", pid: s0.sshd.PID()},
		{name: "sshd1", pid: s1.sshd.PID(), clients: 1, tree: true},
		{name: "supervisord", pid: sv.proc.PID()},
	}
}

// read returns the subject's counters now, summed over its descendants
// when s.tree is set.
func (s *idleSubject) read(b *testing.B) procSample {
	b.Helper()
	if !s.tree {
		return mustReadProc(b, s.pid)
	}
	ps, err := readTree("/proc", s.pid)
	if err != nil {
		b.Fatalf("read the processes under %d: %v", s.pid, err)
	}
	return ps
}

// readTree sums the counters of pid and of every process below it. A
// process that exits between the listing and the read is left out; the
// subjects are idle, so their trees hold still.
func readTree(root string, pid int) (procSample, error) {
	total, err := readProc(root, pid)
	if err != nil {
		return total, err
	}
	for _, child := range descendants(root, pid) {
		s, err := readProc(root, child)
		if err != nil {
			continue
		}
		total.ctxsw += s.ctxsw
		total.ticks += s.ticks
		total.runNs += s.runNs
		total.rssKiB += s.rssKiB
		total.hwmKiB += s.hwmKiB
		total.threads += s.threads
	}
	return total, nil
}

// descendants lists the processes below pid, from the parent field of
// every /proc/PID/stat.
func descendants(root string, pid int) []int {
	entries, _ := os.ReadDir(root)
	children := make(map[int][]int)
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses; the parent is
		// the second field after the last ')'.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

func TestDescendants(t *testing.T) {
	// The fixture tree has no children of 4242.
	if got := descendants("testdata/proc", 4242); len(got) != 0 {
		t.Errorf("descendants(4242) = %v, want none", got)
	}
	if got := descendants("testdata/proc", 1); len(got) != 1 || got[0] != 4242 {
		t.Errorf("descendants(1) = %v, want [4242]", got)
	}
}
