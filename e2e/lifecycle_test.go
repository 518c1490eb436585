// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

func TestLease(t *testing.T) {
	d := startDaemon(t)
	watcher := dial(t, d, d.tcp)

	t.Run("expires after disconnect", func(t *testing.T) {
		owner := dial(t, d, d.tcp)
		a := sh("sleep 30")
		a.Lease = uint64(time.Second)
		r := owner.start(a)
		wait, err := watcher.send(codec.MethodWait, &codec.HandleArgs{Handle: r.Handle})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // the wait is registered before the disconnect
		gone := time.Now()
		owner.close()

		res, cerr, err := wait.wait(10 * time.Second)
		if err != nil || cerr != nil {
			t.Fatalf("proc.wait: %v %v", err, cerr)
		}
		took := time.Since(gone)
		var ex codec.Exit
		if err := codec.Unmarshal(res, &ex, "exit"); err != nil {
			t.Fatal(err)
		}
		if ex.Why != "lease" || ex.Signal != 15 {
			t.Errorf("exit why %q sig %d, want \"lease\" 15 (SIGTERM, then SIGKILL after the grace)", ex.Why, ex.Signal)
		}
		if took < 900*time.Millisecond || took > 4*time.Second {
			t.Errorf("the lease of 1 s ended the process %v after the disconnect", took)
		}
	})

	t.Run("no lease outlives the connection", func(t *testing.T) {
		owner := dial(t, d, d.tcp)
		r := owner.start(sh("sleep 30"))
		owner.close()
		time.Sleep(2 * time.Second)
		if pi := watcher.status(r.Handle); pi.State != "running" {
			t.Fatalf("2 s after its controller left, the process is %q, want running", pi.State)
		}
		watcher.signal(r.Handle, 9, true)
		if ex := watcher.procWait(r.Handle, eventTimeout); ex.Signal != 9 || ex.Why != "tree" {
			t.Errorf("exit sig %d why %q after the tree kill", ex.Signal, ex.Why)
		}
	})
}

func TestTimeout(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	const timeout, grace = 300 * time.Millisecond, 300 * time.Millisecond
	tests := []struct {
		name    string
		script  string
		sig     uint8
		minLife time.Duration // from the exec instant to the reap
	}{
		{"ends on TERM", "sleep 30", 15, timeout},
		{"ignores TERM", `trap "" TERM; sleep 30`, 9, timeout + grace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := sh(tt.script)
			a.Timeout, a.Grace = uint64(timeout), uint64(grace)
			r := c.start(a)
			ex := c.waitExit(r.Handle, 10*time.Second)
			if ex.Why != "timeout" || ex.Signal != tt.sig {
				t.Errorf("exit why %q sig %d, want \"timeout\" %d", ex.Why, ex.Signal, tt.sig)
			}
			life := time.Duration(ex.Times.EndMono - ex.Times.ExecMono)
			if life < tt.minLife || life > tt.minLife+2*time.Second {
				t.Errorf("lived %v after exec, want about %v", life, tt.minLife)
			}
		})
	}
}

func TestStaged(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	a := sh("echo released")
	a.Stage = true
	r := c.start(a)
	if r.State != "staged" {
		t.Fatalf("start state %q, want staged", r.State)
	}
	time.Sleep(100 * time.Millisecond)
	if pi := c.status(r.Handle); pi.State != "staged" || pi.Lengths[0] != 0 {
		t.Fatalf("before the trigger: state %q len %v, want staged and nothing written", pi.State, pi.Lengths)
	}

	at := realNow() + uint64(200*time.Millisecond)
	c.mustCall(codec.MethodTrigger, &codec.TriggerArgs{Handles: []uint64{r.Handle}, At: at}, nil)
	sub := c.subscribe(r.Handle, codec.Stdout, 0, 0)
	out := c.collect(sub.Sub, 0, true, eventTimeout)
	ex := c.waitExit(r.Handle, eventTimeout)

	if string(out.bytes()) != "released\n" || ex.Code != 0 {
		t.Errorf("output %q code %d, want \"released\\n\" 0", out.bytes(), ex.Code)
	}
	tm := ex.Times
	// Not before the instant. How late after it is a figure for the sync
	// benchmark (e2e BenchmarkSyncStart), not a test's bound.
	late := time.Duration(int64(tm.ReleaseReal) - int64(at))
	if late < 0 {
		t.Errorf("released %v before the instant asked for", -late)
	}
	t.Logf("released %v after the instant", late)
	if tm.ExecReal < tm.ReleaseReal || tm.ExecMono < tm.ReleaseMono || tm.ReleaseMono < tm.StartMono {
		t.Errorf("times out of order: %+v", tm)
	}
	if cerr := c.call(codec.MethodTrigger, &codec.TriggerArgs{Handles: []uint64{r.Handle}}, nil); cerr == nil || cerr.Code != codec.CodeWrongState {
		t.Errorf("second trigger: %v, want WRONG_STATE", cerr)
	}
}
