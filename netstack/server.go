// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"crypto/hmac"
	"net"
	"os"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// ServerConfig configures the daemon's side of the handshake.
type ServerConfig struct {
	// Key is the pre-shared key controllers must prove. Nil is allowed
	// on a Unix socket only: auth is then "none" and the peer must run
	// as the daemon's uid or as root. On any other transport a nil Key
	// refuses every connection.
	Key *Key

	// Welcome fills the daemon's part of WELCOME: instance, boot, ver,
	// host and the clocks; it is called just before WELCOME is written.
	// The handshake sets pv, cv, caps, auth, sn and maxf itself.
	Welcome func() codec.Welcome

	// MaxFrame is the largest frame accepted after READY, announced as
	// maxf; 0 means codec.DefaultMaxFrame. It is kept between
	// codec.PreAuthMaxFrame and codec.HardMaxFrame.
	MaxFrame int

	// HandshakeTimeout bounds the handshake; 0 means 5 s.
	HandshakeTimeout time.Duration

	// FrameMAC grants the frame.mac capability on TCP when the
	// controller offers it.
	FrameMAC bool
}

// The protocol versions the daemon speaks.
const (
	minVersion = codec.ProtocolVersion
	maxVersion = codec.ProtocolVersion
)

// ServerHandshake runs the daemon's side of the handshake on nc: it
// writes its preface, reads the controller's, then HELLO, WELCOME, AUTH
// and READY. On failure it sends GOAWAY with the reason when the peer
// spoke the protocol, closes nc and returns a *HandshakeError. The
// handshake runs under a deadline on nc, which is cleared after READY.
// A nil cfg is a ServerConfig without a key.
func ServerHandshake(nc net.Conn, cfg *ServerConfig) (*Conn, error) {
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	h := newHandshake(nc)
	h.timeout = cfg.HandshakeTimeout
	if h.timeout <= 0 {
		h.timeout = DefaultHandshakeTimeout
	}
	if err := nc.SetDeadline(time.Now().Add(h.timeout)); err != nil {
		return nil, h.fail(h.ioError(err), false)
	}

	c, herr := h.serve(cfg)
	if herr != nil {
		return nil, h.fail(herr, true)
	}
	return c, nil
}

func (h *handshake) serve(cfg *ServerConfig) (*Conn, *HandshakeError) {
	if err := h.fw.WritePreface(); err != nil {
		return nil, h.ioError(err)
	}
	if err := h.fr.ReadPreface(); err != nil {
		return nil, h.ioError(err)
	}
	h.spoke = true

	// Decide the authentication before parsing anything, so that a
	// daemon without a key fails closed on a network transport.
	auth, herr := h.authMode(cfg.Key)
	if herr != nil {
		return nil, herr
	}

	var hello codec.Hello
	if herr := h.read(codec.KindHello, &hello, &h.t.hello); herr != nil {
		return nil, herr
	}
	h.peer.Who = hello.Who
	w, herr := h.answer(cfg, &hello, auth)
	if herr != nil {
		return nil, herr
	}
	if herr := h.write(codec.KindWelcome, &w, &h.t.welcome); herr != nil {
		return nil, herr
	}

	var a codec.Auth
	if herr := h.read(codec.KindAuth, &a, &h.t.auth); herr != nil {
		return nil, herr
	}
	var sp []byte
	if auth == authHMAC {
		if !hmac.Equal(a.Proof, cfg.Key.clientProof(&h.t)) {
			return nil, h.errorf(codec.CodeUnauth, "client proof does not match")
		}
		sp = cfg.Key.daemonProof(&h.t)
	} else if len(a.Proof) != 0 {
		return nil, h.errorf(codec.CodeUnauth, "client proof sent under auth none")
	}
	if herr := h.write(codec.KindReady, &codec.Ready{Proof: sp}, new([32]byte)); herr != nil {
		return nil, herr
	}

	var c2d, d2c []byte
	if hasCap(w.Caps, codec.CapFrameMAC) {
		c2d, d2c = cfg.Key.macKeys(hello.Nonce, w.Nonce)
	}
	c, err := h.ready(&w, int(w.MaxFrame), codec.HardMaxFrame, c2d, d2c)
	if err != nil {
		return nil, h.ioError(err)
	}
	return c, nil
}

// authMode returns the authentication the daemon requires of this peer.
func (h *handshake) authMode(key *Key) (string, *HandshakeError) {
	if key != nil {
		return authHMAC, nil
	}
	if h.peer.Transport != SchemeUnix {
		return "", h.errorf(codec.CodeUnauth, "daemon has no key: only Unix socket peers are accepted")
	}
	if uid := h.peer.UID; uid < 0 || (uid != 0 && uid != os.Geteuid()) {
		return "", h.errorf(codec.CodeUnauth, "uid %d may not connect to a daemon without a key", uid)
	}
	return authNone, nil
}

// answer checks HELLO and builds WELCOME.
func (h *handshake) answer(cfg *ServerConfig, hello *codec.Hello, auth string) (codec.Welcome, *HandshakeError) {
	var w codec.Welcome
	if len(hello.Versions) != 2 || hello.Versions[0] > hello.Versions[1] || len(hello.Nonce) != nonceLen {
		return w, h.errorf(codec.CodeProtocol, "HELLO needs pv [min, max] and a %d-byte cn", nonceLen)
	}
	lo, hi := max(hello.Versions[0], minVersion), min(hello.Versions[1], maxVersion)
	if lo > hi {
		return w, h.errorf(codec.CodeUnsupported, "no common protocol version: daemon speaks %d to %d, controller %d to %d",
			minVersion, maxVersion, hello.Versions[0], hello.Versions[1])
	}
	if auth == authHMAC && hello.KeyID != cfg.Key.ID() {
		return w, h.errorf(codec.CodeUnauth, "key id mismatch")
	}

	if cfg.Welcome != nil {
		w = cfg.Welcome()
	}
	w.Version = hi
	w.CapVer = codec.CapabilityVersion
	w.Caps = h.grant(cfg, hello.Caps, auth)
	w.Auth = auth
	w.MaxFrame = uint32(codec.DefaultMaxFrame)
	if cfg.MaxFrame > 0 {
		w.MaxFrame = uint32(min(max(cfg.MaxFrame, codec.PreAuthMaxFrame), codec.HardMaxFrame))
	}
	var err error
	if w.Nonce, err = newNonce(); err != nil {
		return w, h.errorf(codec.CodeInternal, "make nonce: %v", err)
	}
	return w, nil
}

// grant returns the capabilities offered that the daemon has: frame.mac
// on TCP when configured, since its keys come from the handshake key.
func (h *handshake) grant(cfg *ServerConfig, offered []string, auth string) []string {
	caps := []string{}
	if cfg.FrameMAC && auth == authHMAC && h.peer.Transport == SchemeTCP && hasCap(offered, codec.CapFrameMAC) {
		caps = append(caps, codec.CapFrameMAC)
	}
	return caps
}
