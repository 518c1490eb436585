// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"context"
	"crypto/hmac"
	"net"
	"os"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// ClientConfig configures the controller's side of the handshake.
type ClientConfig struct {
	// Key is the pre-shared key to prove. Nil is enough only for a
	// daemon without a key, on a Unix socket.
	Key *Key

	// Who names the controller in the daemon's logs.
	Who string

	// FrameMAC offers the frame.mac capability.
	FrameMAC bool

	// Timeout bounds the handshake; 0 means 5 s.
	Timeout time.Duration

	// Versions is the range of protocol major versions offered;
	// {0, 0} means {1, 1}.
	Versions [2]uint16

	// MaxFrame is the largest frame accepted from the daemon; 0 means
	// codec.HardMaxFrame, since the daemon is not told a limit.
	MaxFrame int

	// DataShards and ParityShards enable KCP forward error correction.
	DataShards, ParityShards int

	// TLS says how to check the daemon on tls://, where it is required,
	// and may give a client certificate; it is unused otherwise.
	TLS *TLSConfig
}

// Dial parses addr, connects and runs the handshake. Cancelling ctx
// interrupts the handshake; ctx does not bound the Conn returned.
func Dial(ctx context.Context, addr string, cfg *ClientConfig) (*Conn, error) {
	if cfg == nil {
		cfg = &ClientConfig{}
	}
	a, err := ParseAddr(addr, 0)
	if err != nil {
		return nil, err
	}
	var nc net.Conn
	switch a.Scheme {
	case SchemeKCP:
		nc, err = DialKCP(a, cfg.Key, cfg.DataShards, cfg.ParityShards)
	case SchemeTLS:
		nc, err = DialTLS(ctx, a, cfg.TLS)
	default:
		nc, err = DialRaw(ctx, a)
	}
	if err != nil {
		return nil, err
	}

	// A cancelled ctx moves the deadline to the past, which fails the
	// pending read or write; if that happens after READY the Conn is
	// unusable, so it is closed.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	deadline, _ := ctx.Deadline()
	c, err := clientHandshake(nc, cfg, deadline)
	if !stop() {
		if c != nil {
			c.Close()
		}
		return nil, context.Cause(ctx)
	}
	return c, err
}

// ClientHandshake runs the controller's side of the handshake on nc. It
// checks the daemon's proof, and refuses auth "none" except from a Unix
// socket whose daemon runs as this uid or as root. On failure nc is
// closed and the error is a *HandshakeError; Refused is set when the
// daemon sent GOAWAY, and Code and Reason are then the daemon's. A nil
// cfg is a ClientConfig without a key.
func ClientHandshake(nc net.Conn, cfg *ClientConfig) (*Conn, error) {
	if cfg == nil {
		cfg = &ClientConfig{}
	}
	return clientHandshake(nc, cfg, time.Time{})
}

func clientHandshake(nc net.Conn, cfg *ClientConfig, deadline time.Time) (*Conn, error) {
	h := newHandshake(nc)
	h.timeout = cfg.Timeout
	if h.timeout <= 0 {
		h.timeout = DefaultHandshakeTimeout
	}
	d := time.Now().Add(h.timeout)
	if !deadline.IsZero() && deadline.Before(d) {
		d = deadline
	}
	if err := nc.SetDeadline(d); err != nil {
		return nil, h.fail(h.ioError(err), false)
	}

	c, herr := h.dial(cfg)
	if herr != nil {
		return nil, h.fail(herr, false)
	}
	return c, nil
}

