// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// TestFrameStream writes a preface and every sample, then reads them back
// through readers that return the stream in pieces of various sizes.
func TestFrameStream(t *testing.T) {
	var stream bytes.Buffer
	fw := NewFrameWriter(&stream)
	if err := fw.WritePreface(); err != nil {
		t.Fatal(err)
	}
	all := samples()
	big := sample{kind: KindEvent, id: 3, body: &Out{K: EventOut, Data: bytes.Repeat([]byte{0xab}, 100<<10)}}
	all = append(all, big) // larger than the reader's first buffer
	for _, s := range all {
		b, err := appendSample(fw.Begin(), s)
		if err != nil {
			t.Fatal(err)
		}
		if err := fw.End(b); err != nil {
			t.Fatal(err)
		}
	}
	readers := []struct {
		name string
		r    func([]byte) io.Reader
	}{
		{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }},
		{"one byte", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
		{"half", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
		{"data with EOF", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
	}
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			fr := NewFrameReader(rd.r(stream.Bytes()), DefaultMaxFrame)
			readSamples(t, fr, all)
		})
	}
}

// readSamples reads a preface and one frame per sample from fr, then
// expects a clean end of stream.
func readSamples(t *testing.T, fr *FrameReader, all []sample) {
	t.Helper()
	if err := fr.ReadPreface(); err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		p, err := fr.Next()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		checkDecoded(t, s, p)
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
	if fr.Buffered() != 0 {
		t.Fatalf("%d bytes left buffered", fr.Buffered())
	}
}

// TestSetMax checks that raising the limit after the handshake takes
// effect for the next frame, and that the limit is clamped.
func TestSetMax(t *testing.T) {
	payload := bytes.Repeat([]byte{0xc0}, PreAuthMaxFrame+1)
	var stream bytes.Buffer
	fw := NewFrameWriter(&stream)
	_ = fw.WriteFrame(payload)
	_ = fw.WriteFrame(payload)
	fr := NewFrameReader(&stream, PreAuthMaxFrame)
	fr.SetMax(DefaultMaxFrame)
	if p, err := fr.Next(); err != nil || len(p) != len(payload) {
		t.Fatalf("after SetMax: %d bytes, %v", len(p), err)
	}
	fr.SetMax(PreAuthMaxFrame)
	var fe *FrameError
	if _, err := fr.Next(); !errors.As(err, &fe) || fe.Kind != ErrFrameTooLarge {
		t.Fatalf("after lowering: %v", err)
	}
	fr.SetMax(1 << 30)
	if fr.max != HardMaxFrame {
		t.Fatalf("SetMax(1 GiB) gave %d, want HardMaxFrame", fr.max)
	}
}

// macPair returns a writer and a reader of one direction sharing key.
func macPair(stream io.ReadWriter, key string) (*FrameWriter, *FrameReader) {
	fw := NewFrameWriter(stream)
	fw.SetMAC(NewFrameMAC([]byte(key)))
	fr := NewFrameReader(stream, DefaultMaxFrame)
	fr.SetMAC(NewFrameMAC([]byte(key)))
	return fw, fr
}

// TestFrameMAC checks that sealed frames read back, with the tag counted
// in the length and stripped from the payload.
func TestFrameMAC(t *testing.T) {
	var stream bytes.Buffer
	fw, fr := macPair(&stream, "k")
	all := samples()
	for _, s := range all {
		b, err := appendSample(fw.Begin(), s)
		if err != nil {
			t.Fatal(err)
		}
		want, start := len(b)-headerLen+MACLen, stream.Len()
		if err := fw.End(b); err != nil {
			t.Fatal(err)
		}
		if got := binary.BigEndian.Uint32(stream.Bytes()[start:]); int(got) != want {
			t.Fatalf("%s: length %d, want payload and tag, %d", s.name, got, want)
		}
	}
	for _, s := range all {
		p, err := fr.Next()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		checkDecoded(t, s, p)
	}
}

