// SPDX-License-Identifier: Apache-2.0

package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// pattern returns n bytes that differ from offset to offset.
func pattern(from, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((from + i) % 251)
	}
	return b
}

// readAll reads s to the end, collecting bytes and gaps.
func readAll(t *testing.T, s *Stream) ([]byte, []GapError, error) {
	t.Helper()
	var got []byte
	var gaps []GapError
	buf := make([]byte, 3000) // not a divisor of anything sent
	for {
		n, err := s.Read(buf)
		got = append(got, buf[:n]...)
		var g *GapError
		switch {
		case errors.As(err, &g):
			gaps = append(gaps, *g)
		case err != nil:
			return got, gaps, err
		}
	}
}

func TestStreamCreditGapAndEOS(t *testing.T) {
	const window, total = 16 << 10, 200 << 10
	c, d := newPair(t, WithWindow(window))
	ctx := context.Background()
	type opened struct {
		s   *Stream
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		s, err := c.Process(3).Output(ctx, codec.Stdout, 0)
		ch <- opened{s, err}
	}()
	r := d.next(codec.MethodSubscribe)
	a := decode[codec.SubscribeArgs](t, r)
	if a.Credit != window || a.Handle != 3 || a.From != 0 {
		t.Fatalf("subscribe args %+v", a)
	}

	// The daemon may send output before the subscribe response.
	credit := a.Credit - 100
	d.out(7, 3, 0, pattern(0, 100))
	d.respond(r.id, &codec.SubscribeResult{Sub: 7})
	o := <-ch
	if o.err != nil {
		t.Fatal(o.err)
	}
	defer o.s.Close()

	go func() {
		for off := uint64(100); off < total; {
			for credit == 0 {
				cr := <-d.credits
				if cr.sub != 7 {
					t.Errorf("credit for sub %d", cr.sub)
				}
				credit += cr.bytes
			}
			n := min(4096, credit, total-off)
			d.out(7, 3, off, pattern(int(off), int(n)))
			off += n
			credit -= n
		}
		d.event(7, &codec.Gap{K: codec.EventGap, Handle: 3, From: total, To: total + 50, Why: "mem-budget"})
		d.out(7, 3, total+50, pattern(total+50, 10))
		d.event(7, &codec.EOS{K: codec.EventEOS, Handle: 3, Length: total + 60})
	}()

	got, gaps, err := readAll(t, o.s)
	if err != io.EOF {
		t.Fatalf("Read ended with %v, want io.EOF", err)
	}
	want := append(pattern(0, total), pattern(total+50, 10)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d, or they differ", len(got), len(want))
	}
	wantGap := GapError{From: total, To: total + 50, Why: "mem-budget"}
	if len(gaps) != 1 || gaps[0] != wantGap {
		t.Errorf("gaps %+v, want %+v", gaps, wantGap)
	}
	if off := o.s.Offset(); off != total+60 {
		t.Errorf("Offset() = %d, want %d", off, total+60)
	}
}

func TestStreamBeyondCreditFails(t *testing.T) {
	c, d := newPair(t, WithWindow(1024))
	ctx := context.Background()
	ch := make(chan *Stream, 1)
	go func() {
		s, err := c.Process(3).Output(ctx, codec.Stderr, 0)
		if err != nil {
			t.Error(err)
		}
		ch <- s
	}()
	d.respond(d.next(codec.MethodSubscribe).id, &codec.SubscribeResult{Sub: 1})
	s := <-ch
	if s == nil {
		t.FailNow()
	}
	defer s.Close()
	for i := 0; i < 80; i++ {
		d.out(1, 3, uint64(i*1024), pattern(0, 1024))
	}

	// The reader goroutine is not blocked by the Stream nobody reads.
	res := goResult(func() error { _, err := c.List(ctx); return err })
	d.respond(d.next(codec.MethodList).id, &codec.ListResult{})
	if err := recvErr(t, res); err != nil {
		t.Fatal(err)
	}
	_, _, err := readAll(t, s)
	if err == nil || !strings.Contains(err.Error(), "beyond the credit") {
		t.Fatalf("Read error %v, want one about credit", err)
	}
}

