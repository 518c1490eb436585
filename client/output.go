// SPDX-License-Identifier: Apache-2.0

package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"gitlab.com/tacet/tacet/codec"
)

// maxChunk is the most bytes the daemon may send past the credit: one
// out event of at most 64 KiB (spec/PROTOCOL.md, "Output").
const maxChunk = 64 << 10

// ErrStreamClosed is returned by Read after Close.
var ErrStreamClosed = errors.New("client: stream closed")

// Stream is the output of one stream of a process, from an offset on, as
// an io.Reader: the bytes in order, a *GapError where bytes were lost,
// io.EOF after the last byte. It grants the daemon credit as the bytes
// are read, so it never holds more than the Client's window.
type Stream struct {
	c      *Client
	handle uint64
	stream uint8
	ctx    context.Context
	stop   func() bool   // stops the wake-up on ctx
	wake   chan struct{} // capacity 1: something changed

	mu        sync.Mutex // guards the fields below
	sub       uint32     // subscription id, once the response is read
	items     []item     // received and not read yet, in offset order
	held      uint64     // bytes of data in items
	next      uint64     // offset of the next byte Read returns
	recv      uint64     // offset after everything received
	unacked   uint64     // bytes read since the last credit grant
	end       error      // io.EOF after eos, or why the stream failed; after items
	abandoned bool       // Output returned before the subscription was known
	closed    bool
}

// item is a run of bytes or a gap.
type item struct {
	data []byte
	buf  *[]byte // the pooled buffer data lies in, if any
	gap  *GapError
}

// chunkPool holds the buffers out events are copied into. The reader
// copies every event out of its frame buffer, which the next frame
// overwrites; taking the copy from a pool and returning it once Read has
// consumed it saves an allocation of up to 64 KiB per event, and the page
// faults and collections that would follow at full output speed.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, maxChunk); return &b }}

// copyChunk copies p into a pooled buffer, or a fresh slice when p is
// larger than an out event may be.
func copyChunk(p []byte) ([]byte, *[]byte) {
	if len(p) > maxChunk {
		return bytes.Clone(p), nil
	}
	b := chunkPool.Get().(*[]byte)
	*b = append((*b)[:0], p...)
	return *b, b
}

// putChunk returns a buffer copyChunk gave out.
func putChunk(b *[]byte) {
	if b != nil {
		chunkPool.Put(b)
	}
}

// subEvent is an out, gap or eos event as the reader hands it over.
type subEvent struct {
	kind int
	off  uint64 // out: offset of data; gap: from; eos: length
	to   uint64
	why  string
	data []byte  // a copy, owned by the receiver
	buf  *[]byte // the pooled buffer behind data, for putChunk
}

const (
	evOut = iota + 1
	evGap
	evEOS
)

// Output subscribes to stream (codec.Stdout, codec.Stderr or codec.PTY)
// of the process from offset from, which may be earlier than what the
// daemon still holds: the loss is then the first GapError. ctx bounds the
// whole life of the Stream; Close it when done.
func (p *Process) Output(ctx context.Context, stream uint8, from uint64) (*Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := p.c
	s := &Stream{c: c, handle: p.Handle, stream: stream, ctx: ctx, wake: make(chan struct{}, 1),
		next: from, recv: from}
	r := new(codec.SubscribeResult)
	a := codec.SubscribeArgs{Handle: p.Handle, Stream: stream, From: from, Credit: c.window}

	c.mu.Lock()
	c.pendingSubs++
	c.mu.Unlock()
	cl, err := c.begin(codec.MethodSubscribe, &a, r, func(err error) { c.subscribed(s, r, err) })
	if err != nil {
		c.mu.Lock()
		c.pendingSubs--
		c.mu.Unlock()
		return nil, err
	}
	if err := c.await(ctx, cl); err != nil {
		s.mu.Lock()
		s.abandoned = true
		known := s.sub != 0
		s.mu.Unlock()
		if known {
			s.Close()
		}
		return nil, err
	}
	s.stop = context.AfterFunc(ctx, s.wakeup)
	return s, nil
}

// subscribed runs in the reader when the subscribe response is read: it
// registers s and hands it the events that came before the response.
// Lock order: c.mu, then s.mu.
func (c *Client) subscribed(s *Stream, r *codec.SubscribeResult, err error) {
	c.mu.Lock()
	c.pendingSubs--
	early := c.orphans[r.Sub]
	delete(c.orphans, r.Sub)
	for _, ev := range early {
		c.orphanBytes -= uint64(len(ev.data))
	}
	if c.pendingSubs == 0 {
		clear(c.orphans)
		c.orphanBytes = 0
	}
	if err != nil {
		c.mu.Unlock()
		return
	}
	s.mu.Lock()
	s.sub = r.Sub
	abandoned := s.abandoned
	if r.Start > s.recv {
		s.items = append(s.items, item{gap: &GapError{From: s.recv, To: r.Start, Why: "lost"}})
		s.recv = r.Start
	}
	s.mu.Unlock()
	if !abandoned && c.err == nil {
		c.subs[r.Sub] = s
	}
	c.mu.Unlock()

	if abandoned {
		c.goBackground(func() { c.unsubscribe(r.Sub) })
		return
	}
	for _, ev := range early {
		s.deliver(ev)
	}
}

