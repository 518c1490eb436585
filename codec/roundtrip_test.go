// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// TestRoundTrip writes every sample as a frame, reads it back through a
// FrameReader and the dispatcher, and compares the value.
func TestRoundTrip(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			frame, err := frameOf(s)
			if err != nil {
				t.Fatal(err)
			}
			fr := NewFrameReader(bytes.NewReader(frame), DefaultMaxFrame)
			p, err := fr.Next()
			if err != nil {
				t.Fatal(err)
			}
			checkDecoded(t, s, p)
		})
	}
}

// checkDecoded decodes payload p and compares it with sample s.
func checkDecoded(t *testing.T, s sample, p []byte) {
	t.Helper()
	d, err := decodePayload(p, s.method)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if d.kind != s.kind || d.id != s.id {
		t.Fatalf("envelope = (%d, %d), want (%d, %d)", d.kind, d.id, s.kind, s.id)
	}
	if s.kind == KindRequest && d.method != s.method {
		t.Fatalf("method = %q, want %q", d.method, s.method)
	}
	got := d.body
	if s.isErr {
		got = d.rerr
	}
	if (got == nil) != (s.body == nil) {
		t.Fatalf("body = %v, want %v", got, s.body)
	}
	if got != nil && !equalValues(got, s.body) {
		t.Errorf("decoded\n%s\nwant\n%s", describe(got), describe(s.body))
	}
}

// TestIntEncoding checks that Int is written in the smallest form of the
// unsigned family when it is not negative, as Python and JavaScript
// encoders write it, and that both families are read.
func TestIntEncoding(t *testing.T) {
	tests := []struct {
		v    Int
		want string
	}{
		{0, "00"}, {5, "05"}, {127, "7f"}, {128, "cc80"}, {255, "ccff"}, {256, "cd0100"},
		{65536, "ce00010000"}, {1 << 32, "cf0000000100000000"},
		{math.MaxInt64, "cf7fffffffffffffff"},
		{-1, "ff"}, {-5, "fb"}, {-32, "e0"}, {-33, "d0df"}, {-128, "d080"},
		{-129, "d1ff7f"}, {-32769, "d2ffff7fff"}, {math.MinInt64, "d38000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			b, _ := tt.v.MarshalMsg(nil)
			if got := hex.EncodeToString(b); got != tt.want {
				t.Fatalf("Int(%d) = %s, want %s", tt.v, got, tt.want)
			}
			var back Int
			if rest, err := back.UnmarshalMsg(b); err != nil || len(rest) != 0 || back != tt.v {
				t.Fatalf("read back %d, rest %x, err %v", back, rest, err)
			}
		})
	}
}

// TestIntDecodeFamilies checks that Int reads a value written in a family
// or size other than the canonical one, and refuses one it cannot hold.
func TestIntDecodeFamilies(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Int
		err  bool
	}{
		{"int8 5", []byte{0xd0, 0x05}, 5, false},
		{"uint64 5", []byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 5}, 5, false},
		{"int64 -5", []byte{0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb}, -5, false},
		{"uint64 max", []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0, true},
		{"str", []byte{0xa1, '5'}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v Int
			_, err := v.UnmarshalMsg(tt.in)
			if (err != nil) != tt.err || v != tt.want {
				t.Fatalf("got %d, %v; want %d, error %v", v, err, tt.want, tt.err)
			}
		})
	}
}

// TestCanonicalFields checks the bytes of a few fields inside whole
// bodies: nice in the unsigned family when positive, uint fields in the
// smallest form, kinds of 0x80 and more as uint8.
func TestCanonicalFields(t *testing.T) {
	nice := func(n Int) []byte {
		b, _ := (&StartArgs{Nice: n}).MarshalMsg(nil)
		return b
	}
	tests := []struct {
		name     string
		enc      []byte
		contains string
	}{
		{"nice 5", nice(5), "a46e69636505"},   // "nice" 0x05
		{"nice -5", nice(-5), "a46e696365fb"}, // "nice" 0xfb
		{"nice 200", nice(200), "a46e696365ccc8"},
		{"credit 1", mustMarshal(&Credit{Bytes: 1}), "81a16201"},
		{"credit 4 GiB+1", mustMarshal(&Credit{Bytes: 1<<32 + 1}), "81a162cf0000000100000001"},
		{"stream uint8", mustMarshal(&EOS{Stream: 2}), "a17302"},
		{"cpu 300 as uint16", mustMarshal(&StartArgs{CPUs: []uint16{300}}), "a463707573" + "91cd012c"},
		{"pid max as uint32", mustMarshal(&State{PID: samplePIDMax}), "a3706964ce003fffff"},
		{"empty envelope id", AppendEnvelope(nil, KindHello, 0), "930100"},
		{"extension kind", AppendEnvelope(nil, 0x80, 70000), "93cc80ce00011170"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(tt.enc, mustHex(t, tt.contains)) {
				t.Fatalf("%x does not contain %s", tt.enc, tt.contains)
			}
		})
	}
}

