// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

func TestStdinPipe(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	a := &codec.StartArgs{Argv: argv("cat"), Stdin: codec.StdinSpec{Mode: "pipe"}}
	r := c.start(a)
	sub := c.subscribe(r.Handle, codec.Stdout, 0, 0)

	parts := [][]byte{[]byte("first line\n"), bytes.Repeat([]byte{0, 0xff, 'x'}, 50000), []byte("no newline at the end")}
	for i, p := range parts {
		c.mustCall(codec.MethodStdin, &codec.StdinArgs{Handle: r.Handle, Data: p, EOF: i == len(parts)-1}, nil)
	}
	out := c.collect(sub.Sub, 0, true, eventTimeout)
	ex := c.waitExit(r.Handle, eventTimeout)
	if want := bytes.Join(parts, nil); !bytes.Equal(out.bytes(), want) {
		t.Errorf("cat gave back %d bytes, want the %d written", len(out.bytes()), len(want))
	}
	if ex.Code != 0 {
		t.Errorf("cat exit code %d", ex.Code)
	}
	cerr := c.call(codec.MethodStdin, &codec.StdinArgs{Handle: r.Handle, Data: []byte("late")}, nil)
	if cerr == nil || cerr.Code != codec.CodeWrongState {
		t.Errorf("stdin after eof: %v, want WRONG_STATE", cerr)
	}
}

// TestStdinNotRead writes 1 MiB to a child that never reads its stdin and
// checks that the daemon keeps answering.
func TestStdinNotRead(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	r := c.start(&codec.StartArgs{Argv: argv("sleep", "5"), Stdin: codec.StdinSpec{Mode: "pipe"}})

	// The writes are not awaited: the daemon may answer each only once it
	// is in the pipe, which is never.
	chunk := bytes.Repeat([]byte("z"), 256<<10)
	var writes []*pendingCall
	for range 4 {
		pc, err := c.send(codec.MethodStdin, &codec.StdinArgs{Handle: r.Handle, Data: chunk})
		if err != nil {
			t.Fatal(err)
		}
		writes = append(writes, pc)
	}

	for _, conn := range []*client{c, dial(t, d, d.tcp)} {
		began := time.Now()
		conn.mustCall(codec.MethodHostInfo, nil, nil)
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("host.info took %v while a child does not read its stdin", took)
		}
	}

	c.signal(r.Handle, 9, true)
	c.waitExit(r.Handle, eventTimeout)
	for i, pc := range writes {
		if _, cerr, err := pc.wait(5 * time.Second); err != nil {
			t.Errorf("stdin write %d: %v", i, err)
		} else if cerr != nil {
			t.Logf("stdin write %d: %v", i, cerr)
		}
	}
}

// TestStdinAnsweredWhenWritten checks that proc.stdin is its own flow
// control: a write larger than the pipe holds, to a child that does not
// read, stays unanswered while the child lives (a host.info sent after
// it is answered meanwhile), and is answered with WRONG_STATE once the
// child is killed.
func TestStdinAnsweredWhenWritten(t *testing.T) {
	d := startDaemon(t)
	c := dial(t, d, d.tcp)
	r := c.start(&codec.StartArgs{Argv: argv("sleep", "30"), Stdin: codec.StdinSpec{Mode: "pipe"}})
	var pc *pendingCall
	for range 4 { // 1 MiB in all; the last one cannot fit in the pipe
		var err error
		pc, err = c.send(codec.MethodStdin, &codec.StdinArgs{Handle: r.Handle,
			Data: bytes.Repeat([]byte("z"), 256<<10)})
		if err != nil {
			t.Fatal(err)
		}
	}
	c.mustCall(codec.MethodHostInfo, nil, nil)
	if _, cerr, err := pc.wait(300 * time.Millisecond); err == nil {
		t.Fatalf("a write the child never read was answered: %v", cerr)
	}
	c.signal(r.Handle, 9, true)
	c.waitExit(r.Handle, eventTimeout)
	_, cerr, err := pc.wait(5 * time.Second)
	if err != nil || cerr == nil || cerr.Code != codec.CodeWrongState {
		t.Errorf("the write after the child died: %v, %v; want WRONG_STATE", cerr, err)
	}
}
