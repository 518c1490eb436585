// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

func TestCallsAnsweredOutOfOrder(t *testing.T) {
	c, d := newPair(t)
	ctx := context.Background()

	host := goResult(func() error {
		h, err := c.HostInfo(ctx)
		if err == nil && h.Host != "node7" {
			t.Errorf("HostInfo().Host = %q, want node7", h.Host)
		}
		return err
	})
	r1 := d.next(codec.MethodHostInfo)
	list := goResult(func() error {
		l, err := c.List(ctx)
		if err == nil && (len(l) != 1 || l[0].Handle != 42) {
			t.Errorf("List() = %+v, want one process of handle 42", l)
		}
		return err
	})
	r2 := d.next(codec.MethodList)

	d.respond(r2.id, &codec.ListResult{Procs: []codec.ProcInfo{{Handle: 42, State: "running"}}})
	if err := recvErr(t, list); err != nil {
		t.Fatalf("List: %v", err)
	}
	d.respond(r1.id, &codec.HostInfo{Host: "node7"})
	if err := recvErr(t, host); err != nil {
		t.Fatalf("HostInfo: %v", err)
	}
}

func TestSpawnFailedError(t *testing.T) {
	c, d := newPair(t)
	res := goResult(func() error {
		_, err := c.Start(context.Background(), &codec.StartArgs{Argv: [][]byte{[]byte("true")}, Cwd: []byte("/nope")})
		return err
	})
	r := d.next(codec.MethodStart)
	if a := decode[codec.StartArgs](t, r); string(a.Cwd) != "/nope" {
		t.Errorf("daemon got cwd %q", a.Cwd)
	}
	e := codec.NewError(codec.CodeSpawnFailed, "spawn failed at chdir: no such file or directory")
	e.Detail = codec.ErrorDetail{Step: "chdir", Errno: uint32(syscall.ENOENT), Sys: "ENOENT"}
	d.fail(r.id, e)

	err := recvErr(t, res)
	if !errors.Is(err, ErrSpawnFailed) || errors.Is(err, ErrNotFound) {
		t.Fatalf("error %v: want SPAWN_FAILED only", err)
	}
	var ce *Error
	if !errors.As(err, &ce) || ce.Step != "chdir" || ce.Errno != syscall.ENOENT {
		t.Fatalf("error %#v: want step chdir, errno ENOENT", err)
	}
	want := "fake:1: SPAWN_FAILED: spawn failed at chdir: no such file or directory"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
}

func TestErrorIs(t *testing.T) {
	tests := []struct {
		name   string
		code   uint16
		target error
		want   bool
	}{
		{"same code", codec.CodeNotFound, ErrNotFound, true},
		{"other code", codec.CodeNotFound, ErrWrongState, false},
		{"unknown code", 999, ErrInternal, false},
		{"not an Error", codec.CodeLimit, ErrConnLost, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := error(newError("h:1", codec.NewError(tt.code, "x")))
			if got := errors.Is(err, tt.target); got != tt.want {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", err, tt.target, got, tt.want)
			}
		})
	}
}

func TestGoawayFailsPendingCalls(t *testing.T) {
	c, d := newPair(t)
	res := goResult(func() error { _, err := c.HostInfo(context.Background()); return err })
	d.next(codec.MethodHostInfo)
	d.goaway(codec.NewError(codec.CodeShuttingDown, "the daemon is stopping"))

	err := recvErr(t, res)
	if !errors.Is(err, ErrShuttingDown) || !errors.Is(err, ErrConnLost) {
		t.Fatalf("error %v: want SHUTTING_DOWN and connection lost", err)
	}
	<-c.Done()
	if _, err := c.List(context.Background()); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("call after GOAWAY: %v, want SHUTTING_DOWN", err)
	}
	if _, ok := <-c.Events(); ok {
		t.Error("Events is not closed after the connection ended")
	}
}

func TestConnLost(t *testing.T) {
	c, d := newPair(t)
	res := goResult(func() error { _, err := c.HostInfo(context.Background()); return err })
	d.next(codec.MethodHostInfo)
	d.conn.Close()

	if err := recvErr(t, res); !errors.Is(err, ErrConnLost) {
		t.Fatalf("error %v: want ErrConnLost", err)
	}
}

func TestCallCancelled(t *testing.T) {
	c, d := newPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	res := goResult(func() error { _, err := c.HostInfo(ctx); return err })
	r := d.next(codec.MethodHostInfo)
	cancel()
	if err := recvErr(t, res); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v: want context.Canceled", err)
	}

	// The late answer is dropped and the connection goes on.
	d.respond(r.id, &codec.HostInfo{})
	res = goResult(func() error { _, err := c.List(context.Background()); return err })
	d.respond(d.next(codec.MethodList).id, &codec.ListResult{})
	if err := recvErr(t, res); err != nil {
		t.Fatalf("List after a cancelled call: %v", err)
	}
}