func TestStreamConnLostAfterBytes(t *testing.T) {
	c, d := newPair(t)
	ch := make(chan *Stream, 1)
	go func() {
		s, _ := c.Process(3).Output(context.Background(), codec.Stdout, 5)
		ch <- s
	}()
	d.respond(d.next(codec.MethodSubscribe).id, &codec.SubscribeResult{Sub: 2, Start: 5})
	s := <-ch
	if s == nil {
		t.FailNow()
	}
	d.out(2, 3, 5, []byte("abc"))
	d.conn.Close()

	got, _, err := readAll(t, s)
	if string(got) != "abc" || !errors.Is(err, ErrConnLost) {
		t.Fatalf("got %q, %v; want abc and connection lost", got, err)
	}
	if s.Offset() != 8 {
		t.Errorf("Offset() = %d, want 8", s.Offset())
	}
}

func TestStreamContextEndsRead(t *testing.T) {
	c, d := newPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan *Stream, 1)
	go func() {
		s, _ := c.Process(3).Output(ctx, codec.Stdout, 0)
		ch <- s
	}()
	d.respond(d.next(codec.MethodSubscribe).id, &codec.SubscribeResult{Sub: 2})
	s := <-ch
	if s == nil {
		t.FailNow()
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := s.Read(make([]byte, 10)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read: %v, want context.Canceled", err)
	}
	s.Close()
	if a := decode[codec.UnsubscribeArgs](t, d.next(codec.MethodUnsubscribe)); a.Sub != 2 {
		t.Errorf("unsubscribe of %d, want 2", a.Sub)
	}
}

// gapBuffer collects bytes and gaps; the test reads it while Follow
// writes.
type gapBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	gaps []GapError
}

func (b *gapBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *gapBuffer) WriteGap(g *GapError) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gaps = append(b.gaps, *g)
	return nil
}

func (b *gapBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func TestFollowResumesAfterDrop(t *testing.T) {
	c1, d1 := newPair(t)
	c2, d2 := newPair(t)
	clients := []*Client{c1, c2}
	dial := func() (*Client, error) {
		c := clients[0]
		clients = clients[1:]
		return c, nil
	}
	var w gapBuffer
	res := goResult(func() error { return Follow(context.Background(), dial, 4, codec.Stdout, 10, &w) })

	r := d1.next(codec.MethodSubscribe)
	if a := decode[codec.SubscribeArgs](t, r); a.From != 10 {
		t.Errorf("first subscribe from %d, want 10", a.From)
	}
	d1.respond(r.id, &codec.SubscribeResult{Sub: 1, Start: 10})
	d1.out(1, 4, 10, pattern(10, 90))
	d1.event(1, &codec.Gap{K: codec.EventGap, Handle: 4, From: 100, To: 120, Why: "retention"})
	d1.out(1, 4, 120, pattern(120, 30))

	// Wait until Follow has written everything before the drop.
	for deadline := time.Now().Add(5 * time.Second); w.len() < 120 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	d1.conn.Close()

	r = d2.next(codec.MethodSubscribe)
	if a := decode[codec.SubscribeArgs](t, r); a.From != 150 {
		t.Errorf("second subscribe from %d, want 150", a.From)
	}
	d2.respond(r.id, &codec.SubscribeResult{Sub: 1, Start: 150})
	d2.out(1, 4, 140, pattern(140, 20)) // overlaps what was written
	d2.event(1, &codec.EOS{K: codec.EventEOS, Handle: 4, Length: 160})

	if err := recvErr(t, res); err != nil {
		t.Fatalf("Follow: %v", err)
	}
	want := append(pattern(10, 90), pattern(120, 40)...)
	if !bytes.Equal(w.buf.Bytes(), want) {
		t.Errorf("Follow wrote %d bytes, want %d, or they differ", w.buf.Len(), len(want))
	}
	if len(w.gaps) != 1 || w.gaps[0].From != 100 || w.gaps[0].To != 120 {
		t.Errorf("gaps %+v", w.gaps)
	}
}

func TestFollowStopsOnDaemonError(t *testing.T) {
	c, d := newPair(t)
	dial := func() (*Client, error) { return c, nil }
	res := goResult(func() error { return Follow(context.Background(), dial, 4, codec.Stdout, 0, io.Discard) })
	d.fail(d.next(codec.MethodSubscribe).id, codec.NewError(codec.CodeNotFound, "no such process"))
	if err := recvErr(t, res); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Follow: %v, want NOT_FOUND", err)
	}
}
