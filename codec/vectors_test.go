// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

var update = flag.Bool("update", false, "rewrite spec/vectors and the fuzz seed corpus from the samples")

const vectorDir = "../spec/vectors"

// vectorFile is the readable description of a vector, NAME.json beside
// NAME.bin. Value is the decoded payload: maps keep their key order, bin
// is {"bin": "<hex>"}, str is a JSON string.
type vectorFile struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Kind        uint8  `json:"kind"`
	ID          uint32 `json:"id"`
	Method      string `json:"method,omitempty"`
	Length      int    `json:"length"` // of the payload, as in the frame header
	Value       any    `json:"value"`
}

// TestVectors compares every sample with its golden vector in
// spec/vectors: the frame byte for byte, the JSON description, and the
// value decoded from the file. With -update it rewrites the vectors.
func TestVectors(t *testing.T) {
	all := samples()
	files := map[string][]byte{"README.md": vectorsReadme(t, all)}
	for _, s := range all {
		frame := mustFrame(t, s)
		files[s.name+".bin"] = frame
		files[s.name+".json"] = vectorJSON(t, s, frame)
	}
	if *update {
		writeDir(t, vectorDir, files, ".bin", ".json", ".md")
	}
	for _, s := range all {
		t.Run(s.name, func(t *testing.T) {
			checkVector(t, s, files)
		})
	}
	t.Run("README.md", func(t *testing.T) { checkFile(t, vectorDir, "README.md", files) })
	checkNoStrays(t, vectorDir, files)
}

// checkVector compares the files of s with what the samples produce, and
// decodes the frame file as a peer would.
func checkVector(t *testing.T, s sample, files map[string][]byte) {
	t.Helper()
	checkFile(t, vectorDir, s.name+".json", files)
	frame := checkFile(t, vectorDir, s.name+".bin", files)
	fr := NewFrameReader(bytes.NewReader(frame), DefaultMaxFrame)
	p, err := fr.Next()
	if err != nil {
		t.Fatal(err)
	}
	checkDecoded(t, s, p)
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("more than one frame in %s.bin: %v", s.name, err)
	}
}

// checkFile reads dir/name, compares it with files[name] and returns it.
func checkFile(t *testing.T, dir, name string, files map[string][]byte) []byte {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("%v (run go test ./codec -run 'TestVectors|TestFuzzSeeds' -update)", err)
	}
	if !bytes.Equal(got, files[name]) {
		t.Fatalf("%s differs from what the code writes; if the change is intended, "+
			"run with -update and review the diff\n got %q\nwant %q", name, clip(got), clip(files[name]))
	}
	return got
}

func clip(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

// checkNoStrays fails for a file in dir that the samples do not produce,
// such as the vector of a renamed sample.
func checkNoStrays(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := files[e.Name()]; !ok && !strings.HasPrefix(e.Name(), ".") {
			t.Errorf("stray file %s in %s", e.Name(), dir)
		}
	}
}

