// SPDX-License-Identifier: Apache-2.0

package core

import (
	"slices"

	"gitlab.com/tacet/tacet/codec"
)

// writer is the state of a session's writer goroutine; it is reused for
// every frame so that sending output allocates nothing.
type writer struct {
	s     *session
	spare []byte
	pings []pingReq
	subs  []*sub
	next  int // round-robin position in subs
	chunk []byte
	out   codec.Out
	gap   codec.Gap
	eos   codec.EOS
	pong  codec.Pong
}

// writeLoop sends control frames first, then one chunk per subscription
// in turn, until the session ends. It sleeps on s.wake when there is
// nothing to send.
func (s *session) writeLoop() {
	w := &writer{s: s, chunk: make([]byte, maxChunk)}
	w.out.K, w.gap.K, w.eos.K = codec.EventOut, codec.EventGap, codec.EventEOS
	for {
		s.setWriting(false)
		select {
		case <-s.wake:
		case <-s.done:
			w.flushControl()
			return
		}
		s.setWriting(true)
		for {
			if err := w.flushControl(); err != nil {
				s.conn.Close()
				return
			}
			sent, err := w.sendBulk()
			if err != nil {
				s.conn.Close()
				return
			}
			if !sent {
				break
			}
		}
	}
}

func (s *session) setWriting(on bool) {
	s.mu.Lock()
	s.writing = on
	s.mu.Unlock()
}

// flushControl writes every queued control frame and pong.
func (w *writer) flushControl() error {
	s := w.s
	s.mu.Lock()
	ctl := s.ctl
	s.ctl = w.spare[:0]
	w.pings = append(w.pings[:0], s.pings...)
	s.pings = s.pings[:0]
	over := s.over
	s.mu.Unlock()
	w.spare = ctl

	if over {
		return errBacklog
	}
	// The queue is already in wire form, a length before each payload, so
	// a response and the events it caused go out in one write.
	if len(ctl) > 0 {
		if err := s.conn.WriteFrames(ctl); err != nil {
			return err
		}
	}
	for _, p := range w.pings {
		if err := w.writePong(p); err != nil {
			return err
		}
	}
	return nil
}

// writePong stamps T3 as late as it can, just before the write.
func (w *writer) writePong(p pingReq) error {
	t := now()
	w.pong = codec.Pong{T1: p.t1, T2: p.t2, T3: t.real, M2: p.m2, M3: t.mono}
	b, _ := w.pong.MarshalMsg(codec.AppendEnvelope(w.s.conn.Begin(), codec.KindPong, p.id))
	return w.s.conn.End(b)
}

// sendBulk sends at most one frame for each subscription that has
// something to send, and reports whether it sent anything.
func (w *writer) sendBulk() (bool, error) {
	s := w.s
	s.mu.Lock()
	w.subs = append(w.subs[:0], s.subs...)
	s.mu.Unlock()

	sent, err := w.sendSamples()
	if err != nil {
		return sent, err
	}
	files, err := w.sendFiles()
	if sent = sent || files; err != nil {
		return sent, err
	}
	for i := range w.subs {
		sb := w.subs[(w.next+i)%len(w.subs)]
		ok, err := w.sendOne(sb)
		if err != nil {
			return sent, err
		}
		sent = sent || ok
	}
	w.next++
	clear(w.subs)
	return sent, nil
}

// sendOne sends the next chunk, gap or end of stream of sb.
func (w *writer) sendOne(sb *sub) (bool, error) {
	s := w.s
	s.mu.Lock()
	off, credit, eos := sb.off, sb.credit, sb.eos
	s.mu.Unlock()
	if eos {
		return false, nil
	}

	max := min(uint64(maxChunk), credit)
	var frame []byte
	n, gap, _ := sb.st.readInto(off, int(max), func(n int, mono uint64) []byte {
		frame = w.outHeader(sb, off, n, mono)
		return frame[len(frame):cap(frame)]
	})
	switch {
	case n > 0:
		return true, w.sendOut(sb, frame, n)
	case gap.to > gap.from:
		return true, w.sendGap(sb, gap)
	}
	length, ended := sb.st.Len()
	if ended && off >= length {
		return true, w.sendEOS(sb, length)
	}
	return false, nil
}

// outHeader encodes an out event for n bytes at off into the connection's
// frame buffer, up to and including the header of its data, and returns
// it with room for the n bytes after it.
func (w *writer) outHeader(sb *sub, off uint64, n int, mono uint64) []byte {
	w.out.Handle, w.out.Stream, w.out.Offset, w.out.Mono = sb.st.handle, sb.st.id, off, mono
	b := codec.AppendOutHeader(codec.AppendEnvelope(w.s.conn.Begin(), codec.KindEvent, sb.id), &w.out, n)
	return slices.Grow(b, n)
}

// sendOut writes the frame outHeader began, now holding n bytes of data.
func (w *writer) sendOut(sb *sub, frame []byte, n int) error {
	w.s.mu.Lock()
	sb.off += uint64(n)
	sb.credit -= uint64(n)
	w.s.mu.Unlock()
	return w.s.conn.End(frame[:len(frame)+n])
}

func (w *writer) sendGap(sb *sub, g span) error {
	w.gap.Handle, w.gap.Stream, w.gap.From, w.gap.To, w.gap.Why = sb.st.handle, sb.st.id, g.from, g.to, g.why
	b, _ := codec.AppendEvent(w.s.conn.Begin(), sb.id, &w.gap)
	w.s.mu.Lock()
	sb.off = g.to
	w.s.mu.Unlock()
	return w.s.conn.End(b)
}

func (w *writer) sendEOS(sb *sub, length uint64) error {
	w.eos.Handle, w.eos.Stream, w.eos.Length = sb.st.handle, sb.st.id, length
	b, _ := codec.AppendEvent(w.s.conn.Begin(), sb.id, &w.eos)
	w.s.mu.Lock()
	sb.eos = true
	w.s.mu.Unlock()
	return w.s.conn.End(b)
}
