// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// maxCaseAlloc bounds what one hostile input may make the codec allocate.
// Each input below claims up to 4 GiB (a header of 0xFFFFFFFF elements, a
// 1 GiB bin); a decoder that trusted the claim would allocate gigabytes or
// die of an out-of-memory error, so 1 MiB, measured as the growth of
// runtime.MemStats.TotalAlloc over the case, separates the two by three
// orders of magnitude while leaving room for the frame buffer and the
// test's own bookkeeping. Tests that measure it must not run in parallel.
const maxCaseAlloc = 1 << 20

// allocated returns the bytes allocated by the whole process while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// hostileValues are single MessagePack values that announce far more than
// follows them. Each is followed by a few bytes, so that a decoder that
// believes the header finds some data before it runs out.
var hostileValues = []struct {
	name string
	b    []byte
}{
	{"array32 0xFFFFFFFF", header(0xdd, 0xFFFFFFFF)},
	{"array32 2^28", header(0xdd, 1<<28)},
	{"map32 0xFFFFFFFF", header(0xdf, 0xFFFFFFFF)},
	{"map32 2^28", header(0xdf, 1<<28)},
	{"bin32 1 GiB", header(0xc6, 1<<30)},
	{"str32 1 GiB", header(0xdb, 1<<30)},
}

// header returns a 32-bit header of type lead announcing n, with three
// bytes of plausible content behind it.
func header(lead byte, n uint32) []byte {
	b := []byte{lead, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], n)
	return append(b, 0xa1, 'x', 0x01)
}

// valueSpans returns the [start, end) offsets of every MessagePack value
// in b, at every depth: the whole, each key, each value, each element.
func valueSpans(b []byte) [][2]int {
	var spans [][2]int
	var walk func(off int) int
	walk = func(off int) int {
		start := off
		n := uint32(0)
		rest := b[off:]
		switch msgp.NextType(rest) {
		case msgp.ArrayType:
			n, rest, _ = msgp.ReadArrayHeaderBytes(rest)
		case msgp.MapType:
			n, rest, _ = msgp.ReadMapHeaderBytes(rest)
			n *= 2
		default:
			rest, _ = msgp.Skip(rest)
		}
		off = len(b) - len(rest)
		for ; n > 0; n-- {
			off = walk(off)
		}
		spans = append(spans, [2]int{start, off})
		return off
	}
	walk(0)
	return spans
}

// replaced returns b with b[span[0]:span[1]] replaced by v.
func replaced(b []byte, span [2]int, v []byte) []byte {
	out := append([]byte(nil), b[:span[0]]...)
	out = append(out, v...)
	return append(out, b[span[1]:]...)
}

