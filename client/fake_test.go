// SPDX-License-Identifier: Apache-2.0

package client

import (
	"bytes"
	"context"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/netstack"
)

// fakeDaemon is the daemon's end of a socketpair: it runs the real
// handshake, then hands every request and credit to the test, which
// answers with whatever frames it wants, in whatever order.
type fakeDaemon struct {
	t       *testing.T
	conn    *netstack.Conn
	wmu     sync.Mutex
	reqs    chan fakeReq
	credits chan fakeCredit
	pongs   chan fakePong
	done    chan struct{} // closed when the fake's reader stops
	pongOff time.Duration // added to the clocks of every pong
}

type fakeReq struct {
	id     uint32
	method string
	args   []byte
}

type fakePong struct {
	id   uint32
	pong codec.Pong
}

type fakeCredit struct {
	sub   uint32
	bytes uint64
}

var testKey = func() *netstack.Key {
	k, err := netstack.GenerateKey()
	if err != nil {
		panic(err)
	}
	return k
}()

// newPair returns a Client connected to a fake daemon. Both are closed
// when the test ends.
func newPair(t *testing.T, opts ...Option) (*Client, *fakeDaemon) {
	t.Helper()
	d := &fakeDaemon{t: t, reqs: make(chan fakeReq, 64), credits: make(chan fakeCredit, 1024),
		pongs: make(chan fakePong, 16), done: make(chan struct{})}
	cnc, dnc := socketPair(t)
	hs := make(chan error, 1)
	go func() {
		var err error
		d.conn, err = netstack.ServerHandshake(dnc, &netstack.ServerConfig{Key: testKey})
		hs <- err
	}()

	opts = append([]Option{WithKey(testKey), withConn(cnc)}, opts...)
	c, err := Dial(context.Background(), "fake:1", opts...)
	if herr := <-hs; herr != nil {
		t.Fatalf("daemon handshake: %v", herr)
	}
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	go d.readLoop()
	t.Cleanup(func() {
		c.Close()
		d.conn.Close()
		<-d.done
	})
	return c, d
}

// socketPair returns two connected Unix sockets. net.Pipe would not do:
// it has no buffer, and both sides write their preface before reading.
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ncs [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		ncs[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return ncs[0], ncs[1]
}

// withConn makes Dial run the handshake on nc.
func withConn(nc net.Conn) Option {
	return func(c *config) {
		c.dialConn = func(context.Context) (net.Conn, error) { return nc, nil }
	}
}

func (d *fakeDaemon) readLoop() {
	defer close(d.done)
	for {
		p, err := d.conn.ReadFrame()
		if err != nil {
			return
		}
		kind, id, body, err := codec.ParseEnvelope(p)
		if err != nil {
			d.t.Errorf("fake daemon: %v", err)
			return
		}
		switch kind {
		case codec.KindRequest:
			m, a, err := codec.ParseRequest(body)
			if err != nil {
				d.t.Errorf("fake daemon: %v", err)
				return
			}
			d.reqs <- fakeReq{id: id, method: string(m), args: bytes.Clone(a)}
		case codec.KindCredit:
			var cr codec.Credit
			codec.Unmarshal(body, &cr, "credit")
			d.credits <- fakeCredit{sub: id, bytes: cr.Bytes}
		case codec.KindPing:
			var p codec.Ping
			codec.Unmarshal(body, &p, "ping")
			t := p.T1 + uint64(d.pongOff)
			d.frame(func(b []byte) ([]byte, error) {
				pong := codec.Pong{T1: p.T1, T2: t, T3: t + 1000, M2: 5, M3: 6}
				return pong.MarshalMsg(codec.AppendEnvelope(b, codec.KindPong, id))
			})
		case codec.KindPong:
			var p codec.Pong
			codec.Unmarshal(body, &p, "pong")
			d.pongs <- fakePong{id, p}
		}
	}
}

// next returns the next request, which must be for method.
func (d *fakeDaemon) next(method string) fakeReq {
	d.t.Helper()
	select {
	case r := <-d.reqs:
		if r.method != method {
			d.t.Fatalf("fake daemon got %s, want %s", r.method, method)
		}
		return r
	case <-time.After(5 * time.Second):
		d.t.Fatalf("fake daemon: no %s request", method)
	}
	return fakeReq{}
}

func (d *fakeDaemon) frame(build func(b []byte) ([]byte, error)) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	b, err := build(d.conn.Begin())
	if err != nil {
		d.t.Errorf("fake daemon: encode: %v", err)
		return
	}
	d.conn.End(b) // fails once the client is gone; the test sees that
}

func (d *fakeDaemon) respond(id uint32, r msgp.Marshaler) {
	d.frame(func(b []byte) ([]byte, error) { return codec.AppendResponse(b, id, r) })
}

func (d *fakeDaemon) fail(id uint32, e *codec.Error) {
	d.frame(func(b []byte) ([]byte, error) { return codec.AppendErrorResponse(b, id, e) })
}

func (d *fakeDaemon) event(id uint32, ev msgp.Marshaler) {
	d.frame(func(b []byte) ([]byte, error) { return codec.AppendEvent(b, id, ev) })
}

func (d *fakeDaemon) out(sub uint32, h uint64, off uint64, data []byte) {
	d.event(sub, &codec.Out{K: codec.EventOut, Handle: h, Stream: codec.Stdout, Offset: off, Data: data})
}

func (d *fakeDaemon) goaway(e *codec.Error) {
	d.frame(func(b []byte) ([]byte, error) {
		g := codec.Goaway{Err: *e}
		return g.MarshalMsg(codec.AppendEnvelope(b, codec.KindGoaway, 0))
	})
}

// decode decodes a request's arguments.
func decode[T any, P interface {
	*T
	msgp.Unmarshaler
}](t *testing.T, r fakeReq) *T {
	t.Helper()
	v := P(new(T))
	if err := codec.Unmarshal(r.args, v, r.method); err != nil {
		t.Fatalf("decode %s: %v", r.method, err)
	}
	return (*T)(v)
}

// empty is a result with no fields.
type empty struct{}

func (empty) MarshalMsg(b []byte) ([]byte, error) { return msgp.AppendMapHeader(b, 0), nil }

// goResult runs fn in a goroutine and returns its error on a channel.
func goResult(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

func recvErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("call did not return")
	}
	return nil
}
