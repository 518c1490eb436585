// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// generated matches the directive of a file whose code msgp generates.
var generated = regexp.MustCompile(`(?m)^//go:generate go tool msgp `)

// TestGeneratedCodeIsFresh runs msgp again on every message file and
// fails if its output differs from the committed _gen.go file: a field
// added to a message without regenerating would otherwise be silently
// absent from the wire.
func TestGeneratedCodeIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short mode: runs the msgp generator")
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !generated.Match(src) {
			continue
		}
		gen := strings.TrimSuffix(f, ".go") + "_gen.go"
		t.Run(f, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), gen)
			cmd := exec.Command("go", "tool", "msgp", "-file="+f, "-o="+out, "-io=false", "-tests=false")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("msgp: %v\n%s", err, b)
			}
			want, _ := os.ReadFile(gen)
			got, _ := os.ReadFile(out)
			if !bytes.Equal(want, got) {
				t.Fatalf("%s is stale: run go generate ./codec", gen)
			}
		})
	}
}
