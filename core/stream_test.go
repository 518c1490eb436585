// SPDX-License-Identifier: Apache-2.0

package core

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// pattern returns n bytes whose value depends on their offset, so that a
// byte read back at the wrong offset is noticed.
func pattern(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		o := off + i
		b[i] = byte(o ^ o>>8 ^ o>>16)
	}
	return b
}

// feed pumps data through a real pipe into st and waits for the end.
func feed(t *testing.T, st *Stream, data []byte) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	if err := st.attach(r); err != nil {
		t.Fatal(err)
	}
	go st.pump(r, func() { close(done) })
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	w.Close()
	<-done
}

// readAll reads st from 0, returning the bytes and the gaps met.
func readAll(st *Stream) ([]byte, []span) {
	var out []byte
	var gaps []span
	buf := make([]byte, 7000)
	for off := uint64(0); ; {
		n, gap, _ := st.ReadAt(off, buf)
		switch {
		case n > 0:
			out = append(out, buf[:n]...)
			off += uint64(n)
		case gap.to > gap.from:
			gaps = append(gaps, gap)
			off = gap.to
		default:
			return out, gaps
		}
	}
}

func TestStreamKeepsEveryByte(t *testing.T) {
	tests := []struct {
		name  string
		spool bool
		size  int
	}{
		{"memory", false, 300 << 10},
		{"spool", true, 3 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem, disk := &budget{limit: 64 << 20}, &budget{limit: 64 << 20}
			spool := ""
			if tt.spool {
				spool = filepath.Join(t.TempDir(), "spool")
			}
			st := newStream(1, 1, mem, disk, spool, 1<<20)
			data := pattern(0, tt.size)
			feed(t, st, data)
			got, gaps := readAll(st)
			if len(gaps) != 0 || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes with gaps %v, want %d exact bytes", len(got), gaps, len(data))
			}
			if n, eof := st.Len(); n != uint64(len(data)) || !eof {
				t.Fatalf("Len = %d, %v", n, eof)
			}
		})
	}
}

// A memory ring smaller than the output loses the oldest bytes, and says
// exactly which; the rest reads back exact.
func TestStreamGapNamesLostOffsets(t *testing.T) {
	mem, disk := &budget{limit: 64 << 20}, &budget{limit: 0}
	st := newStream(1, 1, mem, disk, "", 64<<10)
	data := pattern(0, 1<<20)
	feed(t, st, data)

	got, gaps := readAll(st)
	if len(gaps) != 1 || gaps[0].from != 0 || gaps[0].to != uint64(len(data)-64<<10) {
		t.Fatalf("gaps %v, want one [0, %d)", gaps, len(data)-64<<10)
	}
	if gaps[0].why != "mem-budget" {
		t.Errorf("why = %q", gaps[0].why)
	}
	if !bytes.Equal(got, data[gaps[0].to:]) {
		t.Fatal("bytes after the gap differ")
	}
}

// A disk budget that runs out mid-stream leaves a hole between what was
// spooled and what the ring still holds; the ring then grows to the size
// of a memory-only one.
func TestStreamDiskBudgetGap(t *testing.T) {
	f := filepath.Join(t.TempDir(), "spool")
	mem, disk := &budget{limit: 64 << 20}, &budget{limit: 100 << 10}
	st := newStream(1, 1, mem, disk, f, 1<<20)
	data := pattern(0, 2<<20)
	feed(t, st, data)

	got, gaps := readAll(st)
	if len(gaps) != 1 {
		t.Fatalf("gaps %v, want one", gaps)
	}
	g := gaps[0]
	if g.why != "disk-budget" || g.from > 100<<10 || g.to != uint64(len(data)-1<<20) {
		t.Fatalf("gap %+v", g)
	}
	want := append(append([]byte(nil), data[:g.from]...), data[g.to:]...)
	if !bytes.Equal(got, want) {
		t.Fatal("bytes around the gap differ")
	}
	if disk.used.Load() > disk.limit {
		t.Fatalf("disk budget overrun: %d", disk.used.Load())
	}
}

// The memory budget is shared: a second stream cannot grow a ring past
// what the first one left, and free gives the bytes back.
func TestStreamMemBudgetShared(t *testing.T) {
	mem, disk := &budget{limit: 128 << 10}, &budget{limit: 0}
	a := newStream(1, 1, mem, disk, "", 1<<20)
	b := newStream(2, 1, mem, disk, "", 1<<20)
	feed(t, a, pattern(0, 512<<10))
	feed(t, b, pattern(0, 512<<10))
	if u := mem.used.Load(); u > mem.limit {
		t.Fatalf("memory budget overrun: %d > %d", u, mem.limit)
	}
	a.free()
	b.free()
	if u := mem.used.Load(); u != 0 {
		t.Fatalf("after free, %d bytes still taken", u)
	}
}
