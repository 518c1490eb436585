// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"encoding/binary"
	"io"
)

// Preface is written once by each side before its first frame. It names
// the protocol and the version of the framing, so that a peer speaking
// something else (an HTTP client, a future framing) fails on the first
// bytes instead of being parsed as a length.
var Preface = [8]byte{'t', 'a', 'c', 'e', 't', 0, 0, 1}

// Frame limits. The top byte of a length is always zero, because no frame
// may exceed HardMaxFrame, one byte less than 16 MiB: a stray "GET " read
// as a length is refused on its first byte.
const (
	DefaultMaxFrame = 1 << 20    // after READY, unless configured otherwise
	HardMaxFrame    = 16<<20 - 1 // no configuration may exceed this; the largest 3-byte length
	PreAuthMaxFrame = 4096       // before READY
	headerLen       = 4
)

// FrameReader reads length-delimited frames from a stream. It owns one
// buffer that grows to the largest frame seen and is reused: the slice
// returned by Next is valid until the following call.
type FrameReader struct {
	r    io.Reader
	buf  []byte
	rpos int // start of unread bytes in buf
	wpos int // end of unread bytes in buf
	max  int
	mac  *FrameMAC
}

// NewFrameReader returns a reader of frames of at most max bytes.
func NewFrameReader(r io.Reader, max int) *FrameReader {
	fr := &FrameReader{r: r, buf: make([]byte, 16<<10)}
	fr.SetMax(max)
	return fr
}

// SetMax changes the largest frame accepted, for example when the
// handshake ends. It is clamped to HardMaxFrame.
func (fr *FrameReader) SetMax(max int) {
	if max <= 0 || max > HardMaxFrame {
		max = HardMaxFrame
	}
	fr.max = max
}

// SetMAC makes every following frame be checked against a tag computed
// with m; a frame whose tag does not match is an ErrBadMAC.
func (fr *FrameReader) SetMAC(m *FrameMAC) { fr.mac = m }

// ReadPreface reads and checks the peer's preface.
func (fr *FrameReader) ReadPreface() error {
	if err := fr.fill(len(Preface)); err != nil {
		return truncated(err, "preface")
	}
	got := fr.buf[fr.rpos : fr.rpos+len(Preface)]
	fr.rpos += len(Preface)
	if string(got) != string(Preface[:]) {
		return &FrameError{Kind: ErrBadPreface, Got: append([]byte(nil), got...)}
	}
	return nil
}

// Next returns the payload of the next frame. A *FrameError says what was
// wrong; every framing error is fatal to the connection because the
// stream's position can no longer be trusted.
func (fr *FrameReader) Next() ([]byte, error) {
	if err := fr.fill(headerLen); err != nil {
		if err == io.EOF && fr.wpos == fr.rpos {
			return nil, io.EOF
		}
		return nil, truncated(err, "frame header")
	}
	hdr := fr.buf[fr.rpos : fr.rpos+headerLen]
	if hdr[0] != 0 {
		return nil, &FrameError{Kind: ErrBadLength, Length: uint64(binary.BigEndian.Uint32(hdr))}
	}
	n := int(binary.BigEndian.Uint32(hdr))
	switch {
	case n == 0:
		return nil, &FrameError{Kind: ErrEmptyFrame}
	case n > fr.max:
		return nil, &FrameError{Kind: ErrFrameTooLarge, Length: uint64(n), Max: uint64(fr.max)}
	}
	if err := fr.fill(headerLen + n); err != nil {
		return nil, truncated(err, "frame payload")
	}
	p := fr.buf[fr.rpos+headerLen : fr.rpos+headerLen+n]
	fr.rpos += headerLen + n
	if fr.mac != nil {
		return fr.mac.open(uint32(n), p)
	}
	return p, nil
}

// Buffered reports how many bytes have been read from the stream but not
// yet returned as frames.
func (fr *FrameReader) Buffered() int { return fr.wpos - fr.rpos }