func (h *handshake) dial(cfg *ClientConfig) (*Conn, *HandshakeError) {
	hello, herr := newHello(cfg)
	if herr != nil {
		herr.Remote = h.remote
		return nil, herr
	}
	if err := h.fw.WritePreface(); err != nil {
		return nil, h.ioError(err)
	}
	if herr := h.write(codec.KindHello, &hello, &h.t.hello); herr != nil {
		return nil, herr
	}
	if err := h.fr.ReadPreface(); err != nil {
		return nil, h.ioError(err)
	}
	h.spoke = true

	var w codec.Welcome
	if herr := h.read(codec.KindWelcome, &w, &h.t.welcome); herr != nil {
		return nil, herr
	}
	if herr := h.checkWelcome(cfg, &hello, &w); herr != nil {
		return nil, herr
	}

	var a codec.Auth
	if w.Auth == authHMAC {
		a.Proof = cfg.Key.clientProof(&h.t)
	}
	if herr := h.write(codec.KindAuth, &a, &h.t.auth); herr != nil {
		return nil, herr
	}
	var r codec.Ready
	if herr := h.read(codec.KindReady, &r, new([32]byte)); herr != nil {
		return nil, herr
	}
	if w.Auth == authHMAC && !hmac.Equal(r.Proof, cfg.Key.daemonProof(&h.t)) {
		return nil, h.errorf(codec.CodeUnauth, "daemon proof does not match: the daemon does not hold the key")
	}
	if w.Auth == authNone && len(r.Proof) != 0 {
		return nil, h.errorf(codec.CodeUnauth, "daemon proof sent under auth none")
	}

	var c2d, d2c []byte
	if hasCap(w.Caps, codec.CapFrameMAC) {
		c2d, d2c = cfg.Key.macKeys(hello.Nonce, w.Nonce)
	}
	maxRead := cfg.MaxFrame
	if maxRead <= 0 {
		maxRead = codec.HardMaxFrame
	}
	c, err := h.ready(&w, maxRead, int(w.MaxFrame), d2c, c2d)
	if err != nil {
		return nil, h.ioError(err)
	}
	return c, nil
}

func newHello(cfg *ClientConfig) (codec.Hello, *HandshakeError) {
	v := cfg.Versions
	if v == [2]uint16{} {
		v = [2]uint16{codec.ProtocolVersion, codec.ProtocolVersion}
	}
	if v[0] > v[1] {
		return codec.Hello{}, &HandshakeError{Code: codec.CodeBadArgs, Reason: "version range is empty"}
	}
	hello := codec.Hello{
		Versions: v[:],
		CapVer:   codec.CapabilityVersion,
		Caps:     []string{},
		Who:      cfg.Who,
	}
	if cfg.FrameMAC && cfg.Key != nil {
		hello.Caps = append(hello.Caps, codec.CapFrameMAC)
	}
	if cfg.Key != nil {
		hello.KeyID = cfg.Key.ID()
	}
	var err error
	if hello.Nonce, err = newNonce(); err != nil {
		return hello, &HandshakeError{Code: codec.CodeInternal, Reason: "make nonce: " + err.Error()}
	}
	return hello, nil
}

// checkWelcome checks that WELCOME answers what HELLO offered, and that
// the authentication it chose is one this controller accepts.
func (h *handshake) checkWelcome(cfg *ClientConfig, hello *codec.Hello, w *codec.Welcome) *HandshakeError {
	if w.Version < hello.Versions[0] || w.Version > hello.Versions[1] {
		return h.errorf(codec.CodeUnsupported, "daemon chose version %d, not offered", w.Version)
	}
	for _, c := range w.Caps {
		if !hasCap(hello.Caps, c) {
			return h.errorf(codec.CodeProtocol, "daemon granted capability %q, not offered", c)
		}
	}
	if len(w.Nonce) != nonceLen || w.MaxFrame < codec.PreAuthMaxFrame {
		return h.errorf(codec.CodeProtocol, "WELCOME needs a %d-byte sn and maxf of at least %d",
			nonceLen, codec.PreAuthMaxFrame)
	}
	w.MaxFrame = min(w.MaxFrame, codec.HardMaxFrame)

	switch w.Auth {
	case authHMAC:
		if cfg.Key == nil {
			return h.errorf(codec.CodeUnauth, "daemon requires a key and none is configured")
		}
	case authNone:
		// Without a key nothing proves who the daemon is; only the kernel's
		// word about the socket's owner does.
		uid := h.peer.UID
		if h.peer.Transport != SchemeUnix || uid < 0 || (uid != 0 && uid != os.Geteuid()) {
			return h.errorf(codec.CodeUnauth, "daemon offered auth none, which only a Unix socket of this uid or root may")
		}
	default:
		return h.errorf(codec.CodeUnsupported, "daemon offered auth %q", w.Auth)
	}
	return nil
}