// TestHostileValues puts each hostile value in place of every value of
// every sample, envelope included, and checks that the frame is refused
// with a resumable *DecodeError without allocating what the value claims.
// The frame path goes through ParseEnvelope, whose Walk refuses any count
// larger than the bytes left; the direct path hands the body straight to
// the generated decoder, whose limits refuse the same counts.
func TestHostileValues(t *testing.T) {
	for _, s := range samples() {
		payload, err := appendSample(nil, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, hv := range hostileValues {
			t.Run(s.name+"/"+hv.name, func(t *testing.T) {
				for _, span := range valueSpans(payload) {
					bad := replaced(payload, span, hv.b)
					checkRefusedFrame(t, fmt.Sprintf("value at %d", span[0]), bad, s.method)
				}
				if s.body != nil {
					checkRefusedBodies(t, s, hv.b)
				}
			})
		}
	}
}

// checkRefusedFrame sends payload as one frame and expects a resumable
// decode error within maxCaseAlloc.
func checkRefusedFrame(t *testing.T, what string, payload []byte, method string) {
	t.Helper()
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	frame = append(frame, payload...)
	var err error
	n := allocated(func() {
		fr := NewFrameReader(bytes.NewReader(frame), DefaultMaxFrame)
		var p []byte
		if p, err = fr.Next(); err == nil {
			_, err = decodePayload(p, method)
		}
	})
	checkResumable(t, what, err, n)
}

// checkRefusedBodies decodes, with the generated decoder alone, the body
// of s with each of its values replaced by hv.
func checkRefusedBodies(t *testing.T, s sample, hv []byte) {
	t.Helper()
	body := mustMarshal(s.body)
	for _, span := range valueSpans(body) {
		bad := replaced(body, span, hv)
		var err error
		n := allocated(func() { err = Unmarshal(bad, typeOf(s), s.name) })
		checkResumable(t, fmt.Sprintf("body value at %d", span[0]), err, n)
	}
}

func checkResumable(t *testing.T, what string, err error, alloc uint64) {
	t.Helper()
	var de *DecodeError
	switch {
	case err == nil:
		t.Fatalf("%s: accepted", what)
	case !errors.As(err, &de):
		t.Fatalf("%s: error %v (%T) is not a *DecodeError", what, err, err)
	case Fatal(err):
		t.Fatalf("%s: decode error %v is fatal", what, err)
	case alloc > maxCaseAlloc:
		t.Fatalf("%s: allocated %d bytes (limit %d) before %v", what, alloc, maxCaseAlloc, err)
	}
}

// TestDeepNesting sends 100,000 nested arrays, as a body and as the value
// of an unknown key. Walk stops at MaxDepth: the cost is that of reading
// 17 headers, not of recursing 100,000 times.
func TestDeepNesting(t *testing.T) {
	deep := bytes.Repeat([]byte{0x91}, 100_000)
	deep = append(deep, 0xc0)
	asBody := append(AppendEnvelope(nil, KindPing, 1), deep...)
	asKey := append(AppendEnvelope(nil, KindEvent, 3), 0x82, 0xa1, 'k', 0xa3, 'o', 'u', 't', 0xa1, 'z')
	asKey = append(asKey, deep...)
	asExtra := append(append(msgp.AppendArrayHeader(nil, 4), 0x0e, 0x01, 0x80), deep...)
	tests := []struct {
		name    string
		payload []byte
	}{
		{"body", asBody},
		{"unknown key", asKey},
		{"extra envelope element", asExtra},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, err = decodePayload(tt.payload, "") })
			if !errors.Is(err, ErrTooDeep) {
				t.Fatalf("error %v, want ErrTooDeep", err)
			}
			checkResumable(t, tt.name, err, n)
		})
	}
}

// TestWalkCounts checks Walk's refusal of counts that the bytes left
// cannot hold, at the limits of the count arithmetic.
func TestWalkCounts(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"array of 3 with 3", []byte{0x93, 1, 2, 3}, true},
		{"array of 3 with 2", []byte{0x93, 1, 2}, false},
		{"map of 2 with 3 items", []byte{0x82, 1, 2, 3}, false},
		{"map32 2^31 overflowing 2n", append(header(0xdf, 1<<31), make([]byte, 8)...), false},
		{"map32 0xFFFFFFFF", header(0xdf, 0xFFFFFFFF), false},
		{"bin8 short", []byte{0xc4, 5, 1}, false},
		{"depth 16", append(bytes.Repeat([]byte{0x91}, 16), 0xc0), true},
		{"depth 17", append(bytes.Repeat([]byte{0x91}, 17), 0xc0), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rest, err := Walk(tt.in, MaxDepth)
			if (err == nil) != tt.ok || (tt.ok && len(rest) != 0) {
				t.Fatalf("Walk = %x, %v; want ok %v", rest, err, tt.ok)
			}
		})
	}
}

