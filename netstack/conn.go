// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"net"
	"sync"
	"time"

	"github.com/tinylib/msgp/msgp"
	"gitlab.com/tacet/tacet/codec"
)

// PeerInfo says who is at the other end of a Conn.
type PeerInfo struct {
	Transport string // "tcp", "unix", "kcp" or "tls"
	UID       int    // unix: the peer's uid from SO_PEERCRED; -1 otherwise
	Who       string // the name the controller gave in HELLO; not verified
}

// Conn is a framed connection whose handshake has succeeded. One
// goroutine may read frames and one other may write them; Close may be
// called from any goroutine, any number of times.
type Conn struct {
	nc         net.Conn
	fr         *codec.FrameReader
	fw         *codec.FrameWriter
	kcp        *kcpConn // nc as a *kcpConn, nil on other transports
	peer       PeerInfo
	remote     string
	welcome    codec.Welcome
	maxPayload int

	raw rawWriter // TryWriteFrames (trywrite.go)

	closeOnce sync.Once
	closeErr  error
}

// ReadFrame returns the payload of the next frame, valid until the next
// call. A frame whose tag does not match (codec.ErrBadMAC) closes the
// connection at once. After any other error from codec.Fatal the caller
// should send the GOAWAY that ErrorFor gives, if any, and Close.
func (c *Conn) ReadFrame() ([]byte, error) {
	p, err := c.fr.Next()
	if err != nil {
		if fe, ok := err.(*codec.FrameError); ok && fe.Kind == codec.ErrBadMAC {
			c.Close()
		}
		return nil, err
	}
	return p, nil
}

// Begin returns the write buffer with room for the frame header; append
// one payload to it and pass the result to End.
func (c *Conn) Begin() []byte { return c.fw.Begin() }

// End writes the frame built on the slice Begin returned.
func (c *Conn) End(frame []byte) error { return c.fw.End(frame) }

// WriteFrames writes a run of already framed payloads with one write.
func (c *Conn) WriteFrames(frames []byte) error { return c.fw.WriteFrames(frames) }

// WriteFrame copies p into a frame and writes it.
func (c *Conn) WriteFrame(p []byte) error { return c.fw.WriteFrame(p) }

// Goaway writes a GOAWAY frame carrying e and the last request id
// processed, then closes the connection. It is called from the writing
// goroutine. The returned error is the write's.
func (c *Conn) Goaway(e *codec.Error, last uint32) error {
	err := writeGoaway(c.fw, e, last)
	c.Close()
	return err
}

func writeGoaway(fw *codec.FrameWriter, e *codec.Error, last uint32) error {
	g := codec.Goaway{Err: *e, LastID: last}
	b, err := g.MarshalMsg(codec.AppendEnvelope(fw.Begin(), codec.KindGoaway, 0))
	if err != nil {
		return err
	}
	return fw.End(b)
}

// appendMsg appends an envelope of kind with id 0 and body m.
func appendMsg(b []byte, kind uint8, m msgp.Marshaler) ([]byte, error) {
	return m.MarshalMsg(codec.AppendEnvelope(b, kind, 0))
}

// Close closes the connection. Calls after the first return nil.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.nc.Close() })
	return c.closeErr
}

// RemoteAddr returns the peer's address for logs: host:port, or "unix
// uid N" on a Unix socket.
func (c *Conn) RemoteAddr() string { return c.remote }

// Peer returns who is at the other end.
func (c *Conn) Peer() PeerInfo { return c.peer }

// Welcome returns the WELCOME of the handshake: on a controller what the
// daemon said, on the daemon what it sent. The caller must not modify it.
func (c *Conn) Welcome() *codec.Welcome { return &c.welcome }

// MaxPayload returns the largest payload the peer accepts in one frame:
// WELCOME's maxf on a controller, less the tag under frame.mac.
func (c *Conn) MaxPayload() int { return c.maxPayload }

// Tick is meant for the caller's keepalive tick, every few seconds. It
// returns how long nothing was received. On KCP it also returns a
// session that saw no traffic since the previous Tick to a slow update
// interval, so that an idle session wakes once a second instead of fifty
// times. On TCP and Unix sockets, whose liveness the kernel watches, it
// does nothing and returns 0.
func (c *Conn) Tick() time.Duration {
	if c.kcp == nil {
		return 0
	}
	return c.kcp.tick()
}