// writeDir writes files into dir and removes the files with one of the
// suffixes that are not in files.
func writeDir(t *testing.T, dir string, files map[string][]byte, suffixes ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		_, keep := files[e.Name()]
		for _, suf := range suffixes {
			if !keep && strings.HasSuffix(e.Name(), suf) {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func vectorJSON(t *testing.T, s sample, frame []byte) []byte {
	t.Helper()
	payload := frame[headerLen:]
	value, rest, err := toJSON(payload)
	if err != nil || len(rest) != 0 {
		t.Fatalf("%s: payload as JSON: %v, %d bytes left", s.name, err, len(rest))
	}
	v := vectorFile{Name: s.name, Description: s.desc, Kind: s.kind, ID: s.id,
		Method: s.method, Length: len(payload), Value: value}
	return marshalJSON(t, v, "  ")
}

func marshalJSON(t *testing.T, v any, indent string) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// orderedMap is a MessagePack map as JSON, in the order of its keys on
// the wire.
type orderedMap []struct {
	key   string
	value any
}

func (m orderedMap) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('{')
	for i, kv := range m {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(kv.key); err != nil {
			return nil, err
		}
		buf.WriteByte(':')
		if err := enc.Encode(kv.value); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// binJSON is a bin value as JSON: {"bin": "<hex>"}, so that bytes that
// are not UTF-8 can be shown.
type binJSON struct {
	Bin string `json:"bin"`
}

// floatJSON writes a float64 with a decimal point or an exponent always,
// so that a JSON reader tells 1.0 from the integer 1.
func floatJSON(f float64) json.Number {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return json.Number(s)
}

var errNotInSchema = errors.New("type not used by protocol v1")

// toJSON converts the first MessagePack value of b to a value that
// encoding/json writes as the vector files show it.
func toJSON(b []byte) (any, []byte, error) {
	switch msgp.NextType(b) {
	case msgp.MapType:
		return mapToJSON(b)
	case msgp.ArrayType:
		n, b, err := msgp.ReadArrayHeaderBytes(b)
		arr := make([]any, 0, n)
		for ; err == nil && n > 0; n-- {
			var v any
			v, b, err = toJSON(b)
			arr = append(arr, v)
		}
		return arr, b, err
	case msgp.BinType:
		v, b, err := msgp.ReadBytesZC(b)
		return binJSON{hex.EncodeToString(v)}, b, err
	case msgp.StrType:
		return msgp.ReadStringBytes(b)
	case msgp.UintType:
		return msgp.ReadUint64Bytes(b)
	case msgp.IntType:
		return msgp.ReadInt64Bytes(b)
	case msgp.BoolType:
		return msgp.ReadBoolBytes(b)
	case msgp.Float64Type:
		f, b, err := msgp.ReadFloat64Bytes(b)
		return floatJSON(f), b, err
	case msgp.NilType:
		b, err := msgp.ReadNilBytes(b)
		return nil, b, err
	}
	return nil, b, errNotInSchema
}

func mapToJSON(b []byte) (any, []byte, error) {
	n, b, err := msgp.ReadMapHeaderBytes(b)
	m := make(orderedMap, n)
	for i := range m {
		if err != nil {
			break
		}
		var key string
		if key, b, err = msgp.ReadStringBytes(b); err == nil {
			m[i].key = key
			m[i].value, b, err = toJSON(b)
		}
	}
	return m, b, err
}

// vectorsReadme returns spec/vectors/README.md: how the vectors are made
// and checked, and a table of them.
func vectorsReadme(t *testing.T, all []sample) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString(readmeHead)
	b.WriteString("| File | Kind | Id | Method | Payload bytes | What |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, s := range all {
		frame := mustFrame(t, s)
		fmt.Fprintf(&b, "| `%s` | %s | %d | %s | %d | %s |\n",
			s.name, kindName(s.kind), s.id, s.method, len(frame)-headerLen, s.desc)
	}
	return []byte(b.String())
}

func kindName(k uint8) string {
	names := map[uint8]string{KindHello: "HELLO", KindWelcome: "WELCOME", KindAuth: "AUTH",
		KindReady: "READY", KindRequest: "REQUEST", KindResponse: "RESPONSE", KindEvent: "EVENT",
		KindCredit: "CREDIT", KindPing: "PING", KindPong: "PONG", KindGoaway: "GOAWAY"}
	return fmt.Sprintf("%d %s", k, names[k])
}

const readmeHead = `# Golden vectors of protocol v1

Each vector is one valid frame exactly as it travels on the wire:
` + "`NAME.bin`" + ` holds the 4-byte big-endian length and the MessagePack
payload, the envelope ` + "`[kind, id, body]`" + `. ` + "`NAME.json`" + ` describes it:
kind, id, method, payload length, and ` + "`value`" + `, the decoded payload, in
which maps keep their wire order, bin is ` + "`{\"bin\": \"<hex>\"}`" + ` and str is a
JSON string. Integers are exact (some exceed 2^53); a float64 (only in
samples) always has a decimal point or an exponent.

The files are written by the Go codec (` + "`codec/vectors_test.go`" + `) and are
the reference for other implementations:

    go test ./codec -run TestVectors            # Go encodes and decodes each one
    go test ./codec -run 'TestVectors|TestFuzzSeeds' -update   # rewrite them; review the diff
    /usr/bin/python3 spec/check_vectors.py      # Debian's python3-msgpack agrees

The Python check decodes every payload, re-encodes it with
` + "`msgpack.packb(obj, use_bin_type=True)`" + ` and requires the same bytes, which
shows that the Go encoding is the canonical one: smallest integer forms,
the unsigned family for values that are not negative, str8 for strings of
32 to 255 bytes, bin for bytes.

Only valid frames live here; hostile inputs are in the Go tests and the
fuzz corpora under ` + "`codec/testdata/fuzz`" + `. Methods without arguments
(` + "`host.info`" + `, ` + "`proc.list`" + `) send ` + "`{}`" + `; methods of
` + "`codec/methods.go`" + ` that have no argument type yet (` + "`file.*`" + `,
` + "`proc.collect`" + `) have no vector.

`