// TestFrameMACRefuses tampers with a stream of three sealed frames and
// expects ErrBadMAC at the first frame that was changed.
func TestFrameMACRefuses(t *testing.T) {
	frames := sealedFrames(t, "key", 3)
	tests := []struct {
		name   string
		stream func() []byte
		key    string
		badAt  int // index of the first frame refused
	}{
		{"intact", func() []byte { return bytes.Join(frames, nil) }, "key", -1},
		{"wrong key", func() []byte { return bytes.Join(frames, nil) }, "other", 0},
		{"bit flipped in payload", func() []byte {
			f := bytes.Clone(frames[1])
			f[headerLen+2] ^= 0x01
			return bytes.Join([][]byte{frames[0], f, frames[2]}, nil)
		}, "key", 1},
		{"bit flipped in tag", func() []byte {
			f := bytes.Clone(frames[0])
			f[len(f)-1] ^= 0x80
			return bytes.Join([][]byte{f, frames[1], frames[2]}, nil)
		}, "key", 0},
		{"reordered", func() []byte { return bytes.Join([][]byte{frames[1], frames[0]}, nil) }, "key", 0},
		{"replayed", func() []byte { return bytes.Join([][]byte{frames[0], frames[0]}, nil) }, "key", 1},
		{"dropped", func() []byte { return bytes.Join([][]byte{frames[0], frames[2]}, nil) }, "key", 1},
		{"shorter than a tag", func() []byte { return []byte{0, 0, 0, 3, 0x93, 0, 0} }, "key", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := NewFrameReader(bytes.NewReader(tt.stream()), DefaultMaxFrame)
			fr.SetMAC(NewFrameMAC([]byte(tt.key)))
			for i := 0; ; i++ {
				_, err := fr.Next()
				if err == io.EOF && tt.badAt < 0 {
					return
				}
				var fe *FrameError
				if i == tt.badAt && errors.As(err, &fe) && fe.Kind == ErrBadMAC && Fatal(err) {
					return
				}
				if err != nil || i == tt.badAt {
					t.Fatalf("frame %d: %v, want ErrBadMAC at frame %d", i, err, tt.badAt)
				}
			}
		})
	}
}

// sealedFrames returns n sealed ping frames of one direction.
func sealedFrames(t *testing.T, key string, n int) [][]byte {
	t.Helper()
	var stream bytes.Buffer
	fw := NewFrameWriter(&stream)
	fw.SetMAC(NewFrameMAC([]byte(key)))
	var frames [][]byte
	for i := range n {
		b, _ := (&Ping{T1: uint64(i)}).MarshalMsg(AppendEnvelope(fw.Begin(), KindPing, uint32(i)))
		if err := fw.End(b); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, bytes.Clone(stream.Bytes()))
		stream.Reset()
	}
	return frames
}

// TestWriterReusesBuffer checks that End keeps the storage of the frame
// for the next Begin, so that steady-state writes do not allocate.
func TestWriterReusesBuffer(t *testing.T) {
	fw := NewFrameWriter(io.Discard)
	b := append(fw.Begin(), make([]byte, 64<<10)...)
	if err := fw.End(b); err != nil {
		t.Fatal(err)
	}
	if next := fw.Begin(); cap(next) != cap(b) || &next[0] != &b[0] {
		t.Fatal("Begin after End returned new storage")
	}
}

// TestHardMaxFrameEdge checks that the largest frame the limits allow is
// read, and that one byte more is refused by its length's top byte, so
// that the two rules on lengths agree.
func TestHardMaxFrameEdge(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 32 MiB; skipped with -short")
	}
	var stream bytes.Buffer
	fw := NewFrameWriter(&stream)
	if err := fw.WriteFrame(make([]byte, HardMaxFrame)); err != nil {
		t.Fatal(err)
	}
	stream.Write([]byte{0x01, 0, 0, 0})
	fr := NewFrameReader(&stream, HardMaxFrame)
	if p, err := fr.Next(); err != nil || len(p) != HardMaxFrame {
		t.Fatalf("frame of HardMaxFrame bytes: %d bytes, %v", len(p), err)
	}
	var fe *FrameError
	if _, err := fr.Next(); !errors.As(err, &fe) || fe.Kind != ErrBadLength {
		t.Fatalf("frame of HardMaxFrame+1 bytes: %v, want ErrBadLength", err)
	}
}

// WriteFrames writes a queue of framed payloads as they would be written
// one by one, with and without a MAC.
func TestWriteFramesMatchesWriteFrame(t *testing.T) {
	payloads := [][]byte{[]byte("one"), bytes.Repeat([]byte{7}, 300), []byte("three")}
	var queue []byte
	for _, p := range payloads {
		queue = binary.BigEndian.AppendUint32(queue, uint32(len(p)))
		queue = append(queue, p...)
	}
	for _, withMAC := range []bool{false, true} {
		var one, many bytes.Buffer
		a, b := NewFrameWriter(&one), NewFrameWriter(&many)
		if withMAC {
			a.SetMAC(NewFrameMAC([]byte("k")))
			b.SetMAC(NewFrameMAC([]byte("k")))
		}
		for _, p := range payloads {
			if err := a.WriteFrame(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.WriteFrames(queue); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(one.Bytes(), many.Bytes()) {
			t.Fatalf("mac %v: WriteFrames wrote other bytes than WriteFrame", withMAC)
		}
	}
}
