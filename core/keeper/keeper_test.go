// SPDX-License-Identifier: Apache-2.0

package keeper

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// runKeeper runs Run in this process on one end of a socket pair, as the
// daemon's child would, and returns the link and a channel closed when
// Run returns.
func runKeeper(t *testing.T) (*Link, chan struct{}) {
	t.Helper()
	done := make(chan struct{})
	l, err := Start(func(fd int) error {
		sock := os.NewFile(uintptr(dupOrFail(t, fd)), "keeper")
		go func() {
			Run(sock)
			sock.Close()
			close(done)
		}()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l, done
}

func dupOrFail(t *testing.T, fd int) int {
	t.Helper()
	d, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func waitClosed(t *testing.T, done chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("keeper did not finish within 10 s")
	}
}

// When the link closes without goodbye, the keeper appends what is still
// in the pipe, and what the writer writes afterwards, to the spool, after
// the bytes already there.
func TestTakeOverAppendsToSpool(t *testing.T) {
	l, done := runKeeper(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	spoolPath := filepath.Join(t.TempDir(), "1.1")
	spool, err := os.Create(spoolPath)
	if err != nil {
		t.Fatal(err)
	}
	spool.WriteString("kept by the daemon|")
	if err := l.Hold(7, int(r.Fd()), spoolPath); err != nil {
		t.Fatal(err)
	}
	r.Close()
	spool.Close()

	w.WriteString("in the pipe|")
	l.Abandon()
	w.WriteString("written after the daemon died")
	w.Close()
	waitClosed(t, done)

	got, _ := os.ReadFile(spoolPath)
	want := "kept by the daemon|in the pipe|written after the daemon died"
	if string(got) != want {
		t.Fatalf("spool = %q, want %q", got, want)
	}
	from, _ := os.ReadFile(spoolPath + ".kept")
	if strings.TrimSpace(string(from)) != "19" {
		t.Fatalf("resume offset %q, want 19", from)
	}
}

// A writer never gets EPIPE while the keeper holds the pipe, even with
// the daemon's own read end closed.
func TestHeldPipeHasAReader(t *testing.T) {
	l, done := runKeeper(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	l.Hold(1, int(r.Fd()), filepath.Join(t.TempDir(), "s"))
	r.Close()
	if _, err := w.Write(bytes.Repeat([]byte("x"), 100)); err != nil {
		t.Fatalf("write with only the keeper reading: %v", err)
	}
	w.Close()
	l.Close()
	waitClosed(t, done)
}

// Goodbye ends the keeper without draining, and Drop releases a stream.
func TestByeAndDrop(t *testing.T) {
	l, done := runKeeper(t)
	r, w, _ := os.Pipe()
	spoolPath := filepath.Join(t.TempDir(), "s")
	l.Hold(1, int(r.Fd()), spoolPath)
	l.Drop(1)
	r.Close()
	// With the keeper's copy dropped and ours closed, the pipe has no reader.
	time.Sleep(50 * time.Millisecond)
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("write succeeded: the keeper still holds a dropped pipe")
	}
	w.Close()
	l.Close()
	waitClosed(t, done)
	if _, err := os.Stat(spoolPath); err == nil {
		t.Fatal("spool created after goodbye")
	}
}

// Handing a pipe to the keeper must leave it non-blocking: the flag
// belongs to the open file description that the daemon shares.
func TestHoldKeepsPipeNonblocking(t *testing.T) {
	l, done := runKeeper(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rc, _ := r.SyscallConn()
	var fd int
	rc.Control(func(f uintptr) { fd = int(f) })
	if err := l.Hold(1, fd, filepath.Join(t.TempDir(), "s")); err != nil {
		t.Fatal(err)
	}
	// A drop is handled after the hold, so once the keeper has closed
	// its copy the hold has been processed.
	l.Drop(1)
	l.Close()
	waitClosed(t, done)
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.O_NONBLOCK == 0 {
		t.Fatal("the keeper made the daemon's pipe blocking")
	}
	r.Close()
}

// nonblockingPipe returns a pipe whose read end is non-blocking, as the
// daemon's are, and that end's fd.
func nonblockingPipe(t *testing.T) (*os.File, *os.File, int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, w := os.NewFile(uintptr(p[0]), "r"), os.NewFile(uintptr(p[1]), "w")
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w, p[0]
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i == 1000 {
			t.Fatalf("no %s within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A new daemon takes the pipes back from a keeper that took over: a live
// pipe comes back with the offset its spool was drained to, and the next
// bytes are read from it, not from the spool; an ended pipe comes back
// as its final offset. The keeper then exits and removes its socket.
func TestTakeBack(t *testing.T) {
	l, done := runKeeper(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "k.sock")
	if err := l.Listen(sock); err != nil {
		t.Fatal(err)
	}
	live, liveW, liveFD := nonblockingPipe(t)
	ended, endedW, endedFD := nonblockingPipe(t)
	liveSpool, endedSpool := filepath.Join(dir, "1.1"), filepath.Join(dir, "2.1")
	os.WriteFile(liveSpool, []byte("daemon|"), 0o600)
	l.Hold(1, liveFD, liveSpool)
	l.Hold(2, endedFD, endedSpool)
	l.Drop(99) // processed after both holds
	live.Close()
	ended.Close()

	l.Abandon()
	liveW.WriteString("keeper|")
	endedW.WriteString("all of it")
	endedW.Close()
	waitFor(t, "drain into the spools", func() bool {
		a, _ := os.ReadFile(liveSpool)
		b, _ := os.ReadFile(endedSpool)
		return string(a) == "daemon|keeper|" && string(b) == "all of it"
	})

	got, err := Take(sock, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, done)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after the hand-over: %v", err)
	}
	byID := map[uint64]Taken{}
	for _, tk := range got {
		byID[tk.ID] = tk
	}
	if tk := byID[2]; len(got) != 2 || tk.Pipe != nil || tk.Offset != 9 {
		t.Fatalf("taken %+v, want stream 2 ended at 9", got)
	}
	tk := byID[1]
	if tk.Pipe == nil || tk.Offset != int64(len("daemon|keeper|")) {
		t.Fatalf("stream 1 taken as %+v", tk)
	}
	defer tk.Pipe.Close()
	liveW.WriteString("new daemon")
	liveW.Close()
	rest := make([]byte, 64)
	tk.Pipe.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := tk.Pipe.Read(rest)
	if string(rest[:n]) != "new daemon" {
		t.Fatalf("read %q, %v from the taken pipe", rest[:n], err)
	}
	if b, _ := os.ReadFile(liveSpool); string(b) != "daemon|keeper|" {
		t.Errorf("the keeper went on writing the spool after the hand-over: %q", b)
	}
}

// A connection that does not take the pipes back leaves the keeper
// draining them, for the next daemon to take.
func TestTakeAfterFailedTake(t *testing.T) {
	l, done := runKeeper(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "k.sock")
	if err := l.Listen(sock); err != nil {
		t.Fatal(err)
	}
	r, w, fd := nonblockingPipe(t)
	spool := filepath.Join(dir, "1.1")
	l.Hold(1, fd, spool)
	l.Drop(99)
	r.Close()
	l.Abandon()

	c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(c, &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	unix.Write(c, []byte{0x42})
	unix.Close(c)

	w.WriteString("drained")
	waitFor(t, "drain into the spool", func() bool {
		b, _ := os.ReadFile(spool)
		return string(b) == "drained"
	})
	got, err := Take(sock, 5*time.Second)
	if err != nil || len(got) != 1 || got[0].Pipe == nil || got[0].Offset != 7 {
		t.Fatalf("take after a failed one: %+v %v", got, err)
	}
	got[0].Pipe.Close()
	waitClosed(t, done)
}
