// SPDX-License-Identifier: Apache-2.0

package faults

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/internal/testproc"
)

// countLoop prints 1 to 60, 50 ms apart, a line to stderr, and exits 7.
const countLoop = `for i in $(seq 60); do echo $i; sleep 0.05; done; echo end >&2; exit 7`

// TestNetnsControllerKilled runs countLoop on three hosts with `tacet
// run` from the controller host, SIGKILLs tacet by its PID while the
// processes run, and checks that they finish on their own and that a new
// controller collects their complete output and exit records.
func TestNetnsControllerKilled(t *testing.T) {
	tb := newTestbed(t, "k", 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	out := &testproc.Buffer{}
	cli := exec.Command(tacetBin, "--key-file", tb.keyFile, "-w", "198.18.1.[1-3]", "run", "--", "/bin/sh", "-c", countLoop)
	cli.Stdout, cli.Stderr = out, out
	if err := tb.ctl.Start(cli); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cli.Wait() }()
	waitFor(t, 10*time.Second, "15 lines from tacet run", func() bool { return out.Lines() >= 15 })
	killedAt := time.Now()
	if err := cli.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("tacet run ended with %v, want killed by SIGKILL; it printed:\n%s", err, out)
	}
	t.Logf("tacet run killed after printing %d lines", out.Lines())

	want := wantCount()
	for i, nd := range tb.nodes {
		c := tb.mustDial(i)
		p := findProcess(t, ctx, c, countLoop)
		ex, err := p.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ex.Code != 7 || ex.Signal != 0 || ex.Why != "" || ex.Open {
			t.Errorf("%s: exit %+v, want code 7, no signal, no why, streams closed", nd.Name, ex)
		}
		if ended := time.Unix(0, int64(ex.Times.EndReal)); !ended.After(killedAt) {
			t.Errorf("%s: the process ended at %v, before its controller was killed at %v", nd.Name, ended, killedAt)
		}
		var stdout, stderr bytes.Buffer
		dial := func() (*client.Client, error) { return c, nil }
		for _, s := range []struct {
			id uint8
			w  *bytes.Buffer
		}{{codec.Stdout, &stdout}, {codec.Stderr, &stderr}} {
			if err := client.Follow(ctx, dial, p.Handle, s.id, 0, s.w); err != nil {
				t.Fatalf("%s: stream %d: %v", nd.Name, s.id, err)
			}
		}
		if stdout.String() != want || stderr.String() != "end\n" {
			t.Errorf("%s: stdout %q, stderr %q; want 1 to 60 and end", nd.Name, stdout.String(), stderr.String())
		}
		if len(ex.Lengths) < 2 || ex.Lengths[0] != uint64(len(want)) || ex.Lengths[1] != 4 {
			t.Errorf("%s: exit record lengths %v, want [%d 4]", nd.Name, ex.Lengths, len(want))
		}
	}
}

// findProcess returns the one process of c's daemon whose argv ends in
// script.
func findProcess(t *testing.T, ctx context.Context, c *client.Client, script string) *client.Process {
	t.Helper()
	list, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found []uint64
	for _, pi := range list {
		if n := len(pi.Argv); n > 0 && string(pi.Argv[n-1]) == script {
			found = append(found, pi.Handle)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d processes run the script, want 1: %+v", c.Addr(), len(found), list)
	}
	return c.Process(found[0])
}

// wantCount returns what countLoop prints on stdout.
func wantCount() string {
	var b strings.Builder
	for i := 1; i <= 60; i++ {
		fmt.Fprintln(&b, i)
	}
	return b.String()
}
