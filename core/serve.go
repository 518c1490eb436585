// SPDX-License-Identifier: Apache-2.0

package core

import (
	"errors"

	"gitlab.com/tacet/tacet/codec"
)

// Serve runs one authenticated controller connection until it ends. name
// identifies the peer in records (its address, or "unix:uid").
func (e *Engine) Serve(c FrameConn, name string) error {
	s := newSession(e, c, name)
	if !e.post(func() { e.sessions[s] = struct{}{} }) {
		c.Close()
		return codec.NewError(codec.CodeShuttingDown, "the daemon is stopping")
	}
	wdone := make(chan struct{})
	go func() {
		s.writeLoop()
		close(wdone)
	}()

	err := s.readLoop()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	close(s.done)
	<-wdone
	c.Close()
	e.post(func() { e.sessionEnded(s) })
	return err
}

// readLoop reads frames until the connection fails or the peer leaves.
// A request is handed to the loop, and the next frame is read only once
// the loop is done with it, because the frame's buffer is reused.
func (s *session) readLoop() error {
	handled := make(chan struct{}, 1)
	for {
		frame, err := s.conn.ReadFrame()
		if err != nil {
			var fe *codec.FrameError
			if errors.As(err, &fe) {
				if ge := fe.Goaway(); ge != nil {
					s.goaway(ge)
				}
			}
			return err
		}
		t := now()
		s.heard.Store(t.mono)
		kind, id, body, err := codec.ParseEnvelope(frame)
		if err != nil {
			s.goaway(codec.NewError(codec.CodeProtocol, err.Error()))
			return err
		}
		switch kind {
		case codec.KindRequest:
			if err := s.request(id, body, handled); err != nil {
				return err
			}
		case codec.KindCredit:
			var c codec.Credit
			if err := codec.Unmarshal(body, &c, "credit"); err != nil {
				s.goaway(codec.NewError(codec.CodeProtocol, err.Error()))
				return err
			}
			s.addCredit(id, c.Bytes)
		case codec.KindPing:
			var p codec.Ping
			codec.Unmarshal(body, &p, "ping")
			s.mu.Lock()
			s.pings = append(s.pings, pingReq{id: id, t1: p.T1, t2: t.real, m2: t.mono})
			s.mu.Unlock()
			s.wakeup()
		case codec.KindPong:
			// The answer to a PING of a lease (lease.go): its arrival is
			// all that counts.
		case codec.KindGoaway:
			return nil
		default:
			if kind < codec.KindFirstExtension {
				s.goaway(codec.NewError(codec.CodeProtocol, "unexpected message kind"))
				return errUnexpectedKind
			}
		}
	}
}

// request hands one request to the loop and waits until it is handled.
func (s *session) request(id uint32, body []byte, handled chan struct{}) error {
	method, a, err := codec.ParseRequest(body)
	if err != nil {
		s.fail(id, codec.NewError(codec.CodeProtocol, err.Error()))
		return nil
	}
	if id == 0 {
		s.goaway(codec.NewError(codec.CodeProtocol, "request id 0 is reserved"))
		return errZeroID
	}
	ok := s.e.post(func() {
		s.e.handle(s, id, string(method), a)
		handled <- struct{}{}
	})
	if !ok {
		s.fail(id, codec.NewError(codec.CodeShuttingDown, "the daemon is stopping"))
		return errStopping
	}
	<-handled
	return nil
}

// sessionEnded forgets s in the loop: its subscriptions end, and the
// processes it started with a lease get their lease timer.
func (e *Engine) sessionEnded(s *session) {
	delete(e.sessions, s)
	e.noteFreed()
	e.endSampleSubs(s)
	e.endFiles(s)
	s.mu.Lock()
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	for _, sb := range subs {
		sb.st.removeSub(sb)
	}
	for _, p := range e.procs {
		delete(p.watchers, s)
		p.dropWaiters(s)
		if p.owner == s {
			p.owner = nil
			if p.lease > 0 && (p.state == stateRunning || p.state == stateStaged) {
				e.after(p, p.lease, func() { e.terminate(p, "lease") })
			}
		}
	}
}

func (p *proc) dropWaiters(s *session) {
	out := p.waiters[:0]
	for _, w := range p.waiters {
		if w.s != s {
			out = append(out, w)
		}
	}
	p.waiters = out
}
