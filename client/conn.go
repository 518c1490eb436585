// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tinylib/msgp/msgp"

	"gitlab.com/tacet/tacet/codec"
)

// frameConn is what a Client needs of a netstack.Conn.
type frameConn interface {
	ReadFrame() ([]byte, error)
	Begin() []byte
	End(frame []byte) error
	Close() error
	MaxPayload() int
	Welcome() *codec.Welcome
}

// eventBuffer is how many events Events holds for a caller that does not
// read them; beyond it the oldest is dropped.
const eventBuffer = 256

// Client is one connection to a daemon. Its methods may be called from
// any number of goroutines.
type Client struct {
	conn   frameConn
	addr   string
	window uint64

	wmu sync.Mutex // serialises writes on conn; mu may be taken under it, never the reverse

	mu          sync.Mutex // guards the fields below
	nextID      uint32
	calls       map[uint32]*call
	pings       map[uint32]chan pong
	subs        map[uint32]*Stream
	samples     map[uint32]*Samples // sample subscriptions (sample.go)
	procs       map[uint64]*Process
	pendingSubs int                   // out.subscribe calls not answered yet
	orphans     map[uint32][]subEvent // events of subscriptions not answered yet
	orphanBytes uint64
	err         error // why the connection ended; nil while it works

	events  chan Event
	dropped atomic.Uint64
	done    chan struct{}  // closed when the reader has stopped
	bg      sync.WaitGroup // unsubscribes of abandoned Streams
	rd      reader         // decoders owned by the reader goroutine
	files   fileRecvs      // file.get transfers (file.go)
}

// call is one request waiting for its response. The reader fills err and
// decodes into result, runs after, then closes done.
type call struct {
	method string
	result msgp.Unmarshaler
	after  func(err error) // run by the reader before done is closed
	err    error
	done   chan struct{}
}

func newClient(conn frameConn, addr string, window int) *Client {
	c := &Client{
		conn:    conn,
		addr:    addr,
		window:  uint64(window),
		calls:   make(map[uint32]*call),
		pings:   make(map[uint32]chan pong),
		subs:    make(map[uint32]*Stream),
		samples: make(map[uint32]*Samples),
		procs:   make(map[uint64]*Process),
		orphans: make(map[uint32][]subEvent),
		events:  make(chan Event, eventBuffer),
		done:    make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// Addr returns the daemon's address as errors name it: host:port, or the
// socket path.
func (c *Client) Addr() string { return c.addr }

// Welcome returns what the daemon said in the handshake: its host name,
// version, instance and clocks. The caller must not modify it.
func (c *Client) Welcome() *codec.Welcome { return c.conn.Welcome() }

// Done returns a channel that is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, a *ConnError, or nil while it
// works.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection. Calls in progress and Streams fail with a
// ConnError whose cause is ErrClosed. Processes go on in the daemon,
// except those started with a lease. Close may be called more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.err == nil {
		c.err = &ConnError{Addr: c.addr, Err: ErrClosed}
	}
	c.mu.Unlock()
	c.conn.Close()
	<-c.done
	c.bg.Wait()
	return nil
}

// Call sends a request for method with args and decodes the result into
// result, which may be nil to ignore it. An error from the daemon is an
// *Error. When ctx is done first, Call returns its error at once; the
// daemon still carries out the request.
func (c *Client) Call(ctx context.Context, method string, args msgp.Marshaler, result msgp.Unmarshaler) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cl, err := c.begin(method, args, result, nil)
	if err != nil {
		return err
	}
	return c.await(ctx, cl)
}

// begin registers a call and sends its request.
func (c *Client) begin(method string, args msgp.Marshaler, result msgp.Unmarshaler, after func(error)) (*call, error) {
	cl := &call{method: method, result: result, after: after, done: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	id := c.newIDLocked(func(id uint32) bool { return c.calls[id] != nil })
	c.calls[id] = cl
	c.mu.Unlock()

	err := c.send(func(b []byte) ([]byte, error) { return codec.AppendRequest(b, id, method, args) })
	if err != nil {
		c.mu.Lock()
		delete(c.calls, id)
		c.mu.Unlock()
		return nil, err
	}
	return cl, nil
}

// newIDLocked returns a request id that is neither 0 nor in use.
func (c *Client) newIDLocked(used func(uint32) bool) uint32 {
	for {
		c.nextID++
		if c.nextID != 0 && !used(c.nextID) {
			return c.nextID
		}
	}
}

// await waits for cl's response or for ctx. A call with an after func is
// left for the reader to finish, since after must run; any other is
// forgotten, unless the reader has taken it already, in which case await
// waits the short time until the reader is done with cl.result.
func (c *Client) await(ctx context.Context, cl *call) error {
	select {
	case <-cl.done:
		return cl.err
	case <-ctx.Done():
	}
	if cl.after == nil && !c.abandon(cl) {
		<-cl.done
	}
	return context.Cause(ctx)
}

// abandon forgets cl and reports whether it was still waiting.
func (c *Client) abandon(cl *call) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, x := range c.calls {
		if x == cl {
			delete(c.calls, id)
			return true
		}
	}
	return false
}

// send builds one frame with build and writes it. A write error ends the
// connection, since a frame may have been cut.
func (c *Client) send(build func(b []byte) ([]byte, error)) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b, err := build(c.conn.Begin())
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", c.addr, err)
	}
	if n := len(b) - 4; n > c.conn.MaxPayload() {
		return fmt.Errorf("%s: request of %d bytes exceeds the daemon's frame limit of %d",
			c.addr, n, c.conn.MaxPayload())
	}
	if err := c.conn.End(b); err != nil {
		c.conn.Close()
		return c.lost(err)
	}
	return nil
}

// lost returns the error of the ended connection: the first cause
// recorded, so that a write error does not hide a GOAWAY.
func (c *Client) lost(cause error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = &ConnError{Addr: c.addr, Err: cause}
	}
	return c.err
}

// sendCredit grants n more bytes to subscription sub.
func (c *Client) sendCredit(sub uint32, n uint64) {
	cr := codec.Credit{Bytes: n}
	c.send(func(b []byte) ([]byte, error) {
		return cr.MarshalMsg(codec.AppendEnvelope(b, codec.KindCredit, sub))
	})
}

// goBackground runs fn in a goroutine that Close waits for, unless the
// connection has ended already.
func (c *Client) goBackground(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		fn()
	}()
}

var errGoaway = errors.New("daemon sent GOAWAY")
