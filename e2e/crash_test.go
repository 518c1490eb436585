// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/internal/testproc"
)

// restart ends the daemon with SIGKILL, by its PID, and starts it again
// with the same flags, on the same state directory and addresses. The
// test's cleanup then stops the new process. Should another process have
// taken the TCP port meanwhile, the daemon is started on another.
func (d *daemon) restart(downtime time.Duration) {
	d.t.Helper()
	d.Kill()
	d.t.Logf("tacetd (pid %d) killed: %s", d.PID(), testproc.ExitString(d.Err))
	time.Sleep(downtime)
	args := slices.Clone(d.Cmd.Args[1:])
	for try := 1; ; try++ {
		d.launch(args)
		err := d.waitReady()
		if err == nil {
			return
		}
		d.Kill()
		if try == startTries {
			d.t.Fatalf("tacetd restarted on %s: %v\n%s", d.stateDir, err, d.Out)
		}
		d.t.Logf("tacetd restart %d: %v; trying another port", try, err)
		i := slices.Index(args, d.tcp)
		d.tcp = "tcp://127.0.0.1:" + strconv.Itoa(freePort(d.t))
		args[i] = d.tcp
	}
}

const (
	crashFinished = 20
	crashRunning  = 20
	crashPeriod   = "0.04" // seconds between two lines of a running process
	crashOwnEnd   = 200    // lines after which half the running processes end
	crashMaxLines = 2000   // bounds the others, which the test kills
	crashDowntime = 500 * time.Millisecond
)

// finishedScript writes a known output to both streams and exits with
// status i.
func finishedScript(i int) string {
	return fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "f%d $i"; i=$((i+1)); done; echo "stderr of %d" >&2; exit %d`,
		100+10*i, i, i, i)
}

func finishedOutput(i int) (string, string) {
	var b strings.Builder
	for n := 0; n < 100+10*i; n++ {
		fmt.Fprintf(&b, "f%d %d\n", i, n)
	}
	return b.String(), fmt.Sprintf("stderr of %d\n", i)
}

// runningScript prints numbered lines for a while; with a grandchild, it
// first starts one and prints its PID, and runs until it is killed.
func runningScript(grandchild bool) string {
	pre, n := "", crashOwnEnd
	if grandchild {
		pre, n = `sleep 300 & echo "grandchild $!"; `, crashMaxLines
	}
	return pre + fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "line $i"; i=$((i+1)); sleep %s; done`, n, crashPeriod)
}

// TestDaemonSIGKILLRestart kills tacetd with SIGKILL while 20 processes
// run and 20 have finished, starts it again on the same state directory
// (twice), and checks what the new instance reports: every process, the
// finished ones with their exit records and output intact, the running
// ones as running, with every line they wrote before, during and after
// the crash exactly once (or a gap covering exactly the missing ones),
// killable as trees, and ending with an exit record marked unknown.
func TestDaemonSIGKILLRestart(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	inst := c.conn.Welcome().Instance

	finished := make([]uint64, crashFinished)
	for i := range finished {
		finished[i] = c.start(sh(finishedScript(i))).Handle
	}
	for i, h := range finished {
		if ex := c.procWait(h, eventTimeout); ex.Code != uint8(i) {
			t.Fatalf("finished process %d exited %d", i, ex.Code)
		}
	}
	running := make([]uint64, crashRunning)
	for i := range running {
		running[i] = c.start(sh(runningScript(i%2 == 1))).Handle
	}
	before := waitLines(t, c, running, 5)
	c.close()

	d.restart(crashDowntime)
	c = dial(t, d, d.tcp)
	inst2 := c.conn.Welcome().Instance
	if bytes.Equal(inst2, inst) {
		t.Fatalf("the restarted daemon kept instance %x", inst)
	}

	var list codec.ListResult
	c.mustCall(codec.MethodList, nil, &list)
	byH := map[uint64]codec.ProcInfo{}
	for _, pi := range list.Procs {
		byH[pi.Handle] = pi
	}
	if len(list.Procs) != crashFinished+crashRunning {
		t.Errorf("proc.list has %d processes after the restart, want %d", len(list.Procs), crashFinished+crashRunning)
	}
	for i, h := range finished {
		checkFinished(t, c, byH[h], i)
	}
	for i, h := range running {
		pi := byH[h]
		if pi.State != "running" {
			t.Fatalf("running process %d (%#x) is %q after the restart", i, h, pi.State)
		}
		if pi.Lengths[0] < before[i] {
			t.Errorf("process %d: %d bytes after the restart, %d before", i, pi.Lengths[0], before[i])
		}
	}

	// Once more: the new instance's keeper took the pipes over from the
	// old one, and hands them to a third instance.
	waitLines(t, c, running, 3)
	c.close()
	d.restart(crashDowntime)
	c = dial(t, d, d.tcp)
	if inst3 := c.conn.Welcome().Instance; bytes.Equal(inst3, inst) || bytes.Equal(inst3, inst2) {
		t.Fatalf("the daemon restarted twice has instance %x, before %x and %x", inst3, inst, inst2)
	}
	c.mustCall(codec.MethodList, nil, &list)
	if len(list.Procs) != crashFinished+crashRunning {
		t.Errorf("proc.list has %d processes after the second restart, want %d", len(list.Procs), crashFinished+crashRunning)
	}

	// Subscribed, so that this connection hears the exits.
	subs := make([]uint32, len(running))
	for i, h := range running {
		subs[i] = c.subscribe(h, codec.Stdout, 0, 1<<30).Sub
	}
	// The killed ones must have written after the restart first.
	var killed []uint64
	for i := 1; i < len(running); i += 2 {
		killed = append(killed, running[i])
	}
	waitLines(t, c, killed, 5)
	for i, h := range running {
		if i%2 == 1 {
			c.signal(h, 9, true)
		}
	}
	for i, h := range running {
		ex := c.procWait(h, 30*time.Second)
		why := ""
		if i%2 == 1 {
			why = "tree"
		}
		if !ex.Unknown || ex.Why != why || ex.Code != 0 || ex.Signal != 0 || ex.Times.EndReal == 0 {
			t.Errorf("process %d: exit %+v, want unknown, why %q and an end time", i, ex, why)
		}
		sd := c.collect(subs[i], 0, false, 30*time.Second)
		checkLines(t, i, sd, i%2 == 0)
		if !ex.Open && ex.Lengths[0] != sd.eos.Length {
			t.Errorf("process %d: exit says %d bytes, the stream ended at %d", i, ex.Lengths[0], sd.eos.Length)
		}
	}
}

