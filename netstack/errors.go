// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"gitlab.com/tacet/tacet/codec"
)

// HandshakeError is returned by ServerHandshake and ClientHandshake. The
// connection has been closed when it is returned: a handshake is never
// resumed.
type HandshakeError struct {
	Code    uint16 // a codec.Code* value saying why
	Reason  string // for humans; never parsed
	Remote  string // the peer's address
	Refused bool   // the peer refused us with GOAWAY: Code and Reason are its own
	Err     error  // the I/O or framing error behind Code, if any
}

func (e *HandshakeError) Error() string {
	if e.Refused {
		return fmt.Sprintf("netstack: handshake with %s refused by the peer: %s: %s",
			e.Remote, codec.CodeName(e.Code), e.Reason)
	}
	s := fmt.Sprintf("netstack: handshake with %s: %s: %s", e.Remote, codec.CodeName(e.Code), e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// Fatal reports whether the connection must be closed: always, and it
// already is.
func (e *HandshakeError) Fatal() bool { return true }

// ErrorFor returns the error to send in GOAWAY before closing a
// connection on which ReadFrame failed with err: LIMIT for a frame over
// the limit, PROTOCOL for other framing errors. It returns nil when no
// GOAWAY should be sent: the stream ended, or a frame's tag did not
// match, so that the peer cannot be trusted to read one.
func ErrorFor(err error) *codec.Error {
	var fe *codec.FrameError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, net.ErrClosed):
		return nil
	case errors.As(err, &fe):
		return fe.Goaway()
	}
	return nil
}

// codeKey groups handshake errors in a FailureLog: by code, and by which
// side gave up.
func (e *HandshakeError) codeKey() string {
	if e.Refused {
		return "refused " + codec.CodeName(e.Code)
	}
	return codec.CodeName(e.Code)
}
