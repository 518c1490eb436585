// SPDX-License-Identifier: Apache-2.0

package client

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
)

// reader holds the decoders of the reader goroutine, reused for every
// frame of output so that reading it allocates only the copy of its data.
type reader struct {
	out codec.Out
	gap codec.Gap
	eos codec.EOS
}

// readLoop reads frames and hands each to its owner until the connection
// ends, then fails everything still waiting.
func (c *Client) readLoop() {
	var err error
	for {
		var p []byte
		if p, err = c.conn.ReadFrame(); err != nil {
			break
		}
		if err = c.dispatch(p); err != nil {
			break
		}
	}
	c.conn.Close()
	c.end(err)
}

// dispatch handles one frame. A malformed message is skipped, as the
// protocol allows; an error returned ends the connection.
func (c *Client) dispatch(p []byte) error {
	kind, id, body, err := codec.ParseEnvelope(p)
	if err != nil {
		return nil
	}
	switch kind {
	case codec.KindResponse:
		c.onResponse(id, body)
	case codec.KindEvent:
		return c.onEvent(id, body)
	case codec.KindPong:
		c.onPong(id, body)
	case codec.KindPing:
		c.onPing(id, body)
	case codec.KindGoaway:
		c.onGoaway(body)
		return errGoaway
	default:
		if kind < codec.KindFirstExtension {
			return fmt.Errorf("daemon sent unexpected message kind %d", kind)
		}
	}
	return nil
}

func (c *Client) onResponse(id uint32, body []byte) {
	c.mu.Lock()
	cl := c.calls[id]
	delete(c.calls, id)
	c.mu.Unlock()
	if cl == nil {
		return // abandoned
	}

	result, rerr, err := codec.ParseResponse(body)
	switch {
	case err != nil:
		cl.err = fmt.Errorf("%s: %s: %w", c.addr, cl.method, err)
	case rerr != nil:
		cl.err = newError(c.addr, rerr)
	case cl.result != nil:
		if err := codec.Unmarshal(result, cl.result, cl.method+" result"); err != nil {
			cl.err = fmt.Errorf("%s: %w", c.addr, err)
		}
	}
	c.finish(cl)
}

// finish runs cl's after func and wakes its caller.
func (c *Client) finish(cl *call) {
	if cl.after != nil {
		cl.after(cl.err)
	}
	close(cl.done)
}