// TestEveryFieldWritten checks that a zero value is written with all its
// keys, in the order of the struct, as the canonical encoding requires.
func TestEveryFieldWritten(t *testing.T) {
	for _, bt := range bodyTypes {
		t.Run(bt.name, func(t *testing.T) {
			b := mustMarshal(bt.new())
			n, _, err := msgp.ReadMapHeaderBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			fields := reflect.TypeOf(bt.new()).Elem().NumField()
			if int(n) != fields {
				t.Fatalf("map of %d keys, struct has %d fields", n, fields)
			}
			if _, err := Walk(b, MaxDepth); err != nil {
				t.Fatalf("Walk refused a zero %s: %v", bt.name, err)
			}
		})
	}
}

func mustMarshal(m msgp.Marshaler) []byte {
	b, err := m.MarshalMsg(nil)
	if err != nil {
		panic(err)
	}
	return b
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnknownKeysSkipped adds keys a later version might send, before and
// after the known ones, to every sample's body and expects the same value.
func TestUnknownKeysSkipped(t *testing.T) {
	for _, s := range samples() {
		if s.body == nil {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			body := mustMarshal(s.body)
			extended := withExtraKeys(t, body)
			v := typeOf(s)
			if err := Decode(extended, v, s.name); err != nil {
				t.Fatalf("decode with extra keys: %v", err)
			}
			if !equalValues(v, s.body) {
				t.Errorf("decoded\n%s\nwant\n%s", describe(v), describe(s.body))
			}
		})
	}
}

// withExtraKeys returns the map body with two unknown keys added: one
// holding a nested value first and one holding a bin last.
func withExtraKeys(t *testing.T, body []byte) []byte {
	t.Helper()
	n, rest, err := msgp.ReadMapHeaderBytes(body)
	if err != nil {
		t.Fatal(err)
	}
	b := msgp.AppendMapHeader(nil, n+2)
	b = msgp.AppendString(b, "zz-future")
	b = append(b, 0x92, 0x81, 0xa1, 'x', 0x90, 0xc0) // [{"x": []}, nil]
	b = append(b, rest...)
	b = msgp.AppendString(b, "bin-future")
	return msgp.AppendBytes(b, []byte{0xff, 0x00})
}

// TestEnvelopeCompat covers what protocol v1 promises later versions:
// extra envelope elements are ignored, kinds from 0x80 parse and are
// skipped, unknown request methods and events are not errors of framing.
func TestEnvelopeCompat(t *testing.T) {
	hello := mustMarshal(&Ping{T1: 1})
	tests := []struct {
		name    string
		payload []byte
		kind    uint8
		wantErr error
	}{
		{"extra elements", append(append(msgp.AppendArrayHeader(nil, 5), 0x0e, 0x05),
			append(hello, 0xa3, 'n', 'e', 'w', 0x91, 0x01)...), KindPing, nil},
		{"extension kind 0x80", append(AppendEnvelope(nil, 0x80, 1), 0x81, 0xa1, 'q', 0x01), 0x80, nil},
		{"extension kind 0xff", append(AppendEnvelope(nil, 0xff, 0), 0x90), 0xff, nil},
		{"unknown kind 0x7f", append(AppendEnvelope(nil, 0x7f, 0), 0x80), 0x7f, errUnknownKind},
		{"unknown event", append(AppendEnvelope(nil, KindEvent, 0),
			0x82, 0xa1, 'k', 0xa3, 'n', 'e', 'w', 0xa1, 'v', 0x01), KindEvent, nil},
		{"two elements", []byte{0x92, 0x0e, 0x05}, 0, ErrBadEnvelop},
		{"kind 256", []byte{0x93, 0xcd, 0x01, 0x00, 0x00, 0x80}, 0, msgp.UintOverflow{}},
		{"trailing bytes", append(AppendEnvelope(nil, KindPing, 1), 0x80, 0x00), 0, ErrTrailing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := decodePayload(tt.payload, "")
			checkErr(t, err, tt.wantErr)
			if err == nil && d.kind != tt.kind {
				t.Fatalf("kind = %#x, want %#x", d.kind, tt.kind)
			}
		})
	}
}

// checkErr fails unless err matches want: nil for success, a sentinel
// for errors.Is, or a zero msgp error type to be matched by type.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	switch want.(type) {
	case nil:
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	case msgp.UintOverflow:
		var target msgp.UintOverflow
		if !errors.As(err, &target) {
			t.Fatalf("error %v, want a msgp.UintOverflow", err)
		}
	default:
		if !errors.Is(err, want) {
			t.Fatalf("error %v, want %v", err, want)
		}
	}
	var de *DecodeError
	if !errors.As(err, &de) || Fatal(err) {
		t.Fatalf("error %v (%T) is not a resumable *DecodeError", err, err)
	}
}

// TestUnknownMethodArgs checks that a request for a method this version
// does not know still parses, with its arguments skipped.
func TestUnknownMethodArgs(t *testing.T) {
	payload, err := AppendRequest(nil, 4, "proc.teleport", &SignalArgs{Handle: 1})
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodePayload(payload, "")
	if err != nil || d.method != "proc.teleport" {
		t.Fatalf("got %+v, %v", d, err)
	}
}
