// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"errors"
	"fmt"
)

// FrameErrorKind says what was wrong with a frame.
type FrameErrorKind int

// Kinds of framing errors. All of them end the connection: after any of
// them the reader cannot know where the next frame starts, or the peer
// is not to be trusted.
const (
	ErrBadPreface    FrameErrorKind = iota + 1 // the peer is not speaking this protocol
	ErrBadLength                               // the length's top byte is not zero
	ErrEmptyFrame                              // a length of zero
	ErrFrameTooLarge                           // the length exceeds the current limit
	ErrTruncated                               // the stream ended inside a frame
	ErrBadMAC                                  // the frame's tag does not match
)

// FrameError is returned by FrameReader for a frame that cannot be read.
type FrameError struct {
	Kind   FrameErrorKind
	Length uint64 // the length announced, for ErrBadLength and ErrFrameTooLarge
	Max    uint64 // the limit in force, for ErrFrameTooLarge
	Got    []byte // the bytes received, for ErrBadPreface
	What   string // the part that was cut, for ErrTruncated
	Err    error  // the underlying read error, for ErrTruncated
}

func (e *FrameError) Error() string {
	switch e.Kind {
	case ErrBadPreface:
		return fmt.Sprintf("codec: bad preface %q: peer does not speak tacet", e.Got)
	case ErrBadLength:
		return fmt.Sprintf("codec: frame length %#x has a non-zero top byte", e.Length)
	case ErrEmptyFrame:
		return "codec: empty frame"
	case ErrFrameTooLarge:
		return fmt.Sprintf("codec: frame of %d bytes exceeds the limit of %d", e.Length, e.Max)
	case ErrTruncated:
		return fmt.Sprintf("codec: stream ended inside the %s: %v", e.What, e.Err)
	case ErrBadMAC:
		return "codec: frame authentication tag does not match"
	}
	return "codec: bad frame"
}

func (e *FrameError) Unwrap() error { return e.Err }

// Goaway returns the error to send in a GOAWAY before closing after e,
// or nil when none should be sent: a frame cut short means the peer has
// gone, and a frame whose tag does not match may not come from the peer
// at all.
func (e *FrameError) Goaway() *Error {
	switch e.Kind {
	case ErrBadMAC, ErrTruncated:
		return nil
	case ErrFrameTooLarge:
		ge := NewError(CodeLimit, e.Error())
		ge.Detail.Limit = e.Max
		return ge
	}
	return NewError(CodeProtocol, e.Error())
}

// Fatal reports whether the connection must be closed after e. It is
// always true for framing errors; it exists so that callers can treat
// FrameError and DecodeError alike.
func (e *FrameError) Fatal() bool { return true }

// DecodeError is returned for a frame that was delimited correctly but
// whose payload is not a valid message. The connection can go on: the
// next frame starts where the length said.
type DecodeError struct {
	What string // what was being decoded, e.g. "proc.start arguments"
	Err  error
}

func (e *DecodeError) Error() string { return "codec: decode " + e.What + ": " + e.Err.Error() }

func (e *DecodeError) Unwrap() error { return e.Err }

// Fatal reports whether the connection must be closed: never for a
// decode error after the handshake.
func (e *DecodeError) Fatal() bool { return false }

// Fatal reports whether err, from this package, means the connection
// cannot go on. Errors from elsewhere (I/O errors) are fatal.
func Fatal(err error) bool {
	var f interface{ Fatal() bool }
	if errors.As(err, &f) {
		return f.Fatal()
	}
	return err != nil
}

// Errors of structure, found before a body is decoded.
var (
	ErrTooDeep    = errors.New("values nested deeper than the limit")
	ErrTrailing   = errors.New("bytes after the value")
	ErrNotMap     = errors.New("body is not a map")
	ErrBadEnvelop = errors.New("envelope is not [kind, id, body]")
)
