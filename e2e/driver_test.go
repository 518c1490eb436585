// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/netstack"
)

// callTimeout bounds every request of the driver that has no bound of its
// own; eventTimeout bounds the wait for one event.
const (
	callTimeout  = 10 * time.Second
	eventTimeout = 10 * time.Second
)

var errGoaway = errors.New("daemon sent GOAWAY")

// client is a raw protocol v1 controller: one goroutine reads frames and
// hands responses to their callers by request id, and events to
// mailboxes, one per subscription (out, gap, eos) and one per process
// (state, exit, failed). Mailboxes are unbounded, so a test that does not
// read some events never stalls the reader.
type client struct {
	t    testing.TB
	conn *netstack.Conn
	raw  net.Conn // the socket under conn, for writing malformed bytes

	wmu sync.Mutex // serializes writes to conn and raw

	mu      sync.Mutex // guards the fields below
	nextID  uint32
	pending map[uint32]chan reply
	boxes   map[boxKey]*mailbox
	goaway  *codec.Goaway
	err     error         // why the reader stopped
	gate    chan struct{} // while not nil, the reader waits for it to close

	done chan struct{} // closed when the reader stops
	seq  uint64        // frames read; used by the reader only
}

type reply struct {
	result []byte
	err    *codec.Error
	seq    uint64 // position of the frame among all frames read
}

// boxKey names a mailbox: a subscription id or a process handle.
type boxKey struct {
	sub uint32
	h   uint64
}

func subBox(sub uint32) boxKey { return boxKey{sub: sub} }
func procBox(h uint64) boxKey  { return boxKey{h: h} }

// event is one decoded event; name says which field is set.
type event struct {
	name   string
	seq    uint64 // position of the frame among all frames read
	sub    uint32 // the envelope id: the subscription of out, gap and eos
	out    *codec.Out
	gap    *codec.Gap
	eos    *codec.EOS
	state  *codec.State
	exit   *codec.Exit
	failed *codec.Failed
	file   *codec.File
	fend   *codec.FileEnd
}

// dial connects to addr with d's key and starts the reader; the
// connection is closed at cleanup.
func dial(t testing.TB, d *daemon, addr string) *client {
	t.Helper()
	c, err := tryDial(d, addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.t = t
	t.Cleanup(c.close)
	return c
}

// tryDial is dial for goroutines: it returns its error and registers no
// cleanup.
func tryDial(d *daemon, addr string) (*client, error) {
	a, err := netstack.ParseAddr(addr, 0)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, err := netstack.DialRaw(ctx, a)
	if err != nil {
		return nil, err
	}
	conn, err := netstack.ClientHandshake(nc, &netstack.ClientConfig{Key: d.key, Who: "e2e"})
	if err != nil {
		return nil, err
	}
	c := &client{t: d.t, conn: conn, raw: nc, pending: map[uint32]chan reply{},
		boxes: map[boxKey]*mailbox{}, done: make(chan struct{})}
	go c.readLoop()
	return c, nil
}

// close hangs up and waits for the reader.
func (c *client) close() {
	c.conn.Close()
	c.resume()
	<-c.done
}

func (c *client) readLoop() {
	defer close(c.done)
	for {
		c.mu.Lock()
		gate := c.gate
		c.mu.Unlock()
		if gate != nil {
			<-gate
		}
		p, err := c.conn.ReadFrame()
		if err == nil {
			err = c.dispatch(p)
		}
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			c.conn.Close()
			return
		}
	}
}

