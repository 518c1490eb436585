// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"strconv"
	"sync"
	"syscall"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// Process is a process of the daemon, named by its handle. Its methods
// may be called from any goroutine.
type Process struct {
	Handle uint64
	PID    uint32 // 0 until known: a Process made by Client.Process has none

	c     *Client
	mu    sync.Mutex    // guards the fields below
	state string        // the latest state reported
	exit  *codec.Exit   // set by the exit event
	fail  *codec.Failed // set by the failed event
	ended chan struct{} // closed when exit or fail is set
}

// Process returns the Process of handle, for one started elsewhere or by
// an earlier connection. It sends nothing; the Client keeps the value,
// and returns the same one for the same handle, until Release.
func (c *Client) Process(handle uint64) *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.processLocked(handle)
}

func (c *Client) processLocked(handle uint64) *Process {
	p := c.procs[handle]
	if p == nil {
		p = &Process{Handle: handle, c: c, ended: make(chan struct{})}
		c.procs[handle] = p
	}
	return p
}

// Start starts a process as a describes. A process that could not be
// started gives an *Error of code SPAWN_FAILED whose Step and Errno say
// where and why. A retry with the same a.Tag and argv returns the same
// process, started once.
func (c *Client) Start(ctx context.Context, a *codec.StartArgs) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := new(codec.StartResult)
	var p *Process

	// The Process is registered by the reader as soon as the response is
	// read, so that an exit event right behind it finds its Process.
	cl, err := c.begin(codec.MethodStart, a, r, func(err error) {
		if err != nil {
			return
		}
		c.mu.Lock()
		p = c.processLocked(r.Handle)
		c.mu.Unlock()
		p.mu.Lock()
		p.PID = r.PID
		if p.state == "" {
			p.state = r.State
		}
		p.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	if err := c.await(ctx, cl); err != nil {
		return nil, err
	}
	return p, nil
}

// List returns every process the daemon keeps records of.
func (c *Client) List(ctx context.Context) ([]codec.ProcInfo, error) {
	var r codec.ListResult
	if err := c.Call(ctx, codec.MethodList, nil, &r); err != nil {
		return nil, err
	}
	return r.Procs, nil
}

// Trigger releases staged processes at the CLOCK_REALTIME instant at, or
// now when at is zero. The daemon checks all of them before it releases
// any.
func (c *Client) Trigger(ctx context.Context, at time.Time, handles ...uint64) error {
	a := codec.TriggerArgs{Handles: handles}
	if !at.IsZero() {
		a.At = uint64(at.UnixNano())
	}
	return c.Call(ctx, codec.MethodTrigger, &a, nil)
}

// onEvent records a state, exit or failed event of p, in the reader.
func (p *Process) onEvent(ev *Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case ev.State != nil:
		p.state = ev.State.State
		if p.PID == 0 {
			p.PID = ev.State.PID
		}
	case ev.Exit != nil && p.exit == nil && p.fail == nil:
		p.exit, p.state = ev.Exit, "exited"
		close(p.ended)
	case ev.Failed != nil && p.exit == nil && p.fail == nil:
		p.fail, p.state = ev.Failed, "failed"
		close(p.ended)
	}
}

// State returns the latest state this connection heard of: "staged",
// "running", "exited", "failed", or "" when it heard nothing. Status asks
// the daemon.
func (p *Process) State() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Wait waits until the process has ended and returns how. A process that
// failed to start gives an *Error of code SPAWN_FAILED. When ctx is done
// first, Wait stops waiting and returns its error; the process goes on.
func (p *Process) Wait(ctx context.Context) (*codec.Exit, error) {
	if ex, ok, err := p.result(); ok {
		return ex, err
	}
	ex := new(codec.Exit)
	cl, err := p.c.begin(codec.MethodWait, &codec.HandleArgs{Handle: p.Handle}, ex, nil)
	if err != nil {
		return nil, err
	}

	// Whichever comes first: the exit event or the response.
	select {
	case <-cl.done:
		if cl.err != nil {
			return nil, cl.err
		}
		return ex, nil
	case <-p.ended:
	case <-ctx.Done():
	}
	if !p.c.abandon(cl) {
		<-cl.done
	}
	if ex, ok, err := p.result(); ok {
		return ex, err
	}
	return nil, context.Cause(ctx)
}

// result returns the end of p, if the reader has seen it.
func (p *Process) result() (*codec.Exit, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.exit != nil:
		return p.exit, true, nil
	case p.fail != nil:
		return nil, true, failedError(p.c.addr, p.fail)
	}
	return nil, false, nil
}

