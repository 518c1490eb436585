// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/netstack"
)

func TestEchoExit(t *testing.T) {
	d := startDaemon(t)
	for _, tr := range []struct{ name, addr string }{{"tcp", d.tcp}, {"unix", d.unix}} {
		t.Run(tr.name, func(t *testing.T) {
			c := dial(t, d, tr.addr)
			r := c.start(sh("echo hello; echo oops >&2; exit 3"))
			if !r.New || r.PID == 0 {
				t.Errorf("start result %+v, want new and a PID", r)
			}
			out := c.subscribe(r.Handle, codec.Stdout, 0, 0)
			errs := c.subscribe(r.Handle, codec.Stderr, 0, 0)
			stdout := c.collect(out.Sub, 0, true, eventTimeout)
			stderr := c.collect(errs.Sub, 0, true, eventTimeout)
			ex := c.waitExit(r.Handle, eventTimeout)

			if got := string(stdout.bytes()); got != "hello\n" {
				t.Errorf("stdout by out events %q, want %q", got, "hello\n")
			}
			if got := string(stderr.bytes()); got != "oops\n" {
				t.Errorf("stderr by out events %q, want %q", got, "oops\n")
			}
			if got := string(c.readAll(r.Handle, codec.Stdout)); got != "hello\n" {
				t.Errorf("stdout by out.read %q, want %q", got, "hello\n")
			}
			if ex.Code != 3 || ex.Signal != 0 || ex.Why != "" || ex.PID != r.PID {
				t.Errorf("exit code %d sig %d why %q pid %d, want 3, 0, \"\", %d", ex.Code, ex.Signal, ex.Why, ex.PID, r.PID)
			}
			if !slices.Equal(ex.Lengths, []uint64{6, 5}) || ex.Open {
				t.Errorf("exit len %v open %v, want [6 5] false", ex.Lengths, ex.Open)
			}
			if stdout.eos.Length != 6 || stderr.eos.Length != 5 {
				t.Errorf("eos lengths %d, %d, want 6, 5", stdout.eos.Length, stderr.eos.Length)
			}
			if pi := c.status(r.Handle); pi.State != "exited" || pi.Exit.Code != 3 {
				t.Errorf("proc.status %q code %d, want exited 3", pi.State, pi.Exit.Code)
			}
		})
	}
}

func TestSignalKill(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	r := c.start(&codec.StartArgs{Argv: argv("sleep", "30")})
	c.signal(r.Handle, 9, false)
	ex := c.waitExit(r.Handle, eventTimeout)
	if ex.Signal != 9 || ex.Code != 0 || ex.Why != "" {
		t.Errorf("exit sig %d code %d why %q, want 9, 0, \"\"", ex.Signal, ex.Code, ex.Why)
	}
	if cerr := c.call(codec.MethodSignal, &codec.SignalArgs{Handle: r.Handle, Signal: 9}, nil); cerr == nil || cerr.Code != codec.CodeWrongState {
		t.Errorf("signal after exit: %v, want WRONG_STATE", cerr)
	}
}

func TestSpawnFailed(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      *codec.StartArgs
		step, sys string
		errno     syscall.Errno
	}{
		{"missing program", &codec.StartArgs{Argv: argv("/nonexistent")}, "execve", "ENOENT", syscall.ENOENT},
		{"program not in PATH", &codec.StartArgs{Argv: argv("tacet-no-such-program")}, "execve", "ENOENT", syscall.ENOENT},
		{"not executable", &codec.StartArgs{Argv: argv(plain)}, "execve", "EACCES", syscall.EACCES},
		{"missing cwd", &codec.StartArgs{Argv: argv("true"), Cwd: []byte("/nonexistent/dir")}, "chdir", "ENOENT", syscall.ENOENT},
		{"cwd is a file", &codec.StartArgs{Argv: argv("true"), Cwd: []byte(plain)}, "chdir", "ENOTDIR", syscall.ENOTDIR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cerr := c.call(codec.MethodStart, tt.args, nil)
			if cerr == nil {
				t.Fatal("proc.start succeeded")
			}
			if cerr.Code != codec.CodeSpawnFailed || cerr.Name != "SPAWN_FAILED" {
				t.Errorf("error %d %s, want %d SPAWN_FAILED", cerr.Code, cerr.Name, codec.CodeSpawnFailed)
			}
			if cerr.Detail.Step != tt.step || cerr.Detail.Sys != tt.sys || cerr.Detail.Errno != uint32(tt.errno) {
				t.Errorf("detail %+v, want step %q errno %d sys %q", cerr.Detail, tt.step, tt.errno, tt.sys)
			}
		})
	}
	// The daemon must keep serving after failed starts.
	if out, ex := c.run(sh("echo fine")); string(out) != "fine\n" || ex.Code != 0 {
		t.Errorf("start after failures: %q, code %d", out, ex.Code)
	}
}