// dispatch routes one frame. The payload is reused by the next read, so
// everything kept is copied.
func (c *client) dispatch(p []byte) error {
	kind, id, body, err := codec.ParseEnvelope(p)
	if err != nil {
		return err
	}
	c.seq++
	switch kind {
	case codec.KindResponse:
		res, rerr, err := codec.ParseResponse(body)
		if err != nil {
			return err
		}
		c.mu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ch == nil {
			return fmt.Errorf("response to id %d, which was not asked", id)
		}
		ch <- reply{bytes.Clone(res), rerr, c.seq}
	case codec.KindEvent:
		ev, key, err := parseEvent(id, body)
		if err != nil {
			return err
		}
		ev.seq = c.seq
		c.box(key).put(ev)
	case codec.KindGoaway:
		var g codec.Goaway
		if err := codec.Unmarshal(body, &g, "goaway"); err != nil {
			return err
		}
		c.mu.Lock()
		c.goaway = &g
		c.mu.Unlock()
		return fmt.Errorf("%w: %v", errGoaway, &g.Err)
	case codec.KindPong:
	case codec.KindPing:
		// The daemon pings an owner of leased processes that is silent;
		// answer as a controller must, from a goroutine, as the reader
		// must not wait for writes.
		var ping codec.Ping
		if err := codec.Unmarshal(body, &ping, "ping"); err != nil {
			return err
		}
		go c.writeMsg(func(b []byte) ([]byte, error) {
			t := realNow()
			pong := codec.Pong{T1: ping.T1, T2: t, T3: t}
			return pong.MarshalMsg(codec.AppendEnvelope(b, codec.KindPong, id))
		})
	default:
		if kind < codec.KindFirstExtension {
			return fmt.Errorf("unexpected frame kind %d", kind)
		}
	}
	return nil
}

// parseEvent decodes an event and says which mailbox it belongs to.
// Unknown event names are dropped, as the protocol asks.
func parseEvent(id uint32, body []byte) (event, boxKey, error) {
	name, err := codec.EventName(body)
	if err != nil {
		return event{}, boxKey{}, err
	}
	ev := event{name: string(name), sub: id}
	var m msgp.Unmarshaler
	var key boxKey
	switch ev.name {
	case codec.EventOut:
		ev.out = new(codec.Out)
		m, key = ev.out, subBox(id)
	case codec.EventGap:
		ev.gap = new(codec.Gap)
		m, key = ev.gap, subBox(id)
	case codec.EventEOS:
		ev.eos = new(codec.EOS)
		m, key = ev.eos, subBox(id)
	case codec.EventState:
		ev.state = new(codec.State)
		m = ev.state
	case codec.EventExit:
		ev.exit = new(codec.Exit)
		m = ev.exit
	case codec.EventFailed:
		ev.failed = new(codec.Failed)
		m = ev.failed
	case codec.EventFile:
		ev.file = new(codec.File)
		m, key = ev.file, subBox(id)
	case codec.EventFileEnd:
		ev.fend = new(codec.FileEnd)
		m, key = ev.fend, subBox(id)
	default:
		return ev, boxKey{sub: ^uint32(0)}, nil
	}
	if err := codec.Unmarshal(body, m, "event "+ev.name); err != nil {
		return ev, key, err
	}
	switch {
	case ev.state != nil:
		key = procBox(ev.state.Handle)
	case ev.exit != nil:
		key = procBox(ev.exit.Handle)
	case ev.failed != nil:
		key = procBox(ev.failed.Handle)
	}
	return ev, key, nil
}

func (c *client) box(k boxKey) *mailbox {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.boxes[k]
	if b == nil {
		b = &mailbox{more: make(chan struct{}, 1)}
		c.boxes[k] = b
	}
	return b
}

// pause makes the reader stop reading the socket after the frame it is
// reading, so that the daemon's writes back up; resume undoes it.
func (c *client) pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gate == nil {
		c.gate = make(chan struct{})
	}
}

func (c *client) resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gate != nil {
		close(c.gate)
		c.gate = nil
	}
}

// stopped returns why the reader stopped, or nil while it runs.
func (c *client) stopped() error {
	select {
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err
	default:
		return nil
	}
}

// pendingCall is a request sent whose response has not been read.
type pendingCall struct {
	c      *client
	method string
	ch     chan reply
}

// send writes a request and returns at once.
func (c *client) send(method string, args msgp.Marshaler) (*pendingCall, error) {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan reply, 1)
	c.pending[id] = ch
	c.mu.Unlock()

	err := c.writeMsg(func(b []byte) ([]byte, error) { return codec.AppendRequest(b, id, method, args) })
	if err != nil {
		return nil, fmt.Errorf("send %s: %w", method, err)
	}
	return &pendingCall{c: c, method: method, ch: ch}, nil
}