// TestHostileFrames feeds streams that are wrong at the framing level.
// Every one must end with a *FrameError of the right kind, which is fatal,
// without reading or allocating what a length claims.
func TestHostileFrames(t *testing.T) {
	ping := mustFrame(t, sample{kind: KindPing, id: 1, body: &Ping{T1: 1}})
	tests := []struct {
		name    string
		stream  []byte
		max     int
		preface bool // call ReadPreface first
		want    FrameErrorKind
	}{
		{"http as preface", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), DefaultMaxFrame, true, ErrBadPreface},
		{"http as frame", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), DefaultMaxFrame, false, ErrBadLength},
		{"short preface", []byte("tace"), DefaultMaxFrame, true, ErrTruncated},
		{"top byte set", []byte{0x01, 0, 0, 5, 0x93, 1, 0, 0x80, 0}, HardMaxFrame, false, ErrBadLength},
		{"length 0xFFFFFFFF", []byte{0xff, 0xff, 0xff, 0xff, 0x93}, HardMaxFrame, false, ErrBadLength},
		{"over the limit", lengthOnly(DefaultMaxFrame + 1), DefaultMaxFrame, false, ErrFrameTooLarge},
		{"within the limit, cut", lengthOnly(64 << 10), DefaultMaxFrame, false, ErrTruncated},
		{"pre-auth over 4 KiB", lengthOnly(PreAuthMaxFrame + 1), PreAuthMaxFrame, false, ErrFrameTooLarge},
		{"empty frame", []byte{0, 0, 0, 0}, DefaultMaxFrame, false, ErrEmptyFrame},
		{"truncated header", []byte{0, 0}, DefaultMaxFrame, false, ErrTruncated},
		{"truncated payload", ping[:len(ping)-1], DefaultMaxFrame, false, ErrTruncated},
		{"truncated after a frame", append(ping, 0, 0, 0, 9, 0x93), DefaultMaxFrame, false, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			n := allocated(func() { err = readAll(tt.stream, tt.max, tt.preface) })
			var fe *FrameError
			if !errors.As(err, &fe) || fe.Kind != tt.want {
				t.Fatalf("error %v, want a *FrameError of kind %d", err, tt.want)
			}
			if !Fatal(err) {
				t.Fatalf("frame error %v is not fatal", err)
			}
			if n > maxCaseAlloc {
				t.Fatalf("allocated %d bytes, limit %d", n, maxCaseAlloc)
			}
		})
	}
}

// TestPreAuthLimitDetail checks what ErrFrameTooLarge reports, which a
// daemon puts in its GOAWAY LIMIT.
func TestPreAuthLimitDetail(t *testing.T) {
	err := readAll(lengthOnly(PreAuthMaxFrame+1), PreAuthMaxFrame, false)
	var fe *FrameError
	if !errors.As(err, &fe) || fe.Length != PreAuthMaxFrame+1 || fe.Max != PreAuthMaxFrame {
		t.Fatalf("error %#v", err)
	}
}

// readAll reads frames from stream until an error, which it returns; a
// clean end of stream is not an error here.
func readAll(stream []byte, max int, preface bool) error {
	fr := NewFrameReader(bytes.NewReader(stream), max)
	if preface {
		if err := fr.ReadPreface(); err != nil {
			return err
		}
	}
	for {
		if _, err := fr.Next(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// lengthOnly returns a frame header announcing n bytes, and a few bytes.
func lengthOnly(n uint32) []byte {
	return append(binary.BigEndian.AppendUint32(nil, n), 0x93, 0x01, 0x00)
}

func mustFrame(t *testing.T, s sample) []byte {
	t.Helper()
	f, err := frameOf(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFatal checks that Fatal tells framing errors, decode errors and
// other errors apart, through wrapping.
func TestFatal(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"frame error", &FrameError{Kind: ErrBadLength}, true},
		{"decode error", &DecodeError{What: "x", Err: ErrTrailing}, false},
		{"wrapped decode error", fmt.Errorf("conn 3: %w", &DecodeError{What: "x", Err: ErrTooDeep}), false},
		{"wrapped frame error", fmt.Errorf("conn 3: %w", &FrameError{Kind: ErrTruncated, Err: io.ErrUnexpectedEOF}), true},
		{"i/o error", io.ErrClosedPipe, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fatal(tt.err); got != tt.want {
				t.Fatalf("Fatal(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
