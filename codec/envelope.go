// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"github.com/tinylib/msgp/msgp"
)

// Message kinds, the first element of every envelope. Kinds from 0x80 up
// are extensions that a peer which does not know them skips; an unknown
// kind below 0x80 is a protocol error.
const (
	KindHello    = 1
	KindWelcome  = 2
	KindAuth     = 3
	KindReady    = 4
	KindRequest  = 8
	KindResponse = 9
	KindEvent    = 10
	KindCredit   = 12
	KindPing     = 14
	KindPong     = 15
	KindGoaway   = 16

	KindFirstExtension = 0x80
)

// MaxDepth is the deepest nesting of arrays and maps accepted in a body.
// No v1 message nests deeper than 4; the margin is for additions. msgp's
// own skipping of unknown fields recurses as deep as the input goes, so
// bodies are checked against this limit before they are decoded.
const MaxDepth = 16

// AppendEnvelope appends the header of an envelope, [kind, id, ...], to
// b; the caller appends the body after it.
func AppendEnvelope(b []byte, kind uint8, id uint32) []byte {
	b = msgp.AppendArrayHeader(b, 3)
	b = msgp.AppendUint8(b, kind)
	return msgp.AppendUint32(b, id)
}

// ParseEnvelope splits a frame's payload into its kind, id and body. The
// body is the third element, checked to be one well-formed value no
// deeper than MaxDepth. Elements after the third are ignored, so that a
// later version may add some.
func ParseEnvelope(p []byte) (kind uint8, id uint32, body []byte, err error) {
	n, rest, err := msgp.ReadArrayHeaderBytes(p)
	if err != nil || n < 3 {
		return 0, 0, nil, &DecodeError{What: "envelope", Err: ErrBadEnvelop}
	}
	if kind, rest, err = msgp.ReadUint8Bytes(rest); err != nil {
		return 0, 0, nil, &DecodeError{What: "envelope kind", Err: err}
	}
	if id, rest, err = msgp.ReadUint32Bytes(rest); err != nil {
		return 0, 0, nil, &DecodeError{What: "envelope id", Err: err}
	}
	after, err := Walk(rest, MaxDepth)
	if err != nil {
		return 0, 0, nil, &DecodeError{What: "envelope body", Err: err}
	}
	body = rest[:len(rest)-len(after)]
	for i := uint32(3); i < n; i++ {
		if after, err = Walk(after, MaxDepth); err != nil {
			return 0, 0, nil, &DecodeError{What: "envelope extra element", Err: err}
		}
	}
	if len(after) != 0 {
		return 0, 0, nil, &DecodeError{What: "envelope", Err: ErrTrailing}
	}
	return kind, id, body, nil
}

// Walk checks that b starts with one well-formed MessagePack value nested
// at most depth deep, in which no array or map announces more elements
// than bytes remain, and returns the bytes after it. It allocates nothing
// and bounds what a decoder can be made to allocate: a header that claims
// four billion elements is refused here, before any make.
func Walk(b []byte, depth int) ([]byte, error) {
	if depth < 0 {
		return b, ErrTooDeep
	}
	var n uint32
	var err error
	switch msgp.NextType(b) {
	case msgp.ArrayType:
		if n, b, err = msgp.ReadArrayHeaderBytes(b); err != nil {
			return b, err
		}
	case msgp.MapType:
		var m uint32
		if m, b, err = msgp.ReadMapHeaderBytes(b); err != nil {
			return b, err
		}
		if uint64(m)*2 > uint64(len(b)) {
			return b, msgp.ErrShortBytes
		}
		n = m * 2
	default:
		return msgp.Skip(b)
	}
	if uint64(n) > uint64(len(b)) {
		return b, msgp.ErrShortBytes
	}
	for ; n > 0; n-- {
		if b, err = Walk(b, depth-1); err != nil {
			return b, err
		}
	}
	return b, nil
}

// Unmarshal decodes body into v, which must have been reset by the caller
// or be fresh; the whole body must be consumed.
func Unmarshal(body []byte, v msgp.Unmarshaler, what string) error {
	rest, err := v.UnmarshalMsg(body)
	if err != nil {
		return &DecodeError{What: what, Err: err}
	}
	if len(rest) != 0 {
		return &DecodeError{What: what, Err: ErrTrailing}
	}
	return nil
}
