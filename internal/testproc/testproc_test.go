// SPDX-License-Identifier: Apache-2.0

package testproc

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestProcLifecycle(t *testing.T) {
	p, err := Start("/bin/sh", []string{"-c", "echo one; echo $TESTPROC_VAR; exit 3"}, []string{"TESTPROC_VAR=two"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-p.Exited
	if p.Running() {
		t.Error("Running after Exited closed")
	}
	if got := ExitString(p.Err); got != "exit status 3" {
		t.Errorf("ExitString = %q, want exit status 3", got)
	}
	if p.Out.String() != "one\ntwo\n" || p.Out.Lines() != 2 {
		t.Errorf("Out = %q (%d lines), want one, two", p.Out.String(), p.Out.Lines())
	}

	// Started again on the same Out, a child writes on after the first.
	q, err := Start("/bin/sh", []string{"-c", "echo three"}, nil, p.Out)
	if err != nil {
		t.Fatal(err)
	}
	<-q.Exited
	if q.Out.Lines() != 3 || !strings.HasSuffix(q.Out.String(), "three\n") {
		t.Errorf("Out after a second child = %q", q.Out.String())
	}
}

func TestProcKillAndTerm(t *testing.T) {
	// A child that ignores SIGTERM: Term gives up, Kill ends it.
	p, err := Start("/bin/sh", []string{"-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReady(10*time.Second, func() error {
		if p.Out.Lines() == 0 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if p.Term(200 * time.Millisecond) {
		t.Fatal("Term reported an exit of a child that ignores SIGTERM")
	}
	p.Kill()
	if p.Running() {
		t.Fatal("Running after Kill")
	}
	p.Kill() // a second Kill of an ended child is harmless
}

func TestWaitReadyChildExits(t *testing.T) {
	p, err := Start("/bin/sh", []string{"-c", "exit 5"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitReady(10*time.Second, func() error { return errors.New("never ready") })
	if err == nil || !strings.Contains(err.Error(), "exited before answering: exit status 5") {
		t.Errorf("WaitReady of a child that exits = %v", err)
	}
}

func TestFreeBlock(t *testing.T) {
	base, err := FreeBlock(10000, 4)
	if err != nil {
		t.Fatal(err)
	}
	for off := range 4 {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+off))
		if err != nil {
			t.Fatalf("port %d of the block: %v", base+off, err)
		}
		ln.Close()
	}
	if _, err := FreeBlock(70000, 4); err == nil {
		t.Error("FreeBlock above the ephemeral range gave no error")
	}
}
