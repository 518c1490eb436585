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

// BenchmarkNetnsSmallFiles puts a tree of 200 small files to a tacetd
// across a link that adds 10 ms to every packet each way (a 20 ms round
// trip, as between two sites), and gets it back, with one small file in
// flight at a time and with the default window of them, in turn in
// every iteration. It reports the times and their ratios: what the
// window saves a transfer of many small files over a long round trip.
func BenchmarkNetnsSmallFiles(b *testing.B) {
	prefix := netns.Require(b)
	ctl, host, _ := netns.Pair(b, prefix, "p", netns.LinkConfig{Delay: 10 * time.Millisecond})
	addr := "tcp://" + netns.AddrB + ":" + strconv.Itoa(netstack.DefaultPort)
	key := startDaemon(b, host, addr)
	c := dialFrom(b, ctl, addr, key)
	defer c.Close()

	// The daemon writes beneath the benchmark's own directories: both
	// namespaces share the file system.
	local, remote, back := filepath.Join(b.TempDir(), "tree"), b.TempDir(), b.TempDir()
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
	var put, get [2]time.Duration // [0]: one at a time, [1]: the window
	for i := 0; b.Loop(); i++ {
		for k := range 2 {
			if i%2 == 1 {
				k = 1 - k // each first every other iteration
			}
			var opts []client.FileOption
			if k == 0 {
				opts = append(opts, client.WithSmallFilesInFlight(1))
			}
			name := strconv.Itoa(i) + "-" + strconv.Itoa(k)
			dst := filepath.Join(remote, name)
			t0 := time.Now()
			res, err := c.Put(ctx, local, dst, opts...)
			put[k] += time.Since(t0)
			if err != nil || res.Files != files {
				b.Fatalf("put %d files (window %v): %+v, %v", files, k == 1, res, err)
			}
			t0 = time.Now()
			res, err = c.Get(ctx, dst, filepath.Join(back, name), opts...)
			get[k] += time.Since(t0)
			if err != nil || res.Files != files {
				b.Fatalf("get %d files (window %v): %+v, %v", files, k == 1, res, err)
			}
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(b.N) }
	b.ReportMetric(ms(put[0]), "put-one-at-a-time-ms")
	b.ReportMetric(ms(put[1]), "put-window-ms")
	b.ReportMetric(float64(put[0])/float64(put[1]), "put-speedup")
	b.ReportMetric(ms(get[0]), "get-one-at-a-time-ms")
	b.ReportMetric(ms(get[1]), "get-window-ms")
	b.ReportMetric(float64(get[0])/float64(get[1]), "get-speedup")
}
