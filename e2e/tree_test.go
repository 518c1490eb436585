// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"os"
	"slices"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// goneTimeout bounds the wait for a killed tree to disappear from /proc.
const goneTimeout = 5 * time.Second

// tree is a started process tree that printed the PIDs it is made of.
type tree struct {
	h      uint64
	pid    int
	sub    uint32
	stamps []pidStamp
}

// startTree starts script, which must print n PIDs, one a line, and keep
// running; it returns the tree with every member it can find: the
// printed PIDs, the process's descendants in /proc and its cgroup's
// members.
func startTree(t *testing.T, d *daemon, c *client, script string, n int) tree {
	t.Helper()
	r := c.start(sh(script))
	sub := c.subscribe(r.Handle, codec.Stdout, 0, 0)
	printed := parsePIDs(t, c.readLines(sub.Sub, n, eventTimeout))
	pids := append(printed, int(r.PID))
	pids = append(pids, descendants(int(r.PID))...)
	members := cgroupPIDs(d.PID(), c.conn.Welcome().Instance, r.Handle)
	if dir, err := daemonCgroupPath(d.PID(), c.conn.Welcome().Instance); err == nil && len(members) == 0 {
		// The daemon contains its processes in cgroups (its directory
		// exists): an empty one would make the checks after the kill
		// pass whatever the kill did.
		if _, err := os.Stat(dir); err == nil {
			t.Fatalf("process %d's cgroup in %s has no members", r.Handle, dir)
		}
	}
	pids = append(pids, members...)
	slices.Sort(pids)
	tr := tree{h: r.Handle, pid: int(r.PID), sub: sub.Sub, stamps: stampPIDs(slices.Compact(pids))}
	checkAlive(t, stampPIDs(printed))
	if len(tr.stamps) < n {
		t.Fatalf("tree has %d live members, printed %d PIDs", len(tr.stamps), n)
	}
	return tr
}

// killTree sends SIGKILL to the tree and checks its exit and that every
// member is gone.
func killTree(t *testing.T, c *client, tr tree) codec.Exit {
	t.Helper()
	c.signal(tr.h, 9, true)
	ex := c.waitExit(tr.h, eventTimeout)
	if ex.Signal != 9 || ex.Why != "tree" {
		t.Errorf("exit sig %d why %q, want 9 \"tree\"", ex.Signal, ex.Why)
	}
	waitGone(t, tr.stamps, goneTimeout)
	return ex
}

func TestTreeKill(t *testing.T) {
	tests := []struct {
		name   string
		script string
		n      int
	}{
		{"background and setsid", `sleep 300 & echo $!; setsid sleep 300 & echo $!; echo $$; wait`, 3},
		// The inner sh exits at once, so its sleep is reparented to the
		// daemon (a subreaper) and no longer descends from the process.
		{"double fork, middle exits", `sh -c 'sleep 300 & echo $!'; echo $$; sleep 300 & echo $!; wait`, 3},
		{"own session ignoring TERM", `trap '' TERM HUP INT; setsid sh -c 'trap "" TERM; sleep 300 & echo $!; wait' & sleep 300 & echo $!; wait`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startDaemon(t)
			c := dial(t, d, d.tcp)
			tr := startTree(t, d, c, tt.script, tt.n)
			killTree(t, c, tr)
			waitNoDescendants(t, d.PID(), nil, goneTimeout)
			if left := cgroupPIDs(d.PID(), c.conn.Welcome().Instance, tr.h); len(left) > 0 {
				t.Errorf("cgroup of the tree still holds %v", left)
			}
		})
	}
}

// TestTreeKillSparesOtherTree kills one of two live trees and checks that
// the other is untouched.
func TestTreeKillSparesOtherTree(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	const script = `sleep 300 & echo $!; setsid sleep 300 & echo $!; sh -c 'sleep 300 & echo $!'; wait`
	a := startTree(t, d, c, script, 3)
	b := startTree(t, d, c, script, 3)

	killTree(t, c, a)
	time.Sleep(200 * time.Millisecond) // let a stray signal land, if one was sent
	checkAlive(t, b.stamps)
	if pi := c.status(b.h); pi.State != "running" {
		t.Errorf("the other tree's process is %q, want running", pi.State)
	}

	killTree(t, c, b)
	waitNoDescendants(t, d.PID(), nil, goneTimeout)
}

// TestTreeKillWhileForking kills a tree that is forking as fast as it can.
func TestTreeKillWhileForking(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	r := c.start(sh(`i=0; while [ $i -lt 2000 ]; do sleep 300 & i=$((i+1)); done; wait`))

	// Kill mid-way: once a few hundred children exist, well before 2000.
	deadline := time.Now().Add(10 * time.Second)
	var seen []int
	for len(seen) < 200 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d children after 10 s", len(seen))
		}
		time.Sleep(10 * time.Millisecond)
		seen = descendants(int(r.PID))
	}
	stamps := stampPIDs(append(seen, cgroupPIDs(d.PID(), c.conn.Welcome().Instance, r.Handle)...))
	c.signal(r.Handle, 9, true)
	ex := c.waitExit(r.Handle, eventTimeout)
	if ex.Signal != 9 || ex.Why != "tree" {
		t.Errorf("exit sig %d why %q, want 9 \"tree\"", ex.Signal, ex.Why)
	}
	t.Logf("killed with %d members seen", len(stamps))
	waitGone(t, stamps, 10*time.Second)
	waitNoDescendants(t, d.PID(), nil, 10*time.Second)
}

// TestDaemonizedGrandchild checks that a process whose grandchild keeps
// its stdout open is reported as exited when it exits, not when the pipe
// closes.
func TestDaemonizedGrandchild(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	began := time.Now()
	r := c.start(sh(`setsid sleep 30 & echo $!`))
	sub := c.subscribe(r.Handle, codec.Stdout, 0, 0)
	printed := c.readLines(sub.Sub, 1, eventTimeout)
	grandchild := stampPIDs(parsePIDs(t, printed))

	ex := c.waitExit(r.Handle, 5*time.Second)
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("exit reported %v after the start", took)
	}
	if !ex.Open || ex.Code != 0 || ex.Signal != 0 {
		t.Errorf("exit open %v code %d sig %d, want open, 0, 0", ex.Open, ex.Code, ex.Signal)
	}
	checkAlive(t, grandchild)

	if len(ex.Lengths) < 1 || ex.Lengths[0] != uint64(len(printed)) {
		t.Errorf("exit len %v, want %d on stdout", ex.Lengths, len(printed))
	}

	// A tree signal still reaches what outlived the process; then the
	// pipe closes and the subscription ends.
	c.signal(r.Handle, 9, true)
	waitGone(t, grandchild, goneTimeout)
	sd := c.collect(sub.Sub, uint64(len(printed)), false, eventTimeout)
	if sd.eos.Length != uint64(len(printed)) {
		t.Errorf("eos at %d, want %d", sd.eos.Length, len(printed))
	}
	if pi := c.status(r.Handle); pi.Exit.Why != "" || pi.Exit.Signal != 0 {
		t.Errorf("the exit record changed after the tree kill: why %q sig %d", pi.Exit.Why, pi.Exit.Signal)
	}

	// Nothing of the tree remains now.
	cerr := c.call(codec.MethodSignal, &codec.SignalArgs{Handle: r.Handle, Signal: 9, Tree: true}, nil)
	if cerr == nil || cerr.Code != codec.CodeWrongState {
		t.Errorf("tree signal once the whole tree is gone: %v, want WRONG_STATE", cerr)
	}
}
