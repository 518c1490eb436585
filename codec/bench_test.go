// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"bytes"
	"io"
	"testing"
)

// The hot paths of the daemon: encoding output events and reading frames.
// Both must not allocate in the steady state; the tests below assert it
// with testing.AllocsPerRun, which counts allocations exactly, and the
// benchmarks report the time.

func outEvent() *Out {
	return &Out{K: EventOut, Handle: sampleHandle, Stream: Stdout, Offset: sampleOffset,
		Mono: sampleMono, Data: bytes.Repeat([]byte("0123456789abcdef"), 256)} // 4 KiB
}

// writeOut encodes ev as an event of subscription 3 into fw's buffer and
// writes it.
func writeOut(fw *FrameWriter, ev *Out) error {
	b, err := AppendEvent(fw.Begin(), 3, ev)
	if err != nil {
		return err
	}
	return fw.End(b)
}

// loopReader returns data over and over, as a socket that always has the
// next frames ready.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

// frameLoop returns a reader looping over n out-event frames.
func frameLoop(tb testing.TB, n int) *FrameReader {
	tb.Helper()
	var stream bytes.Buffer
	fw := NewFrameWriter(&stream)
	for range n {
		if err := writeOut(fw, outEvent()); err != nil {
			tb.Fatal(err)
		}
	}
	return NewFrameReader(&loopReader{data: stream.Bytes()}, DefaultMaxFrame)
}

func TestEncodeOutAllocs(t *testing.T) {
	fw, ev := NewFrameWriter(io.Discard), outEvent()
	n := testing.AllocsPerRun(1000, func() {
		if err := writeOut(fw, ev); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("encoding an out event allocates %v times, want 0", n)
	}
}

func TestFrameReadAllocs(t *testing.T) {
	fr := frameLoop(t, 7)
	n := testing.AllocsPerRun(1000, func() {
		if _, err := fr.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("reading a frame allocates %v times, want 0", n)
	}
}

// TestDecodeOutAllocs checks what a controller pays to read output into a
// reused Out: Data reuses its storage, and the one allocation is the copy
// of the event name "out" that msgp makes for every string field.
func TestDecodeOutAllocs(t *testing.T) {
	payload, _ := AppendEvent(nil, 3, outEvent())
	var ev Out
	n := testing.AllocsPerRun(1000, func() {
		_, _, body, err := ParseEnvelope(payload)
		if err == nil {
			err = Decode(body, &ev, "out")
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	if n > 1 {
		t.Fatalf("decoding an out event allocates %v times, want at most 1 (the event name)", n)
	}
}

func BenchmarkEncodeOut(b *testing.B) {
	fw, ev := NewFrameWriter(io.Discard), outEvent()
	b.SetBytes(int64(len(ev.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := writeOut(fw, ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFrameRead(b *testing.B) {
	fr := frameLoop(b, 7)
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		p, err := fr.Next()
		if err != nil {
			b.Fatal(err)
		}
		n += int64(len(p))
	}
	b.SetBytes(n / int64(b.N))
}

func BenchmarkDecodeStart(b *testing.B) {
	payload, err := AppendRequest(nil, 7, MethodStart, sampleStart())
	if err != nil {
		b.Fatal(err)
	}
	var args StartArgs
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		_, _, body, err := ParseEnvelope(payload)
		if err != nil {
			b.Fatal(err)
		}
		_, raw, err := ParseRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		if err := DecodeStart(raw, &args); err != nil {
			b.Fatal(err)
		}
	}
}