func TestEventsDropOldest(t *testing.T) {
	c, d := newPair(t)
	const n = eventBuffer + 44
	for i := range n {
		d.event(0, &codec.State{K: codec.EventState, Handle: uint64(i), State: "running"})
	}
	// A round trip makes sure the reader has seen every event.
	res := goResult(func() error { _, err := c.List(context.Background()); return err })
	d.respond(d.next(codec.MethodList).id, &codec.ListResult{})
	if err := recvErr(t, res); err != nil {
		t.Fatal(err)
	}

	if got := c.Dropped(); got != 44 {
		t.Errorf("Dropped() = %d, want 44", got)
	}
	ev := <-c.Events()
	if ev.Kind != codec.EventState || ev.Handle != 44 {
		t.Errorf("oldest event kept: %+v, want state of handle 44", ev)
	}
}

func TestWaitReturnsOnExitEvent(t *testing.T) {
	c, d := newPair(t)
	ctx := context.Background()
	started := make(chan *Process, 1)
	go func() {
		p, err := c.Start(ctx, &codec.StartArgs{Argv: [][]byte{[]byte("true")}})
		if err != nil {
			t.Error(err)
		}
		started <- p
	}()
	r := d.next(codec.MethodStart)
	d.respond(r.id, &codec.StartResult{Handle: 9, PID: 100, New: true, State: "running"})
	d.event(0, &codec.Exit{K: codec.EventExit, Handle: 9, PID: 100, Code: 3})
	p := <-started
	if p == nil {
		t.FailNow()
	}

	// The exit event may have been read before Wait: either way it ends
	// Wait, with no answer to proc.wait.
	ex, err := p.Wait(ctx)
	if err != nil || ex.Code != 3 {
		t.Fatalf("Wait() = %+v, %v; want code 3", ex, err)
	}
	if p.State() != "exited" || p.PID != 100 {
		t.Errorf("State() = %q, PID %d", p.State(), p.PID)
	}
}

func TestWaitResponseAndCancel(t *testing.T) {
	c, d := newPair(t)
	p := c.Process(5)
	res := goResult(func() error {
		ex, err := p.Wait(context.Background())
		if err == nil && ex.Signal != 9 {
			t.Errorf("Wait signal = %d, want 9", ex.Signal)
		}
		return err
	})
	r := d.next(codec.MethodWait)
	if a := decode[codec.HandleArgs](t, r); a.Handle != 5 {
		t.Errorf("proc.wait handle %d, want 5", a.Handle)
	}
	d.respond(r.id, &codec.Exit{K: codec.EventExit, Handle: 5, Signal: 9})
	if err := recvErr(t, res); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Process(6).Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait with a deadline: %v", err)
	}
	d.next(codec.MethodWait)
}

func TestPing(t *testing.T) {
	c, d := newPair(t)
	d.pongOff = 3 * time.Second
	s, err := c.Ping(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Offset < 2*time.Second || s.Offset > 4*time.Second {
		t.Errorf("offset %v, want about 3s", s.Offset)
	}
	if s.Delay < 0 || s.Delay > time.Second {
		t.Errorf("delay %v", s.Delay)
	}
	if s.T4 < s.T1 {
		t.Errorf("T4 %d before T1 %d", s.T4, s.T1)
	}
}

func TestStdinSplits(t *testing.T) {
	c, d := newPair(t)
	data := make([]byte, 2*maxStdinChunk+10)
	res := goResult(func() error { return c.Process(1).Stdin(context.Background(), data, true) })
	var got int
	for i := 0; i < 3; i++ {
		r := d.next(codec.MethodStdin)
		a := decode[codec.StdinArgs](t, r)
		got += len(a.Data)
		if a.EOF != (i == 2) {
			t.Errorf("request %d: eof %v", i, a.EOF)
		}
		d.respond(r.id, empty{})
	}
	if err := recvErr(t, res); err != nil || got != len(data) {
		t.Fatalf("Stdin: %v, daemon got %d bytes of %d", err, got, len(data))
	}
}

// TestAnswerPing: the daemon pings a controller that holds leased
// processes and says nothing; the client answers, and the connection
// goes on.
func TestAnswerPing(t *testing.T) {
	c, d := newPair(t)
	before := uint64(time.Now().UnixNano())
	d.frame(func(b []byte) ([]byte, error) {
		return (&codec.Ping{T1: 42}).MarshalMsg(codec.AppendEnvelope(b, codec.KindPing, 7))
	})
	select {
	case p := <-d.pongs:
		if p.id != 7 || p.pong.T1 != 42 || p.pong.T2 < before || p.pong.T3 < p.pong.T2 || p.pong.M3 < p.pong.M2 {
			t.Errorf("pong id %d %+v, want id 7, t1 42 and the client's clocks", p.id, p.pong)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong within 5 s")
	}
	if err := c.Err(); err != nil {
		t.Fatalf("connection ended after a PING: %v", err)
	}
}
