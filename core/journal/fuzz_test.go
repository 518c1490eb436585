// SPDX-License-Identifier: Apache-2.0

package journal

import (
	"os"
	"path/filepath"
	"testing"

	"gitlab.com/tacet/tacet/codec"
)

// FuzzRead reads arbitrary files as journals: Read must stop at the
// first bad record, never fail otherwise on a file that starts like a
// journal, and Replay must accept whatever Read returns.
func FuzzRead(f *testing.F) {
	dir := f.TempDir()
	w, err := Create(filepath.Join(dir, "seed"), []Record{{K: KindInstance, Instance: []byte{1}}})
	if err != nil {
		f.Fatal(err)
	}
	w.Append(start(1, "a"))
	w.Append(&Record{K: KindExit, Handle: 1, Exit: &codec.Exit{Handle: 1, Lengths: []uint64{3, 0}}})
	w.Close()
	seed, _ := os.ReadFile(filepath.Join(dir, "seed"))
	f.Add(seed)
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		recs, err := Read(p)
		if err != nil && len(b) >= len(magic) && string(b[:len(magic)]) == magic {
			t.Fatalf("Read of a file with the magic: %v", err)
		}
		Replay(recs)
	})
}
