// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// rxQueue returns the bytes waiting in the receive queue of the loopback
// TCP connection from local to remote, from /proc/net/tcp. Both ends are
// matched: a closed connection that had the same local port may still
// be listed, in TIME_WAIT, with an empty queue.
func rxQueue(t *testing.T, local, remote net.Addr) int64 {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", local.(*net.TCPAddr).Port)
	peer := fmt.Sprintf("0100007F:%04X", remote.(*net.TCPAddr).Port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue ...
		fs := strings.Fields(sc.Text())
		if len(fs) > 4 && fs[1] == want && fs[2] == peer {
			_, rx, _ := strings.Cut(fs[4], ":")
			n, err := strconv.ParseInt(rx, 16, 64)
			if err != nil {
				t.Fatalf("/proc/net/tcp: %q: %v", fs[4], err)
			}
			return n
		}
	}
	t.Fatalf("no socket %s in /proc/net/tcp", want)
	return 0
}

// TestFileGetStalledControllerDelaysNothing has one controller start a
// get with credit for the whole file and then stop reading its socket,
// so that the daemon's writes to it block in the middle of the file.
// Meanwhile another controller gets a file, puts one, runs a process to
// its exit and pings: each must complete. Then the stalled controller
// reads on and must receive the whole file intact.
func TestFileGetStalledControllerDelaysNothing(t *testing.T) {
	const size = 64 << 20 // far more than the socket buffers hold
	src, want := bigFile(t, size)
	small, smallSum := bigFile(t, 4<<20)
	d := startDaemon(t)

	stalled := dial(t, d, d.tcp)
	stalled.pause()
	pc, err := stalled.send(codec.MethodFileGet, &codec.GetArgs{Path: []byte(src), Credit: size})
	if err != nil {
		t.Fatal(err)
	}

	// Wait until the bytes stop coming, or nearly: the daemon's writer is
	// blocked.
	local, remote := stalled.raw.LocalAddr(), stalled.raw.RemoteAddr()
	var queued int64
	for i := 0; ; i++ {
		time.Sleep(100 * time.Millisecond)
		n := rxQueue(t, local, remote)
		if n > 0 && n-queued < 64<<10 {
			queued = n
			break
		}
		if i == 100 {
			t.Fatalf("the stalled controller's receive queue never settled: %d bytes", n)
		}
		queued = n
	}
	t.Logf("the stalled controller holds %d bytes unread of %d", queued, size)

	other := dialAll(t, []*daemon{d})[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	back := t.TempDir()
	if _, err := other.Get(ctx, small, back); err != nil {
		t.Fatalf("another controller's get: %v", err)
	}
	if sumFile(t, filepath.Join(back, filepath.Base(small))) != smallSum {
		t.Error("another controller's get differs")
	}
	if _, err := other.Put(ctx, small, filepath.Join(back, "put.bin")); err != nil {
		t.Fatalf("another controller's put: %v", err)
	}
	p, err := other.Start(ctx, &codec.StartArgs{Argv: argv("/bin/sh", "-c", "exit 3")})
	if err != nil {
		t.Fatalf("another controller's start: %v", err)
	}
	if ex, err := p.Wait(ctx); err != nil || ex.Code != 3 {
		t.Fatalf("another controller's process: %+v, %v", ex, err)
	}
	for range 5 {
		s, err := other.Ping(ctx)
		if err != nil {
			t.Fatalf("another controller's ping: %v", err)
		}
		t.Logf("ping while the other controller stalls: %v", s.Delay)
	}
	// The kernel may still take a little more as it shrinks its buffers,
	// but the get must still be stuck in the middle of the file.
	if n := rxQueue(t, local, remote); n > size/4 {
		t.Errorf("the stalled controller's queue went from %d to %d bytes while it read nothing", queued, n)
	}

	// The stalled controller reads on and gets the whole file.
	stalled.resume()
	rep, err := pc.reply(callTimeout)
	if err != nil || rep.err != nil {
		t.Fatalf("file.get: %v, %v", err, rep.err)
	}
	var r codec.GetResult
	if err := codec.Unmarshal(rep.result, &r, "get result"); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	var off uint64
	for {
		ev, err := stalled.next(subBox(r.Xfer), eventTimeout)
		if err != nil {
			t.Fatalf("after %d bytes: %v", off, err)
		}
		if ev.fend != nil {
			if off != size || string(ev.fend.SHA) != string(h.Sum(nil)) || string(ev.fend.SHA) != string(want[:]) {
				t.Errorf("the stalled get ended after %d bytes with a sum that does not match", off)
			}
			break
		}
		if ev.file == nil || ev.file.Offset != off {
			t.Fatalf("event %q, want a file event at %d", ev.name, off)
		}
		h.Write(ev.file.Data)
		off += uint64(len(ev.file.Data))
	}
}