// onEvent routes output events by subscription id and process events by
// handle. Unknown event names are ignored, as the protocol requires.
func (c *Client) onEvent(id uint32, body []byte) error {
	name, err := codec.EventName(body)
	if err != nil {
		return nil
	}
	if id != 0 {
		return c.onSubEvent(id, string(name), body)
	}
	var ev Event
	switch string(name) {
	case codec.EventState:
		ev.State = new(codec.State)
		err = codec.Unmarshal(body, ev.State, "state event")
		ev.Handle = ev.State.Handle
	case codec.EventExit:
		ev.Exit = new(codec.Exit)
		err = codec.Unmarshal(body, ev.Exit, "exit event")
		ev.Handle = ev.Exit.Handle
	case codec.EventFailed:
		ev.Failed = new(codec.Failed)
		err = codec.Unmarshal(body, ev.Failed, "failed event")
		ev.Handle = ev.Failed.Handle
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	ev.Kind = string(name)

	c.mu.Lock()
	p := c.procs[ev.Handle]
	c.mu.Unlock()
	if p != nil {
		p.onEvent(&ev)
	}
	c.pushEvent(ev)
	return nil
}

// onSubEvent decodes an out, gap or eos event and hands it to its
// Stream, or keeps it until the Stream's subscribe response is read: the
// daemon may send a subscription's first output before that response.
func (c *Client) onSubEvent(sub uint32, name string, body []byte) error {
	switch name {
	case codec.EventFile, codec.EventFileEnd:
		return c.onFileEvent(sub, name, body)
	case codec.EventSample:
		c.onSampleEvent(sub, body)
		return nil
	}
	var ev subEvent
	var err error
	switch name {
	case codec.EventOut:
		if err = codec.Decode(body, &c.rd.out, "out event"); err == nil {
			ev = subEvent{kind: evOut, off: c.rd.out.Offset}
			ev.data, ev.buf = copyChunk(c.rd.out.Data)
		}
	case codec.EventGap:
		if err = codec.Decode(body, &c.rd.gap, "gap event"); err == nil {
			g := c.rd.gap
			ev = subEvent{kind: evGap, off: g.From, to: g.To, why: g.Why}
		}
	case codec.EventEOS:
		if err = codec.Decode(body, &c.rd.eos, "eos event"); err == nil {
			ev = subEvent{kind: evEOS, off: c.rd.eos.Length}
		}
	default:
		return nil
	}
	if err != nil {
		return nil
	}

	c.mu.Lock()
	s := c.subs[sub]
	switch {
	case s == nil:
		err = c.keepOrphanLocked(sub, ev)
	case ev.kind == evEOS:
		delete(c.subs, sub)
	}
	c.mu.Unlock()
	if s != nil {
		s.deliver(ev)
	}
	return err
}

// keepOrphanLocked keeps ev for a subscription whose id is not known
// yet. What it keeps is bounded by the credit of the subscriptions in
// flight: a daemon that sends more breaks the protocol.
func (c *Client) keepOrphanLocked(sub uint32, ev subEvent) error {
	if c.pendingSubs == 0 {
		return nil // a subscription just ended; its last events are moot
	}
	c.orphanBytes += uint64(len(ev.data))
	if c.orphanBytes > uint64(c.pendingSubs)*(c.window+maxChunk) {
		return fmt.Errorf("daemon sent %d bytes of output to unknown subscriptions, beyond the credit granted",
			c.orphanBytes)
	}
	c.orphans[sub] = append(c.orphans[sub], ev)
	return nil
}

// pushEvent queues ev for Events without ever blocking: when the buffer
// is full the oldest event is dropped and counted.
func (c *Client) pushEvent(ev Event) {
	for {
		select {
		case c.events <- ev:
			return
		default:
		}
		select {
		case <-c.events:
			c.dropped.Add(1)
		default:
		}
	}
}

func (c *Client) onPong(id uint32, body []byte) {
	at := time.Now()
	var p codec.Pong
	if codec.Unmarshal(body, &p, "pong") != nil {
		return
	}
	c.mu.Lock()
	ch := c.pings[id]
	delete(c.pings, id)
	c.mu.Unlock()
	if ch != nil {
		ch <- pong{Pong: p, at: at}
	}
}

// onPing answers a PING of the daemon, which sends them to tell a live
// controller from a silent network while it holds processes with a lease.
// The PONG is written from a goroutine of its own, so that the reader
// never waits for a writer.
func (c *Client) onPing(id uint32, body []byte) {
	t2 := stampNow()
	var p codec.Ping
	if codec.Unmarshal(body, &p, "ping") != nil {
		return
	}
	c.goBackground(func() {
		t3 := stampNow()
		pong := codec.Pong{T1: p.T1, T2: t2.real, M2: t2.mono, T3: t3.real, M3: t3.mono}
		c.send(func(b []byte) ([]byte, error) {
			return pong.MarshalMsg(codec.AppendEnvelope(b, codec.KindPong, id))
		})
	})
}

// stamp is one instant on both of this machine's clocks, in ns, as a PONG
// carries them.
type stamp struct{ real, mono uint64 }

func stampNow() stamp {
	var r, m unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &r)
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &m)
	return stamp{uint64(r.Nano()), uint64(m.Nano())}
}

// onGoaway records the daemon's reason for closing, which every call
// still waiting then fails with.
func (c *Client) onGoaway(body []byte) {
	var g codec.Goaway
	cause := error(errGoaway)
	if codec.Unmarshal(body, &g, "goaway") == nil {
		cause = newError("", &g.Err)
	}
	c.lost(cause)
}

// end fails every call, ping and Stream still waiting with the error of
// the connection, and closes Events.
func (c *Client) end(cause error) {
	err := c.lost(cause)
	c.mu.Lock()
	calls, pings, subs := c.calls, c.pings, c.subs
	c.calls, c.pings, c.subs = map[uint32]*call{}, map[uint32]chan pong{}, map[uint32]*Stream{}
	c.orphans, c.orphanBytes = nil, 0
	c.endSamplesLocked()
	c.mu.Unlock()

	for _, cl := range calls {
		cl.err = err
		c.finish(cl)
	}
	for _, ch := range pings {
		close(ch)
	}
	for _, s := range subs {
		s.fail(err)
	}
	close(c.events)
	close(c.done)
}
