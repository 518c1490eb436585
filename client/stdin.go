// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"errors"

	"gitlab.com/tacet/tacet/codec"
)

// stdinWindow is how many proc.stdin requests a StdinWriter keeps
// unanswered, of stdinChunk bytes each: 1 MiB, well under what a daemon
// holds unwritten for one process (spec/PROTOCOL.md 11.8).
const (
	stdinWindow = 4
	stdinChunk  = 256 << 10
)

// StdinWriter writes a stream to a process's standard input with several
// proc.stdin requests in flight, so that a stream is not held to one
// round trip per chunk. It is not safe for concurrent use.
type StdinWriter struct {
	p        *Process
	ctx      context.Context
	chunk    int
	acks     chan error // one answer per request sent
	inflight int
	err      error // the first failure; every later call returns it
	closed   bool
}

// StdinWriter returns an io.WriteCloser onto the standard input of the
// process, which must have been started with stdin mode "pipe". Close
// closes the pipe after the bytes written and waits until the daemon
// has written them all. ctx bounds every call.
func (p *Process) StdinWriter(ctx context.Context) *StdinWriter {
	return &StdinWriter{p: p, ctx: ctx, chunk: min(stdinChunk, p.c.conn.MaxPayload()-256),
		acks: make(chan error, stdinWindow+1)}
}

// Write sends b in chunks, waiting for answers while stdinWindow
// requests are unanswered. The data is encoded before Write returns, so
// b may be reused at once.
func (w *StdinWriter) Write(b []byte) (int, error) {
	if w.closed {
		return 0, errors.New("stdin writer closed")
	}
	n := 0
	for len(b) > 0 {
		k := min(len(b), w.chunk)
		if err := w.send(&codec.StdinArgs{Handle: w.p.Handle, Data: b[:k]}); err != nil {
			return n, err
		}
		n, b = n+k, b[k:]
	}
	return n, nil
}

// Close sends the end of input and waits for every request's answer.
func (w *StdinWriter) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if err := w.send(&codec.StdinArgs{Handle: w.p.Handle, EOF: true}); err != nil {
		return err
	}
	return w.wait(0)
}

// send sends one request once fewer than stdinWindow are unanswered.
func (w *StdinWriter) send(a *codec.StdinArgs) error {
	if err := w.wait(stdinWindow - 1); err != nil {
		return err
	}
	_, err := w.p.c.begin(codec.MethodStdin, a, nil, func(err error) { w.acks <- err })
	if err != nil {
		w.err = err
		return err
	}
	w.inflight++
	return nil
}

// wait takes answers until at most max requests are unanswered.
func (w *StdinWriter) wait(max int) error {
	for w.err == nil && w.inflight > max {
		select {
		case err := <-w.acks:
			w.inflight--
			w.err = err
		case <-w.ctx.Done():
			w.err = context.Cause(w.ctx)
		case <-w.p.c.done:
			w.err = w.p.c.Err()
		}
	}
	return w.err
}
