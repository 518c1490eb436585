// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/tinylib/msgp/msgp"
	"gitlab.com/tacet/tacet/codec"
)

const (
	// DefaultHandshakeTimeout bounds a whole handshake.
	DefaultHandshakeTimeout = 5 * time.Second

	nonceLen = 32

	// goawayTimeout bounds the write of a GOAWAY to a peer that failed
	// the handshake, so that one that does not read cannot hold us.
	goawayTimeout = 250 * time.Millisecond

	// maxSkipped bounds the extension frames skipped before READY.
	maxSkipped = 8
)

// Authentication modes of WELCOME.
const (
	authHMAC = "hmac"
	authNone = "none"
)

// handshake is the state both sides keep until READY.
type handshake struct {
	nc     net.Conn
	fr     *codec.FrameReader
	fw     *codec.FrameWriter
	kcp    *kcpConn
	peer   PeerInfo
	remote string
	t      transcript

	// spoke is set once the peer's preface was read, so that a GOAWAY
	// will be understood; refused once the peer sent GOAWAY itself.
	spoke, refused bool
	timeout        time.Duration
}

func newHandshake(nc net.Conn) *handshake {
	h := &handshake{
		nc: nc,
		fr: codec.NewFrameReader(nc, codec.PreAuthMaxFrame),
		fw: codec.NewFrameWriter(nc),
	}
	h.peer.UID = -1
	switch c := nc.(type) {
	case *net.UnixConn:
		h.peer.Transport = SchemeUnix
		if uid, err := peerUID(c); err == nil {
			h.peer.UID = uid
		}
		h.remote = "unix uid " + strconv.Itoa(h.peer.UID)
	case *net.TCPConn:
		h.peer.Transport = SchemeTCP
	case *tls.Conn:
		// Before the generic case: a tls.Conn's network is "tcp", and
		// frame.mac, granted on plain TCP only, must not be granted here.
		h.peer.Transport = SchemeTLS
	case *kcpConn:
		h.peer.Transport = SchemeKCP
		h.kcp = c
	default:
		h.peer.Transport = nc.RemoteAddr().Network()
	}
	if h.remote == "" {
		h.remote = nc.RemoteAddr().String()
	}
	return h
}

// errorf returns a handshake failure of code.
func (h *handshake) errorf(code uint16, format string, args ...any) *HandshakeError {
	return &HandshakeError{Code: code, Reason: fmt.Sprintf(format, args...), Remote: h.remote}
}

// ioError turns an error of the connection into a handshake failure.
func (h *handshake) ioError(err error) *HandshakeError {
	err = h.peerAlert(err)
	var fe *codec.FrameError
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		e := h.errorf(codec.CodeTimeout, "handshake not done within %v", h.timeout)
		e.Err = err
		return e
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		e := h.errorf(codec.CodeProtocol, "peer closed the connection during the handshake")
		e.Err = err
		return e
	case errors.As(err, &fe) && fe.Kind == codec.ErrBadPreface:
		return h.errorf(codec.CodeProtocol, "peer does not speak tacet (first bytes %q)", fe.Got)
	case h.tlsFailed(err):
		e := h.errorf(tlsCode(err), "tls handshake failed")
		e.Err = err
		return e
	case errors.As(err, &fe) && fe.Kind == codec.ErrFrameTooLarge:
		e := h.errorf(codec.CodeLimit, "frame of %d bytes before READY, limit %d", fe.Length, fe.Max)
		e.Err = err
		return e
	}
	e := h.errorf(codec.CodeProtocol, "handshake failed")
	e.Err = err
	return e
}

// fail sends GOAWAY for herr when the peer speaks the protocol and did
// not refuse us, and closes the connection.
func (h *handshake) fail(herr *HandshakeError, goaway bool) *HandshakeError {
	if goaway && h.spoke && !h.refused {
		h.nc.SetWriteDeadline(time.Now().Add(goawayTimeout))
		writeGoaway(h.fw, codec.NewError(herr.Code, herr.Reason), 0)
	}
	h.nc.Close()
	return herr
}

// write sends one handshake message and records the SHA-256 of its
// payload in sum.
func (h *handshake) write(kind uint8, m msgp.Marshaler, sum *[sha256.Size]byte) *HandshakeError {
	b, err := appendMsg(h.fw.Begin(), kind, m)
	if err != nil {
		return h.errorf(codec.CodeInternal, "encode handshake message %d: %v", kind, err)
	}
	if len(b)-4 > codec.PreAuthMaxFrame {
		return h.errorf(codec.CodeInternal, "handshake message %d has %d bytes, over the limit", kind, len(b)-4)
	}
	*sum = sha256.Sum256(b[4:])
	if err := h.fw.End(b); err != nil {
		return h.ioError(err)
	}
	return nil
}

// read reads the next handshake message, which must be of kind, into m
// and records the SHA-256 of its payload in sum. Unknown extension frames
// are skipped; a GOAWAY from the peer is returned as a refusal.
func (h *handshake) read(kind uint8, m msgp.Unmarshaler, sum *[sha256.Size]byte) *HandshakeError {
	for skipped := 0; ; skipped++ {
		p, err := h.fr.Next()
		if err != nil {
			return h.ioError(err)
		}
		k, id, body, err := codec.ParseEnvelope(p)
		if err != nil {
			return h.errorf(codec.CodeProtocol, "bad frame before READY: %v", err)
		}
		switch {
		case k == codec.KindGoaway:
			return h.refusal(body)
		case k >= codec.KindFirstExtension && skipped < maxSkipped:
			continue
		case k != kind || id != 0:
			return h.errorf(codec.CodeProtocol, "got message kind %d id %d, want kind %d id 0", k, id, kind)
		}
		*sum = sha256.Sum256(p)
		if err := codec.Unmarshal(body, m, "handshake message"); err != nil {
			return h.errorf(codec.CodeProtocol, "%v", err)
		}
		return nil
	}
}

// refusal returns the failure a peer's GOAWAY announces.
func (h *handshake) refusal(body []byte) *HandshakeError {
	h.refused = true
	var g codec.Goaway
	if err := codec.Unmarshal(body, &g, "goaway"); err != nil {
		return h.errorf(codec.CodeProtocol, "peer sent a malformed GOAWAY: %v", err)
	}
	return &HandshakeError{Code: g.Err.Code, Reason: g.Err.Message, Remote: h.remote, Refused: true}
}

// ready ends the handshake: the deadline is cleared, the frame limit
// raised, and frame.mac keys installed if the capability was agreed.
func (h *handshake) ready(w *codec.Welcome, maxRead, maxPayload int, readKey, writeKey []byte) (*Conn, error) {
	if err := h.nc.SetDeadline(time.Time{}); err != nil {
		return nil, h.ioError(err)
	}
	h.fr.SetMax(maxRead)
	if readKey != nil {
		h.fr.SetMAC(codec.NewFrameMAC(readKey))
		h.fw.SetMAC(codec.NewFrameMAC(writeKey))
		maxPayload -= codec.MACLen
	}
	c := &Conn{
		nc: h.nc, fr: h.fr, fw: h.fw, kcp: h.kcp,
		peer: h.peer, remote: h.remote, welcome: *w, maxPayload: maxPayload,
	}
	return c, nil
}

func newNonce() ([]byte, error) {
	n := make([]byte, nonceLen)
	_, err := rand.Read(n)
	return n, err
}

func hasCap(caps []string, c string) bool {
	for _, x := range caps {
		if x == c {
			return true
		}
	}
	return false
}
