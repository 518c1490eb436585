// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"bytes"
	"testing"
)

// TestStaleFieldsWithoutReset shows the msgp behaviour that Reset exists
// for: a field absent from the second message keeps the first's value.
// If this starts failing, msgp changed and Reset may be simplified.
func TestStaleFieldsWithoutReset(t *testing.T) {
	var v StartArgs
	if err := Unmarshal(mustMarshal(sampleStart()), &v, "first"); err != nil {
		t.Fatal(err)
	}
	second := mustHex(t, "81a461726776"+"91c40474727565") // {"argv": [b"true"]}
	if err := Unmarshal(second, &v, "second"); err != nil {
		t.Fatal(err)
	}
	if v.Tag == "" || v.Nice == 0 {
		t.Fatalf("msgp cleared absent fields (%+v); revisit the Reset methods", v)
	}
}

// TestReuseKeepsNoStaleField decodes a full message, then one lacking
// keys, into the same value, and expects what a fresh value decodes.
func TestReuseKeepsNoStaleField(t *testing.T) {
	rlimOnlyName := &StartArgs{Rlimits: []Rlimit{{Name: "core"}}}
	tests := []struct {
		name   string
		first  Message
		second []byte // body of the second message
	}{
		{"start, argv only", sampleStart(), mustHex(t, "81a461726776"+"91c40474727565")},
		{"start, empty map", sampleStart(), []byte{0x80}},
		{"start, rlimit element lacking soft and hard", sampleStart(),
			mustHex(t, "81a4726c696d"+"9181a172a4636f7265")},
		{"start, rlimit element", sampleStart(), mustMarshal(rlimOnlyName)},
		{"out, no data", eventSamples()[0].body, mustHex(t, "82a16ba36f7574a16801")},
		{"exit, no lengths", ptr(sampleExit()), mustHex(t, "81a3706964cd1234")},
		{"exit, empty rusage", ptr(sampleExit()), mustHex(t, "81a27275"+"80")},
		{"subscribe, handle only", requestSamples()[12].body, mustHex(t, "81a16807")},
		{"list, element lacking keys", sampleList(), mustHex(t, "81a570726f6373"+"9281a1680180")},
		{"read result, no data", responseSamples()[7].body, mustHex(t, "81a16f05")},
		{"hello, nonce only", handshakeSamples()[0].body, mustHex(t, "81a2636ec40101")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reused := tt.first
			if err := Decode(mustMarshal(tt.first), reused, "first"); err != nil {
				t.Fatal(err)
			}
			if err := Decode(tt.second, reused, "second"); err != nil {
				t.Fatal(err)
			}
			fresh := typeOfMessage(tt.first)
			if err := Unmarshal(tt.second, fresh, "fresh"); err != nil {
				t.Fatal(err)
			}
			if !equalValues(reused, fresh) {
				t.Errorf("reused\n%s\nfresh\n%s", describe(reused), describe(fresh))
			}
			if !bytes.Equal(mustMarshal(reused), mustMarshal(fresh)) {
				t.Errorf("reused and fresh values encode differently")
			}
		})
	}
}

func typeOfMessage(m Message) Message { return typeOf(sample{body: m}) }

// TestDecodeStartReusesStorage checks that DecodeStart into a warm value
// allocates only the strings of the message, not its slices.
func TestDecodeStartReusesStorage(t *testing.T) {
	body := mustMarshal(sampleStart())
	var v StartArgs
	if err := DecodeStart(body, &v); err != nil {
		t.Fatal(err)
	}
	argv0 := &v.Argv[0][0]
	if err := DecodeStart(body, &v); err != nil {
		t.Fatal(err)
	}
	if &v.Argv[0][0] != argv0 {
		t.Error("argv[0] was reallocated on reuse")
	}
	// Strings always allocate in msgp: user, group, pgroup, tag, env and
	// stdin modes, and the rlimit names but the short ones it interns.
	const maxAllocs = 10
	n := testing.AllocsPerRun(100, func() {
		if err := DecodeStart(body, &v); err != nil {
			t.Fatal(err)
		}
	})
	if n > maxAllocs {
		t.Errorf("DecodeStart allocates %v times per call, want at most %d", n, maxAllocs)
	}
	if !equalValues(&v, sampleStart()) {
		t.Errorf("decoded\n%s", describe(&v))
	}
}

// TestEveryBodyTypeResets checks that Reset of every body type returns
// a value that encodes like a zero value.
func TestEveryBodyTypeResets(t *testing.T) {
	for _, s := range samples() {
		if s.body == nil {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			v := typeOf(s)
			if err := Decode(mustMarshal(s.body), v, s.name); err != nil {
				t.Fatal(err)
			}
			v.Reset()
			if got, want := mustMarshal(v), mustMarshal(typeOf(s)); !bytes.Equal(got, want) {
				t.Errorf("after Reset encodes as %x, want %x", got, want)
			}
		})
	}
}
