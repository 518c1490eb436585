// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// Limits of the fuzz targets. The memory limit makes the garbage collector
// work hard near it, so that a decoder trusting a header shows up as a
// slow, huge heap instead of passing by luck; the per-input check catches
// smaller amplifications.
const (
	fuzzMemoryLimit = 512 << 20
	// An input may make the decoders allocate fuzzAllocBase bytes plus
	// fuzzAllocPerByte for each byte of it. Walk lets through one array
	// element per byte of input, and the largest element of an array in a
	// v1 body is a ProcInfo of a few hundred bytes, so a ListResult of
	// empty maps is the worst valid amplification.
	fuzzAllocBase    = 256 << 10
	fuzzAllocPerByte = 1024
)

// FuzzFrameReader reads an arbitrary stream as frames with the limit in
// force before authentication, and decodes each payload as a peer would.
// Whatever the input, reading must end with io.EOF or a typed error.
func FuzzFrameReader(f *testing.F) {
	debug.SetMemoryLimit(fuzzMemoryLimit)
	for _, s := range samples() {
		f.Add(mustFrameF(f, s))
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		n := allocated(func() { fuzzStream(t, stream) })
		checkFuzzAlloc(t, n, len(stream))
	})
}

func fuzzStream(t *testing.T, stream []byte) {
	fr := NewFrameReader(bytes.NewReader(stream), PreAuthMaxFrame)
	for {
		p, err := fr.Next()
		if err != nil {
			checkTyped(t, err, true)
			return
		}
		// A response is decoded as the result of the method named by the
		// first byte, since the stream does not say which request it answers.
		method := MethodStart
		if len(p) > 0 {
			method = resultMethods[int(p[0])%len(resultMethods)]
		}
		if _, err := decodePayload(p, method); err != nil {
			checkTyped(t, err, false)
		}
	}
}

var resultMethods = []string{MethodHostInfo, MethodStart, MethodStatus, MethodList,
	MethodWait, MethodSubscribe, MethodRead, MethodSignal}

// FuzzDecode decodes an arbitrary body as one of the body types, chosen
// by the first byte of the input, after the Walk that ParseEnvelope does.
// A body that decodes must encode to bytes that decode to the same value
// and re-encode identically: the encoding of a value is unique.
func FuzzDecode(f *testing.F) {
	debug.SetMemoryLimit(fuzzMemoryLimit)
	for _, s := range samples() {
		if s.body != nil {
			f.Add(append([]byte{typeIndex(s.body)}, mustMarshal(s.body)...))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		n := allocated(func() { fuzzBody(t, int(in[0])%len(bodyTypes), in[1:]) })
		checkFuzzAlloc(t, n, len(in))
	})
}

func fuzzBody(t *testing.T, sel int, body []byte) {
	if rest, err := Walk(body, MaxDepth); err != nil || len(rest) != 0 {
		return
	}
	bt := bodyTypes[sel]
	v := bt.new()
	if err := Unmarshal(body, v, bt.name); err != nil {
		checkTyped(t, err, false)
		return
	}
	enc := mustMarshal(v)
	w := bt.new()
	if err := Decode(enc, w, bt.name); err != nil {
		t.Fatalf("%s: re-encoded value %x does not decode: %v", bt.name, enc, err)
	}
	if !equalValues(v, w) || !bytes.Equal(mustMarshal(w), enc) {
		t.Fatalf("%s: round trip changed the value\n%s\n%s", bt.name, describe(v), describe(w))
	}
}

// checkTyped fails unless err is a *FrameError (fatal) or, for a payload,
// a *DecodeError (resumable).
func checkTyped(t *testing.T, err error, framing bool) {
	t.Helper()
	if err == io.EOF && framing {
		return
	}
	if Fatal(err) != framing {
		t.Fatalf("error %v (%T): Fatal = %v", err, err, Fatal(err))
	}
	if framing {
		if _, ok := err.(*FrameError); !ok {
			t.Fatalf("framing error %v is a %T", err, err)
		}
	} else if _, ok := err.(*DecodeError); !ok {
		t.Fatalf("decode error %v is a %T", err, err)
	}
}

func checkFuzzAlloc(t *testing.T, n uint64, size int) {
	t.Helper()
	if limit := uint64(fuzzAllocBase + fuzzAllocPerByte*size); n > limit {
		t.Fatalf("input of %d bytes allocated %d bytes, limit %d", size, n, limit)
	}
}

func typeIndex(m Message) byte {
	name := fmt.Sprintf("%T", m)
	for i, bt := range bodyTypes {
		if fmt.Sprintf("%T", bt.new()) == name {
			return byte(i)
		}
	}
	panic("no body type " + name)
}

func mustFrameF(f *testing.F, s sample) []byte {
	b, err := frameOf(s)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// TestFuzzSeeds checks the seed corpora in testdata/fuzz, which
// `go test ./codec` runs as tests: the golden vectors and the hostile
// inputs of the other tests. With -update it writes them.
func TestFuzzSeeds(t *testing.T) {
	for target, seeds := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		files := make(map[string][]byte, len(seeds))
		for name, in := range seeds {
			files[name] = fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", in)
		}
		// Files the fuzzer adds (failing inputs, kept as regression tests)
		// are neither checked nor removed.
		if *update {
			writeDir(t, dir, files)
		}
		t.Run(target, func(t *testing.T) {
			for name := range files {
				checkFile(t, dir, name, files)
			}
		})
	}
}

// fuzzSeeds returns the seed inputs of each fuzz target by file name.
func fuzzSeeds(t *testing.T) map[string]map[string][]byte {
	stream, decode := map[string][]byte{}, map[string][]byte{}
	var handshake []byte
	for _, s := range samples() {
		frame := mustFrame(t, s)
		stream["vector-"+s.name] = frame
		if s.kind <= KindReady {
			handshake = append(handshake, frame...)
		}
		if s.body != nil {
			decode["vector-"+s.name] = append([]byte{typeIndex(s.body)}, mustMarshal(s.body)...)
		}
	}
	stream["handshake"] = handshake
	stream["http"] = []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	stream["over-preauth-limit"] = lengthOnly(PreAuthMaxFrame + 1)
	stream["empty-frame"] = []byte{0, 0, 0, 0}
	stream["truncated"] = handshake[:len(handshake)-3]
	deep := append(bytes.Repeat([]byte{0x91}, 3000), 0xc0)
	stream["deep"] = binary.BigEndian.AppendUint32(nil, uint32(len(deep)+3))
	stream["deep"] = append(append(stream["deep"], 0x93, 0x0e, 0x01), deep...)
	for i, hv := range hostileValues {
		name := fmt.Sprintf("hostile-%d", i)
		p := append(AppendEnvelope(nil, KindRequest, 1), 0x82, 0xa1, 'm')
		p = append(append(msgp.AppendString(p, MethodStart), 0xa1, 'a', 0x81, 0xa4), "argv"...)
		stream[name] = append(binary.BigEndian.AppendUint32(nil, uint32(len(p)+len(hv.b))), p...)
		stream[name] = append(stream[name], hv.b...)
		for _, m := range []Message{&Hello{}, &StartArgs{}, &Out{}, &Exit{}, &ListResult{}} {
			sel := typeIndex(m)
			decode[fmt.Sprintf("%s-%02d", name, sel)] = append([]byte{sel}, hv.b...)
		}
	}
	decode["deep"] = append([]byte{typeIndex(&Out{})}, deep...)
	return map[string]map[string][]byte{"FuzzFrameReader": stream, "FuzzDecode": decode}
}
