// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// MACLen is the length of the tag a FrameMAC appends to each frame.
const MACLen = 16

// FrameMAC authenticates the frames of one direction of a connection
// after the handshake (capability frame.mac). The tag of a frame is the
// first 16 bytes of HMAC-SHA256(key, seq ‖ length ‖ payload), where seq
// counts the frames of that direction from 0 and length is the frame's
// length field; it is appended to the payload and counted in the length.
// A FrameMAC is used by one goroutine.
type FrameMAC struct {
	h   hash.Hash
	seq uint64
	pre [12]byte // seq and length; a field so that Write does not make it escape
	sum [sha256.Size]byte
}

// NewFrameMAC returns a FrameMAC for one direction keyed with key.
func NewFrameMAC(key []byte) *FrameMAC {
	return &FrameMAC{h: hmac.New(sha256.New, key)}
}

// tag computes the tag of a frame whose header claims length and whose
// payload is p, and advances the sequence number.
func (m *FrameMAC) tag(length uint32, p []byte) []byte {
	binary.BigEndian.PutUint64(m.pre[:8], m.seq)
	binary.BigEndian.PutUint32(m.pre[8:], length)
	m.seq++
	m.h.Reset()
	m.h.Write(m.pre[:])
	m.h.Write(p)
	return m.h.Sum(m.sum[:0])[:MACLen]
}

// seal appends the tag to frame, a header followed by a payload.
func (m *FrameMAC) seal(frame []byte) []byte {
	length := uint32(len(frame) - headerLen + MACLen)
	t := m.tag(length, frame[headerLen:])
	return append(frame, t...)
}

// open checks and strips the tag of a frame of the given length.
func (m *FrameMAC) open(length uint32, p []byte) ([]byte, error) {
	if len(p) < MACLen {
		return nil, &FrameError{Kind: ErrBadMAC}
	}
	body, got := p[:len(p)-MACLen], p[len(p)-MACLen:]
	if !hmac.Equal(got, m.tag(length, body)) {
		return nil, &FrameError{Kind: ErrBadMAC}
	}
	return body, nil
}
