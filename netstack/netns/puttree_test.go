// SPDX-License-Identifier: Apache-2.0

package netns_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/netstack"
	"gitlab.com/tacet/tacet/netstack/netns"
)

// BenchmarkNetnsPutTree puts a tree of 200 small files to a tacetd across
// a link that adds 10 ms to every packet each way (a 20 ms round trip,
// as between two sites), with one small file in flight at a time and
// with the default window of them, in turn in every iteration. It
// reports both times and their ratio: what the window saves a put of
// many small files over a long round trip.
func BenchmarkNetnsPutTree(b *testing.B) {
	prefix := netns.Require(b)
	ctl, host, _ := netns.Pair(b, prefix, "p", netns.LinkConfig{Delay: 10 * time.Millisecond})
	addr := "tcp://" + netns.AddrB + ":" + strconv.Itoa(netstack.DefaultPort)
	key := startDaemon(b, host, addr)
	c := dialFrom(b, ctl, addr, key)
	defer c.Close()

	// The daemon writes beneath the test's own directory: both
	// namespaces share the file system.
	local, remote := filepath.Join(b.TempDir(), "tree"), b.TempDir()
	const files = 200
	for i := range files {
		dir := filepath.Join(local, "d"+strconv.Itoa(i%10))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		body := []byte("file " + strconv.Itoa(i) + "\n")
		if err := os.WriteFile(filepath.Join(dir, "f"+strconv.Itoa(i)), body, 0o644); err != nil {
			b.Fatal(err)
		}
	}

	ctx := context.Background()
	var one, window time.Duration
	for i := 0; b.Loop(); i++ {
		for _, n := range []int{1, 0} {
			if i%2 == 1 {
				n = 1 - n // the two in turn, each first every other iteration
			}
			dst := filepath.Join(remote, strconv.Itoa(i)+"-"+strconv.Itoa(n))
			opts := []client.FileOption{}
			if n == 1 {
				opts = append(opts, client.WithSmallFilesInFlight(1))
			}
			t0 := time.Now()
			res, err := c.Put(ctx, local, dst, opts...)
			dt := time.Since(t0)
			if err != nil || res.Files != files {
				b.Fatalf("put %d files with %d in flight: %+v, %v", files, n, res, err)
			}
			if n == 1 {
				one += dt
			} else {
				window += dt
			}
		}
	}
	b.ReportMetric(float64(one.Milliseconds())/float64(b.N), "one-at-a-time-ms")
	b.ReportMetric(float64(window.Milliseconds())/float64(b.N), "window-ms")
	b.ReportMetric(float64(one)/float64(window), "speedup")
}
