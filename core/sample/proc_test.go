// SPDX-License-Identifier: Apache-2.0

package sample

import (
	"os"
	"os/exec"
	"testing"

	"github.com/prometheus/procfs"

	"gitlab.com/tacet/tacet/codec"
)

// TestProcFixture reads process 100 of the fixture, whose name holds
// spaces and parentheses, with its child 101 found through
// task/100/children.
func TestProcFixture(t *testing.T) {
	r := NewProcs(fixture)
	t.Cleanup(r.Close)
	out := r.Read([]Target{{Handle: 7, PID: 100, Tree: true}}, nil)
	if len(out) != 2 {
		t.Fatalf("%d records: %+v", len(out), out)
	}
	page := uint64(os.Getpagesize())
	want := codec.ProcSample{Handle: 7, PID: 100, PPID: 1, Start: 12345 * tickNs, State: "S", CPU: 5,
		Threads: 3, UserNs: 250 * tickNs, SysNs: 30 * tickNs, MinFlt: 500, MajFlt: 7, NVCSw: 150, NIVCSw: 12,
		VSize: 104857600, RSS: 2560 * page, Shared: 512 * page, RChar: 4096, WChar: 8192,
		RdBytes: 512, WrBytes: 1024}
	if out[0] != want {
		t.Errorf("got  %+v\nwant %+v", out[0], want)
	}
	if c := out[1]; c.Handle != 7 || c.PID != 101 || c.PPID != 100 || c.State != "R" || c.RChar != 0 {
		t.Errorf("child %+v", c)
	}

	// Another start for pid 100 is another process: no record.
	out = r.Read([]Target{{Handle: 8, PID: 100, Start: 999 * tickNs}}, out[:0])
	if len(out) != 0 {
		t.Errorf("pid 100 with another start: %+v", out)
	}
	// Handle 7 learned its start at the first read and keeps it.
	if r.starts[7] != 12345*tickNs {
		t.Errorf("handle 7 start %d", r.starts[7])
	}
	out = r.Read([]Target{{PID: 4242}}, out[:0])
	if len(out) != 0 || len(r.procs) != 0 {
		t.Errorf("missing pid: %+v, %d open", out, len(r.procs))
	}
}

// startSleepers starts n children that sleep until the test ends.
func startSleepers(tb testing.TB, n int) []Target {
	tb.Helper()
	var ts []Target
	for i := range n {
		cmd := exec.Command("sleep", "3600")
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		ts = append(ts, Target{Handle: uint64(i + 1), PID: cmd.Process.Pid})
	}
	return ts
}

// TestProcLive compares a live read of this test process with procfs.
func TestProcLive(t *testing.T) {
	r := NewProcs("/proc")
	t.Cleanup(r.Close)
	pid := os.Getpid()
	a := r.Read([]Target{{PID: pid}}, nil)
	p, err := procfs.NewProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := p.Stat()
	status, _ := p.NewStatus()
	io, _ := p.IO()
	c := r.Read([]Target{{PID: pid}}, nil)
	if len(a) != 1 || len(c) != 1 {
		t.Fatalf("records %+v %+v", a, c)
	}
	x, y := a[0], c[0]
	if x.PPID != uint32(st.PPID) || x.Start != st.Starttime*tickNs || x.VSize == 0 {
		t.Errorf("ours %+v, procfs %+v", x, st)
	}
	if !between(x.MinFlt, uint64(st.MinFlt), y.MinFlt) || !between(x.UserNs, uint64(st.UTime)*tickNs, y.UserNs) ||
		!between(x.NVCSw, status.VoluntaryCtxtSwitches, y.NVCSw) || !between(x.RChar, io.RChar, y.RChar) {
		t.Errorf("ours %+v .. %+v\nprocfs %+v %+v %+v", x, y, st, status, io)
	}
}

// TestProcGone checks that an ended child has no record and that its
// files are closed.
func TestProcGone(t *testing.T) {
	cmd := exec.Command("sleep", "3600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := NewProcs("/proc")
	t.Cleanup(r.Close)
	ts := []Target{{Handle: 1, PID: cmd.Process.Pid}}
	if out := r.Read(ts, nil); len(out) != 1 || out[0].State == "" {
		t.Fatalf("running child: %+v", out)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if out := r.Read(ts, nil); len(out) != 0 || len(r.procs) != 0 {
		t.Fatalf("ended child: %+v, %d open", out, len(r.procs))
	}
}

func TestProcNoAlloc(t *testing.T) {
	ts := startSleepers(t, 10)
	r := NewProcs("/proc")
	t.Cleanup(r.Close)
	self := NewSelf("/proc")
	out := r.Read(ts, nil)
	if len(out) != 10 {
		t.Fatalf("%d records", len(out))
	}
	var c codec.Cost
	n := testing.AllocsPerRun(100, func() {
		out = r.Read(ts, out[:0])
		self.Read(&c)
	})
	if n != 0 {
		t.Errorf("%v allocations per read of 10 processes", n)
	}
	if c.RSS == 0 || c.Threads == 0 {
		t.Errorf("self %+v", c)
	}
}

func BenchmarkProcs10(b *testing.B) {
	ts := startSleepers(b, 10)
	r := NewProcs("/proc")
	defer r.Close()
	out := r.Read(ts, nil)
	b.ReportAllocs()
	for b.Loop() {
		out = r.Read(ts, out[:0])
	}
}

func BenchmarkSelf(b *testing.B) {
	r := NewSelf("/proc")
	defer r.Close()
	var c codec.Cost
	b.ReportAllocs()
	for b.Loop() {
		r.Read(&c)
	}
}