// TestStartSpec checks that what proc.start asks for is in force when the
// target program runs.
func TestStartSpec(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	cwd, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	odd := []byte{'a', 0xff, 0xfe, ' ', 0x80, 'z', 0xc3, 0x28, '\t', 'e'} // not UTF-8
	tests := []struct {
		name string
		args *codec.StartArgs
		want []byte
		sort bool // compare lines sorted
	}{
		{"affinity", &codec.StartArgs{Argv: argv("sh", "-c", "grep Cpus_allowed_list /proc/self/status"), CPUs: []uint16{0}},
			[]byte("Cpus_allowed_list:\t0\n"), false},
		{"rlimit nofile", &codec.StartArgs{Argv: argv("sh", "-c", "ulimit -n; ulimit -H -n"),
			Rlimits: []codec.Rlimit{{Name: "nofile", Soft: 77, Hard: 77}}}, []byte("77\n77\n"), false},
		{"env clear and set", &codec.StartArgs{Argv: argv("env"),
			Env: codec.EnvSpec{Mode: "clear", Set: argv("A=1", "B=x y")}}, []byte("A=1\nB=x y\n"), true},
		{"env set then unset", &codec.StartArgs{Argv: argv("env"),
			Env: codec.EnvSpec{Mode: "clear", Set: argv("A=1", "C=3", "A=2"), Unset: argv("C")}}, []byte("A=2\n"), true},
		{"cwd", &codec.StartArgs{Argv: argv("pwd"), Cwd: []byte(cwd)}, []byte(cwd + "\n"), false},
		{"non-UTF-8 argument", &codec.StartArgs{Argv: [][]byte{[]byte("printf"), []byte("%s"), odd}}, odd, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ex := c.run(tt.args)
			if ex.Code != 0 || ex.Signal != 0 {
				t.Errorf("exit code %d sig %d, want 0; output %q", ex.Code, ex.Signal, out)
			}
			got, want := out, tt.want
			if tt.sort {
				got, want = sortedLines(got), sortedLines(want)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output %q, want %q", got, want)
			}
		})
	}
}

func sortedLines(b []byte) []byte {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	slices.Sort(lines)
	return []byte(strings.Join(lines, "\n") + "\n")
}

func TestRusage(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	var hi codec.HostInfo
	c.mustCall(codec.MethodHostInfo, nil, &hi)

	_, ex := c.run(sh(`i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done`))
	if ex.Code != 0 {
		t.Fatalf("exit code %d", ex.Code)
	}
	if ex.Usage.UserNs < 50e6 {
		t.Errorf("ru.utime %v, want more than 50ms for a busy loop", time.Duration(ex.Usage.UserNs))
	}
	if ex.Usage.MaxRSS == 0 {
		t.Errorf("ru.maxrss 0")
	}
	if hi.Containment != "cgroup2" {
		t.Skipf("containment %q: no cgroup usage to check", hi.Containment)
	}
	if !ex.Cgroup.Valid || ex.Cgroup.UserNs+ex.Cgroup.SysNs < 50e6 {
		t.Errorf("cgru %+v, want valid with at least 50ms of CPU", ex.Cgroup)
	}
}

func TestTimes(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	before := realNow()
	_, ex := c.run(sh("sleep 0.1"))
	after := realNow()
	tm := ex.Times
	if !(tm.StartMono <= tm.ExecMono && tm.ExecMono <= tm.EndMono) || tm.StartMono == 0 {
		t.Errorf("mono smono %d xmono %d emono %d, want ordered and set", tm.StartMono, tm.ExecMono, tm.EndMono)
	}
	if !(tm.StartReal <= tm.ExecReal && tm.ExecReal <= tm.EndReal) || tm.StartReal == 0 {
		t.Errorf("real sreal %d xreal %d ereal %d, want ordered and set", tm.StartReal, tm.ExecReal, tm.EndReal)
	}
	if tm.StartReal < before || tm.EndReal > after {
		t.Errorf("sreal %d..ereal %d outside the test's own clock %d..%d", tm.StartReal, tm.EndReal, before, after)
	}
	real := time.Duration(tm.EndReal - tm.StartReal)
	mono := time.Duration(tm.EndMono - tm.StartMono)
	if diff := (real - mono).Abs(); diff > 5*time.Millisecond {
		t.Errorf("ereal-sreal %v and emono-smono %v differ by %v, more than 5ms", real, mono, diff)
	}
	if mono < 100*time.Millisecond {
		t.Errorf("life of sleep 0.1 is %v", mono)
	}
	if tm.ReleaseReal != 0 || tm.ReleaseMono != 0 {
		t.Errorf("release times %d, %d set on a start that was not staged", tm.ReleaseReal, tm.ReleaseMono)
	}
}