// waitLines waits until every process of hs has written at least n more
// lines than it had when called, roughly (8 bytes a line), and returns
// the stdout lengths it saw.
func waitLines(t *testing.T, c *client, hs []uint64, n int) []uint64 {
	t.Helper()
	out := make([]uint64, len(hs))
	deadline := time.Now().Add(eventTimeout)
	for i, h := range hs {
		first := c.status(h).Lengths[0]
		for {
			out[i] = c.status(h).Lengths[0]
			if out[i] >= first+uint64(8*n) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("process %d wrote %d bytes, want %d more", i, out[i], 8*n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return out
}

// checkFinished checks a process that had ended before the crash: its
// exit record as it was, and its output.
func checkFinished(t *testing.T, c *client, pi codec.ProcInfo, i int) {
	t.Helper()
	if pi.State != "exited" || pi.Exit.Unknown || pi.Exit.Code != uint8(i) || pi.Exit.Times.EndReal == 0 || pi.Exit.Usage.UserNs+pi.Exit.Usage.SysNs == 0 && pi.Exit.Usage.MaxRSS == 0 {
		t.Errorf("finished process %d: %q %+v", i, pi.State, pi.Exit)
	}
	out, errOut := finishedOutput(i)
	if got := string(c.readAll(pi.Handle, codec.Stdout)); got != out {
		t.Errorf("finished process %d: stdout of %d bytes, want %d", i, len(got), len(out))
	}
	if got := string(c.readAll(pi.Handle, codec.Stderr)); got != errOut {
		t.Errorf("finished process %d: stderr %q, want %q", i, got, errOut)
	}
	if len(pi.Exit.Lengths) != 2 || pi.Exit.Lengths[0] != uint64(len(out)) {
		t.Errorf("finished process %d: exit lengths %v", i, pi.Exit.Lengths)
	}
}

// checkLines checks that a running process's stdout holds "line N" for
// every N from 0 on, each once, except where a gap event covers exactly
// the lines missing; whole says it must reach the last line the script
// prints. A process with a grandchild first prints its PID, which must
// be gone.
func checkLines(t *testing.T, i int, sd streamData, whole bool) {
	t.Helper()
	// Rebuild the stream with each gap as a run of NUL bytes: the lines
	// it hides must be exactly the ones missing.
	var b []byte
	ci, gi := 0, 0
	for ci < len(sd.chunks) || gi < len(sd.gaps) {
		if gi < len(sd.gaps) && (ci == len(sd.chunks) || sd.gaps[gi].From < sd.chunks[ci].Offset) {
			b = append(b, make([]byte, sd.gaps[gi].To-sd.gaps[gi].From)...)
			t.Logf("process %d: gap [%d, %d) %s", i, sd.gaps[gi].From, sd.gaps[gi].To, sd.gaps[gi].Why)
			gi++
			continue
		}
		b = append(b, sd.chunks[ci].Data...)
		ci++
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > 0 && strings.HasPrefix(lines[0], "grandchild ") {
		pid, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(lines[0], "grandchild ")))
		if st, ok := readStat(pid); pid == 0 || ok && st.state != 'Z' && st.state != 'X' {
			t.Errorf("process %d: grandchild %d outlives the tree kill", i, pid)
		}
		lines = lines[1:]
	}
	next := 0
	for _, l := range lines {
		if l == "" {
			continue
		}
		// A gap's NULs stand for whole lines, from "line next" on.
		for strings.HasPrefix(l, "\x00") {
			want := "line " + strconv.Itoa(next) + "\n"
			if !strings.HasPrefix(l, strings.Repeat("\x00", len(want))) {
				t.Fatalf("process %d: a gap does not cover whole lines at line %d", i, next)
			}
			l = l[len(want):]
			next++
		}
		if l == "" {
			continue
		}
		if want := "line " + strconv.Itoa(next) + "\n"; l != want {
			t.Fatalf("process %d: %q where %q was due (%d bytes in all)", i, l, want, len(b))
		}
		next++
	}
	if whole && next != crashOwnEnd {
		t.Errorf("process %d: %d lines, want %d", i, next, crashOwnEnd)
	}
	if next < 20 {
		t.Errorf("process %d: only %d lines", i, next)
	}
}