// writeMsg builds one frame with build and writes it. The frame buffer
// belongs to the connection's writer, so building happens under wmu.
func (c *client) writeMsg(build func(b []byte) ([]byte, error)) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b, err := build(c.conn.Begin())
	if err != nil {
		return err
	}
	return c.conn.End(b)
}

// writeRaw writes bytes to the socket as they are, bypassing framing.
func (c *client) writeRaw(p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.raw.Write(p)
	return err
}

// wait returns the response, or an error when the connection ends or
// timeout passes first.
func (pc *pendingCall) wait(timeout time.Duration) ([]byte, *codec.Error, error) {
	r, err := pc.reply(timeout)
	return r.result, r.err, err
}

// reply is wait with the whole reply.
func (pc *pendingCall) reply(timeout time.Duration) (reply, error) {
	select {
	case r := <-pc.ch:
		return r, nil
	case <-pc.c.done:
		select {
		case r := <-pc.ch:
			return r, nil
		default:
		}
		return reply{}, fmt.Errorf("%s: connection ended: %v", pc.method, pc.c.stopped())
	case <-time.After(timeout):
		return reply{}, fmt.Errorf("%s: no response within %v", pc.method, timeout)
	}
}

// roundTrip sends a request and decodes its result into result, if not
// nil. It neither fails nor logs, so goroutines may use it.
func (c *client) roundTrip(method string, args msgp.Marshaler, result msgp.Unmarshaler, timeout time.Duration) (*codec.Error, error) {
	pc, err := c.send(method, args)
	if err != nil {
		return nil, err
	}
	res, cerr, err := pc.wait(timeout)
	if err != nil || cerr != nil {
		return cerr, err
	}
	if result != nil {
		if err := codec.Unmarshal(res, result, method+" result"); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// call is roundTrip that fails the test when the connection or the
// decoding fails; the protocol error, if any, is returned.
func (c *client) call(method string, args msgp.Marshaler, result msgp.Unmarshaler) *codec.Error {
	c.t.Helper()
	cerr, err := c.roundTrip(method, args, result, callTimeout)
	if err != nil {
		c.t.Fatal(err)
	}
	return cerr
}

// mustCall is call that also fails on a protocol error.
func (c *client) mustCall(method string, args msgp.Marshaler, result msgp.Unmarshaler) {
	c.t.Helper()
	if cerr := c.call(method, args, result); cerr != nil {
		c.t.Fatalf("%s: %v", method, cerr)
	}
}

// credit grants n more bytes to subscription sub.
func (c *client) credit(sub uint32, n uint64) error {
	return c.writeMsg(func(b []byte) ([]byte, error) {
		return (&codec.Credit{Bytes: n}).MarshalMsg(codec.AppendEnvelope(b, codec.KindCredit, sub))
	})
}

// next returns the next event of mailbox k, waiting at most timeout.
func (c *client) next(k boxKey, timeout time.Duration) (event, error) {
	return c.box(k).get(timeout, c.done)
}

// mailbox is an unbounded queue of events with a wake-up channel.
type mailbox struct {
	mu    sync.Mutex
	items []event
	more  chan struct{} // capacity 1
}

func (m *mailbox) put(ev event) {
	m.mu.Lock()
	m.items = append(m.items, ev)
	m.mu.Unlock()
	select {
	case m.more <- struct{}{}:
	default:
	}
}

// get pops the oldest event. Events already queued are returned even
// after done is closed.
func (m *mailbox) get(timeout time.Duration, done <-chan struct{}) (event, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		if len(m.items) > 0 {
			ev := m.items[0]
			m.items[0] = event{}
			m.items = m.items[1:]
			m.mu.Unlock()
			return ev, nil
		}
		m.mu.Unlock()
		select {
		case <-m.more:
		case <-done:
			done = nil // drain what is left once more, then give up
			m.mu.Lock()
			empty := len(m.items) == 0
			m.mu.Unlock()
			if empty {
				return event{}, errors.New("connection ended")
			}
		case <-deadline.C:
			return event{}, fmt.Errorf("no event within %v", timeout)
		}
	}
}