func TestTagRetry(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	file := filepath.Join(t.TempDir(), "runs")
	a := sh("echo run >> " + file + "; sleep 0.3")
	a.Tag = "once"

	first := c.start(a)
	again := c.start(a)
	other := dial(t, d, d.tcp) // a controller retrying after a reconnect
	third := other.start(a)
	for _, r := range []codec.StartResult{again, third} {
		if r.Handle != first.Handle || r.New || r.PID != first.PID {
			t.Errorf("retry %+v, want handle %#x pid %d new false", r, first.Handle, first.PID)
		}
	}
	if !first.New {
		t.Errorf("first start new false")
	}
	c.waitExit(first.Handle, eventTimeout)
	if r := c.start(a); r.Handle != first.Handle || r.New {
		t.Errorf("retry after exit %+v, want the same handle, new false", r)
	}

	b := sh("echo different")
	b.Tag = "once"
	if cerr := c.call(codec.MethodStart, b, nil); cerr == nil || cerr.Code != codec.CodeExists {
		t.Errorf("same tag, other argv: %v, want ALREADY_EXISTS", cerr)
	}
	got, err := os.ReadFile(file)
	if err != nil || string(got) != "run\n" {
		t.Errorf("the program ran %q (%v), want once", got, err)
	}
}

func TestHandshakeWrongKey(t *testing.T) {
	d := startDaemon(t)
	wrong, err := netstack.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{d.tcp, d.unix} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := netstack.Dial(ctx, addr, &netstack.ClientConfig{Key: wrong, Who: "e2e wrong key"})
		cancel()
		if err == nil {
			c.Close()
			t.Fatalf("%s: handshake with a wrong key succeeded", addr)
		}
		var he *netstack.HandshakeError
		if !errors.As(err, &he) || !he.Refused || he.Code != codec.CodeUnauth {
			t.Errorf("%s: %v, want a refusal with UNAUTHENTICATED", addr, err)
		}
	}
	c := dial(t, d, d.tcp)
	c.mustCall(codec.MethodHostInfo, nil, nil)
}

// TestTagAfterFailedStart checks that a start that failed before its
// response leaves no tag behind, so that sending it again tries again.
func TestTagAfterFailedStart(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	dir := filepath.Join(t.TempDir(), "later")
	a := &codec.StartArgs{Argv: argv("pwd"), Cwd: []byte(dir), Tag: "retry-after-failure"}
	if cerr := c.call(codec.MethodStart, a, nil); cerr == nil || cerr.Code != codec.CodeSpawnFailed {
		t.Fatalf("start in a missing directory: %v, want SPAWN_FAILED", cerr)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var r codec.StartResult
	if cerr := c.call(codec.MethodStart, a, &r); cerr != nil {
		t.Fatalf("retry once the directory exists: %v, want a start", cerr)
	}
	if !r.New {
		t.Errorf("retry %+v, want new true", r)
	}
}

// TestStateAfterStartResponse checks the order on the starting
// connection: the proc.start response first, then the state event.
func TestStateAfterStartResponse(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	pc, err := c.send(codec.MethodStart, sh("sleep 0.2"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := pc.reply(callTimeout)
	if err != nil || rep.err != nil {
		t.Fatalf("proc.start: %v %v", err, rep.err)
	}
	var r codec.StartResult
	if err := codec.Unmarshal(rep.result, &r, "start"); err != nil {
		t.Fatal(err)
	}
	ev, err := c.next(procBox(r.Handle), eventTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if ev.state == nil || ev.state.State != "running" {
		t.Fatalf("first event %+v, want state running", ev)
	}
	if ev.seq < rep.seq {
		t.Errorf("state event was frame %d, before the proc.start response (frame %d)", ev.seq, rep.seq)
	}
	c.waitExit(r.Handle, eventTimeout)
}

// TestExitRecordComplete checks, over many short runs, that an exit
// record tells a controller what it has to wait for: the bytes written
// before the exit, and no open stream when no descendant holds one.
func TestExitRecordComplete(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	const runs = 50
	var bad []string
	for range runs {
		r := c.start(sh("printf xy"))
		ex := c.waitExit(r.Handle, eventTimeout)
		if len(ex.Lengths) < 1 || ex.Lengths[0] != 2 || ex.Open {
			bad = append(bad, fmt.Sprintf("len %v open %v", ex.Lengths, ex.Open))
		}
		c.release(r.Handle)
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d exits of `printf xy` are wrong, e.g. %s; want len[0] 2 and open false",
			len(bad), runs, strings.Join(first(bad, 3), "; "))
	}
}