// failedError is the error of a start that failed, as the daemon gives
// it in a response.
func failedError(addr string, f *codec.Failed) *Error {
	e := sentinel(codec.CodeSpawnFailed)
	e.Addr, e.Step, e.Errno = addr, f.Step, syscall.Errno(f.Errno)
	e.Message = "spawn failed at " + f.Step + ": " + e.Errno.Error()
	return e
}

// Status asks the daemon for the process's record.
func (p *Process) Status(ctx context.Context) (*codec.ProcInfo, error) {
	r := new(codec.ProcInfo)
	if err := p.c.Call(ctx, codec.MethodStatus, &codec.HandleArgs{Handle: p.Handle}, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Signal sends sig to the process, or with tree to it and every
// descendant, however they detached.
func (p *Process) Signal(ctx context.Context, sig syscall.Signal, tree bool) error {
	_, err := p.SignalAt(ctx, sig, tree, time.Time{})
	return err
}

// SignalAt sends sig as Signal does, at the daemon's CLOCK_REALTIME
// instant at, or now when at is zero, and returns when the daemon sent
// it, by the daemon's clock. With an instant, it returns once that has
// come and the signal is sent; ctx bounds the wait, though the daemon
// still sends the signal when ctx ends first. A daemon too old to say
// when (capability version 1) gives the zero time.
func (p *Process) SignalAt(ctx context.Context, sig syscall.Signal, tree bool, at time.Time) (time.Time, error) {
	if sig <= 0 || sig > 255 {
		e := sentinel(codec.CodeBadArgs)
		e.Message, e.Field = "no such signal: "+strconv.Itoa(int(sig)), "sig"
		return time.Time{}, e
	}
	a := codec.SignalArgs{Handle: p.Handle, Signal: uint8(sig), Tree: tree}
	if !at.IsZero() {
		a.At = uint64(at.UnixNano())
	}
	var r codec.SignalResult
	if err := p.c.Call(ctx, codec.MethodSignal, &a, &r); err != nil {
		return time.Time{}, err
	}
	if r.Real == 0 {
		return time.Time{}, nil
	}
	return time.Unix(0, int64(r.Real)), nil
}

// Trigger releases the staged process at the CLOCK_REALTIME instant at,
// or now when at is zero.
func (p *Process) Trigger(ctx context.Context, at time.Time) error {
	return p.c.Trigger(ctx, at, p.Handle)
}

// Freeze stops every process of the tree, or with thaw lets them go on.
func (p *Process) Freeze(ctx context.Context, thaw bool) error {
	return p.c.Call(ctx, codec.MethodFreeze, &codec.FreezeArgs{Handle: p.Handle, Thaw: thaw}, nil)
}

// Resize sets the window size of the process's pseudo-terminal, which
// sends it SIGWINCH. A process started without one gets ErrWrongState.
func (p *Process) Resize(ctx context.Context, rows, cols uint16) error {
	return p.c.Call(ctx, codec.MethodResize, &codec.ResizeArgs{Handle: p.Handle, Rows: rows, Cols: cols}, nil)
}

// Release makes the daemon forget the ended process: its records, its
// output and its tag. The Client forgets it too.
func (p *Process) Release(ctx context.Context) error {
	if err := p.c.Call(ctx, codec.MethodRelease, &codec.HandleArgs{Handle: p.Handle}, nil); err != nil {
		return err
	}
	p.c.mu.Lock()
	if p.c.procs[p.Handle] == p {
		delete(p.c.procs, p.Handle)
	}
	p.c.mu.Unlock()
	return nil
}

// maxStdinChunk bounds the data of one proc.stdin request, well under
// the smallest frame limit a daemon may announce after the handshake.
const maxStdinChunk = 64 << 10

// Stdin writes data to the process's standard input, which must have
// been started with stdin mode "pipe", and with eof closes it after the
// data. Large data is sent in several requests, in order.
func (p *Process) Stdin(ctx context.Context, data []byte, eof bool) error {
	chunk := min(maxStdinChunk, p.c.conn.MaxPayload()-256)
	for {
		n := min(len(data), chunk)
		last := n == len(data)
		a := codec.StdinArgs{Handle: p.Handle, Data: data[:n], EOF: eof && last}
		if n > 0 || a.EOF {
			if err := p.c.Call(ctx, codec.MethodStdin, &a, nil); err != nil {
				return err
			}
		}
		if last {
			return nil
		}
		data = data[n:]
	}
}