// unsubscribe ends subscription sub without waiting for the answer.
func (c *Client) unsubscribe(sub uint32) {
	c.mu.Lock()
	delete(c.subs, sub)
	c.mu.Unlock()
	c.begin(codec.MethodUnsubscribe, &codec.UnsubscribeArgs{Sub: sub}, nil, nil)
}

// deliver adds one event, in the reader. It never blocks: the daemon
// sends no more than the credit, and one that does fails the Stream.
func (s *Stream) deliver(ev subEvent) {
	s.mu.Lock()
	defer s.wakeup()
	defer s.mu.Unlock()
	if s.end != nil {
		putChunk(ev.buf)
		return
	}
	switch ev.kind {
	case evOut:
		end := ev.off + uint64(len(ev.data))
		if end <= s.recv {
			putChunk(ev.buf)
			return // already received
		}
		if ev.off > s.recv {
			s.items = append(s.items, item{gap: &GapError{From: s.recv, To: ev.off, Why: "unannounced"}})
		} else {
			ev.data = ev.data[s.recv-ev.off:]
		}
		s.items = append(s.items, item{data: ev.data, buf: ev.buf})
		s.held += uint64(len(ev.data))
		s.recv = end
		if s.held > s.c.window+maxChunk {
			s.end = fmt.Errorf("%s: daemon sent %d bytes of output beyond the credit of %d", s.c.addr, s.held, s.c.window)
		}
	case evGap:
		if ev.to <= s.recv {
			return
		}
		s.items = append(s.items, item{gap: &GapError{From: max(ev.off, s.recv), To: ev.to, Why: ev.why}})
		s.recv = ev.to
	case evEOS:
		s.end = io.EOF
	}
}

// fail ends the Stream with err once its items are read.
func (s *Stream) fail(err error) {
	s.mu.Lock()
	if s.end == nil {
		s.end = err
	}
	s.mu.Unlock()
	s.wakeup()
}

func (s *Stream) wakeup() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Read reads the next bytes of the stream. At a gap it returns 0 and a
// *GapError, once; after the last byte it returns io.EOF. When the
// connection ended it returns the Client's *ConnError after the bytes
// received before; when the Stream's context is done, its error.
func (s *Stream) Read(p []byte) (int, error) {
	for {
		s.mu.Lock()
		if len(s.items) > 0 {
			n, err := s.takeLocked(p)
			sub, grant := s.sub, s.grantLocked()
			s.mu.Unlock()
			if grant > 0 {
				s.c.sendCredit(sub, grant)
			}
			return n, err
		}
		end := s.end
		s.mu.Unlock()
		if end != nil {
			return 0, end
		}

		select {
		case <-s.wake:
		case <-s.ctx.Done():
			return 0, context.Cause(s.ctx)
		}
	}
}

// takeLocked reads from the first item.
func (s *Stream) takeLocked(p []byte) (int, error) {
	it := &s.items[0]
	if it.gap != nil {
		g := it.gap
		s.items = s.items[1:]
		s.next = g.To
		return 0, g
	}
	n := copy(p, it.data)
	it.data = it.data[n:]
	if len(it.data) == 0 {
		putChunk(it.buf)
		s.items[0] = item{}
		s.items = s.items[1:]
	}
	s.next += uint64(n)
	s.held -= uint64(n)
	s.unacked += uint64(n)
	return n, nil
}

// grantLocked returns the credit to give back: what was read, once it is
// half the window, so that the daemon is never idle for want of credit
// while a reader keeps up.
func (s *Stream) grantLocked() uint64 {
	if s.sub == 0 || s.end != nil || s.unacked < s.c.window/2 {
		return 0
	}
	n := s.unacked
	s.unacked = 0
	return n
}

// Offset returns the offset of the next byte Read will return.
func (s *Stream) Offset() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// Close ends the subscription and drops what was not read. The daemon
// keeps the output; another Stream may read it again.
func (s *Stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.end, s.items, s.held = ErrStreamClosed, nil, 0
	sub := s.sub
	s.mu.Unlock()

	if s.stop != nil {
		s.stop()
	}
	// The daemon keeps a subscription after its eos until told.
	if sub != 0 {
		s.c.unsubscribe(sub)
	}
	s.wakeup()
	return nil
}

// Read reads retained output of stream without subscribing: at most max
// bytes (capped by the daemon at 256 KiB) from offset off. When the bytes
// at off are lost, the result has no data and GapTo says where readable
// bytes resume.
func (p *Process) Read(ctx context.Context, stream uint8, off uint64, max uint32) (*codec.ReadResult, error) {
	r := new(codec.ReadResult)
	a := codec.ReadArgs{Handle: p.Handle, Stream: stream, Offset: off, Max: max}
	if err := p.c.Call(ctx, codec.MethodRead, &a, r); err != nil {
		return nil, err
	}
	return r, nil
}
