// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client/chain"
)

// wchar returns the bytes this process has passed to write(2) and its
// kin, sockets included, from /proc/self/io.
func wchar(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/io")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no wchar in /proc/self/io")
	return 0
}

// TestFilePutChain puts one file to 4 daemons, each with its own key,
// through a chain of relays: every daemon must hold the file whole, with
// its mode and time, and this process must have written about one copy
// of it, where a direct put to the same daemons writes four.
func TestFilePutChain(t *testing.T) {
	const hosts = 4
	size := scaled[int64](32<<20, 1<<30)
	src, want := bigFile(t, size)
	mtime := time.Unix(1_700_000_000, 5)
	os.Chmod(src, 0o751)
	os.Chtimes(src, mtime, mtime)
	hops := make([]chain.Hop, hosts)
	for i := range hops {
		d := startDaemon(t)
		hops[i] = chain.Hop{Addr: d.tcp, Key: d.key}
	}
	root := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(2*time.Minute, 10*time.Minute))
	defer cancel()

	// All the daemons share this file system: each gets a path of its own.
	remote := func(i int) string { return filepath.Join(root, "host"+strconv.Itoa(i), "file.bin") }
	for i := range hops {
		hops[i].Path = remote(i)
	}
	before := wchar(t)
	start := time.Now()
	res, st, err := chain.Put(ctx, hops, src, chain.Options{})
	el := time.Since(start)
	written := wchar(t) - before
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Addr != hops[i].Addr || r.Err != nil {
			t.Errorf("hop %d: %s: %v", i, r.Addr, r.Err)
		}
	}
	for i := range hosts {
		if sumFile(t, remote(i)) != want {
			t.Errorf("host %d: the file put by the chain differs", i)
		}
		if fi, err := os.Stat(remote(i)); err != nil || fi.Mode().Perm() != 0o751 || !fi.ModTime().Equal(mtime) {
			t.Errorf("host %d: the file has %v, %v; want 0751, %v", i, fi.Mode(), fi.ModTime(), mtime)
		}
	}
	t.Logf("chain of %d: %d MiB in %v; this process wrote %d bytes, %.2f copies (Sent %d)",
		hosts, size>>20, el.Round(time.Millisecond), written, float64(written)/float64(size), st.Sent)
	if limit := size + size/5 + 1<<20; written > limit {
		t.Errorf("the controller wrote %d bytes for a file of %d; a chain should write about one copy",
			written, size)
	}
	if st.Sent != size {
		t.Errorf("Sent %d, want %d", st.Sent, size)
	}
}

// TestFilePutChainSkipsDeadHop puts through a chain whose second hop
// has no daemon: the relay before it reports it and forwards to the hop
// after it, and every live hop gets the file.
func TestFilePutChainSkipsDeadHop(t *testing.T) {
	src, want := bigFile(t, 3<<20)
	root := t.TempDir()
	var hops []chain.Hop
	for i := range 4 {
		h := chain.Hop{Path: filepath.Join(root, strconv.Itoa(i), "f")}
		if i == 1 {
			h.Addr, h.Key = "tcp://127.0.0.1:"+strconv.Itoa(freePort(t)), hops[0].Key
		} else {
			d := startDaemon(t)
			h.Addr, h.Key = d.tcp, d.key
		}
		hops = append(hops, h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, _, err := chain.Put(ctx, hops, src, chain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		switch {
		case i == 1 && r.Err == nil:
			t.Errorf("the dead hop is reported done")
		case i != 1 && r.Err != nil:
			t.Errorf("hop %d: %v", i, r.Err)
		case i != 1 && sumFile(t, hops[i].Path) != want:
			t.Errorf("hop %d: the file differs", i)
		}
	}
	t.Logf("the dead hop: %v", res[1].Err)
}

// TestPutChainCLI runs `tacet put --chain` to a live host and one where
// nothing listens: the live one gets the file, the other is reported,
// and the exit status says that one failed.
func TestPutChainCLI(t *testing.T) {
	f := startFleet(t, 2, 1)
	src, want := bigFile(t, 1<<20)
	remote := filepath.Join(t.TempDir(), "out", "big.bin")
	r := runTacet(t, f.keyFile, "-w", f.hostSet(), "put", "--chain", src, remote)
	if r.status != 1 {
		t.Errorf("status %d, want 1\n%s%s", r.status, r.stdout, r.stderr)
	}
	if sumFile(t, remote) != want {
		t.Error("the file put by tacet put --chain differs")
	}
	for _, w := range []string{f.addr(0) + ": 1 files", f.addr(1) + ": put failed", "put: 1/2 hosts"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("output lacks %q:\n%s", w, r.stdout)
		}
	}
}
