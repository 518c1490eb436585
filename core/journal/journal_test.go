// SPDX-License-Identifier: Apache-2.0

package journal

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gitlab.com/tacet/tacet/codec"
)

func start(h uint64, tag string) *Record {
	return &Record{K: KindStart, Handle: h, Tag: tag, Argv: [][]byte{[]byte("sh")}, PID: uint32(h),
		PStart: 1000 + h, State: "running", Spools: []string{"/s/" + tag + ".1", ""}}
}

func open(t *testing.T, recs ...Record) (*Writer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal")
	w, err := Create(path, recs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, path
}

func appendAll(t *testing.T, w *Writer, recs ...*Record) {
	t.Helper()
	for _, r := range recs {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
}

func load(t *testing.T, path string) *State {
	t.Helper()
	recs, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return Replay(recs)
}

// TestReplay folds starts, state changes, exits and releases into the
// processes still known, in start order.
func TestReplay(t *testing.T) {
	cgs := []string{"/cg/tacet-0102", "/cg/tacet-0001"}
	w, path := open(t, Record{K: KindInstance, Instance: []byte{1, 2}, Boot: "b", Cgroups: cgs})
	appendAll(t, w, start(1, "a"), start(2, "b"), start(3, "c"),
		&Record{K: KindState, Handle: 3, State: "running", Times: codec.Times{ExecMono: 7}},
		&Record{K: KindExit, Handle: 1, Exit: &codec.Exit{Handle: 1, Code: 3}},
		&Record{K: KindRelease, Handle: 2},
		&Record{K: KindExit, Handle: 9, Exit: &codec.Exit{Handle: 9}}, // never started
	)
	st := load(t, path)
	if string(st.Instance) != "\x01\x02" || st.Boot != "b" || !slices.Equal(st.Cgroups, cgs) {
		t.Errorf("instance %x boot %q cgroups %q", st.Instance, st.Boot, st.Cgroups)
	}
	if len(st.Procs) != 2 || st.Procs[0].Start.Handle != 1 || st.Procs[1].Start.Handle != 3 {
		t.Fatalf("procs %+v", st.Procs)
	}
	if p := st.Procs[0]; !p.Ended() || p.Exit.Code != 3 || p.Start.State != "exited" || p.Start.PStart != 1001 {
		t.Errorf("process 1: %+v exit %+v", p.Start, p.Exit)
	}
	if p := st.Procs[1]; p.Ended() || p.Start.Times.ExecMono != 7 || p.Start.Spools[0] != "/s/c.1" {
		t.Errorf("process 3: %+v", p.Start)
	}
}

// TestTornTail reads a journal whose last record was cut short, or whose
// last record is damaged, up to the record before it; appends after a
// reopen by Rewrite are readable again.
func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		hurt func(b []byte) []byte
	}{
		{"cut", func(b []byte) []byte { return b[:len(b)-3] }},
		{"flipped", func(b []byte) []byte { b[len(b)-2] ^= 0x40; return b }},
		{"huge length", func(b []byte) []byte { return append(b, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, path := open(t)
			appendAll(t, w, start(1, "a"), start(2, "b"))
			b, _ := os.ReadFile(path)
			os.WriteFile(path, tc.hurt(b), 0o600)
			st := load(t, path)
			want := 1
			if tc.name == "huge length" {
				want = 2
			}
			if len(st.Procs) != want {
				t.Fatalf("%d processes, want %d", len(st.Procs), want)
			}
		})
	}
}

// TestRewrite replaces the file by a snapshot and keeps appending to the
// new one.
func TestRewrite(t *testing.T) {
	w, path := open(t)
	for h := uint64(1); h <= 100; h++ {
		appendAll(t, w, start(h, "t"), &Record{K: KindRelease, Handle: h})
	}
	ended := *start(200, "kept")
	ended.Exit = &codec.Exit{Handle: 200, Signal: 9}
	if err := w.Rewrite([]Record{ended}); err != nil {
		t.Fatal(err)
	}
	appendAll(t, w, start(201, "new"))
	if w.Records() != 2 {
		t.Errorf("%d records after the rewrite and an append, want 2", w.Records())
	}
	st := load(t, path)
	if len(st.Procs) != 2 || st.Procs[0].Exit == nil || st.Procs[0].Exit.Signal != 9 || st.Procs[1].Start.Tag != "new" {
		t.Fatalf("after rewrite: %+v", st.Procs)
	}
	if _, err := os.Stat(path + ".new"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

// TestNotJournal refuses a file that is not a journal, and takes a
// missing one for an empty journal.
func TestNotJournal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "j")
	os.WriteFile(p, []byte("something else entirely"), 0o600)
	if _, err := Read(p); err != ErrNotJournal {
		t.Errorf("Read of a foreign file: %v", err)
	}
	if recs, err := Read(filepath.Join(dir, "missing")); err != nil || recs != nil {
		t.Errorf("Read of a missing file: %v %v", recs, err)
	}
}

// TestSync flushes on the Writer's goroutine.
func TestSync(t *testing.T) {
	w, _ := open(t)
	appendAll(t, w, start(1, "a"))
	w.Sync()
	w.Close()
	if w.syncs.Load() > 1 {
		t.Errorf("%d syncs for one request", w.syncs.Load())
	}
}