// fill makes at least n unread bytes available in buf, reading from r as
// much as the stream gives in each call so that small frames cost one
// read for several of them.
func (fr *FrameReader) fill(n int) error {
	if fr.wpos-fr.rpos >= n {
		return nil
	}
	if fr.rpos+n > len(fr.buf) {
		fr.compact(n)
	}
	for fr.wpos-fr.rpos < n {
		m, err := fr.r.Read(fr.buf[fr.wpos:])
		fr.wpos += m
		if err != nil {
			if fr.wpos-fr.rpos >= n {
				return nil
			}
			return err
		}
	}
	return nil
}

// compact moves unread bytes to the front of buf, growing it when a frame
// of n bytes would not fit. Growth happens once per larger frame size,
// never in the steady state.
func (fr *FrameReader) compact(n int) {
	unread := fr.wpos - fr.rpos
	if n > len(fr.buf) {
		size := len(fr.buf)
		for size < n {
			size *= 2
		}
		nb := make([]byte, size)
		copy(nb, fr.buf[fr.rpos:fr.wpos])
		fr.buf = nb
	} else {
		copy(fr.buf, fr.buf[fr.rpos:fr.wpos])
	}
	fr.rpos, fr.wpos = 0, unread
}

func truncated(err error, what string) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &FrameError{Kind: ErrTruncated, What: what, Err: err}
}

// FrameWriter writes frames to a stream. It owns one buffer in which the
// caller encodes the frame, so that a frame is built and written with one
// write and without allocating. It is not safe for concurrent use.
type FrameWriter struct {
	w   io.Writer
	buf []byte
	mac *FrameMAC
}

// NewFrameWriter returns a writer of frames to w.
func NewFrameWriter(w io.Writer) *FrameWriter {
	return &FrameWriter{w: w, buf: make([]byte, headerLen, 16<<10)}
}

// WritePreface writes this side's preface.
func (fw *FrameWriter) WritePreface() error {
	_, err := fw.w.Write(Preface[:])
	return err
}

// SetMAC makes every following frame carry a tag computed with m.
func (fw *FrameWriter) SetMAC(m *FrameMAC) { fw.mac = m }

// HasMAC reports whether frames carry a tag.
func (fw *FrameWriter) HasMAC() bool { return fw.mac != nil }

// Begin returns the writer's buffer holding room for the frame header.
// The caller appends one payload to it and passes the result to End.
func (fw *FrameWriter) Begin() []byte { return fw.buf[:headerLen] }

// End writes frame, built on the slice Begin returned, and keeps its
// storage for the next frame.
func (fw *FrameWriter) End(frame []byte) error {
	if fw.mac != nil {
		frame = fw.mac.seal(frame)
	}
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-headerLen))
	fw.buf = frame[:headerLen]
	_, err := fw.w.Write(frame)
	return err
}

// WriteFrames writes frames, a run of frames each already made of its
// 4-byte length and payload, with one write: under a MAC each is copied
// and sealed on the way. A caller that queues several frames at once
// (a response and the events it causes) saves a system call for each.
func (fw *FrameWriter) WriteFrames(frames []byte) error {
	if fw.mac == nil {
		_, err := fw.w.Write(frames)
		return err
	}
	b := fw.buf[:0]
	for len(frames) >= headerLen {
		n := int(binary.BigEndian.Uint32(frames))
		start := len(b)
		b = append(b, frames[:headerLen+n]...)
		f := fw.mac.seal(b[start:])
		b = append(b[:start], f...)
		binary.BigEndian.PutUint32(b[start:], uint32(len(f)-headerLen))
		frames = frames[headerLen+n:]
	}
	fw.buf = b[:0]
	_, err := fw.w.Write(b)
	return err
}

// WriteFrame copies payload into a frame and writes it.
func (fw *FrameWriter) WriteFrame(payload []byte) error {
	return fw.End(append(fw.Begin(), payload...))
}
