// SPDX-License-Identifier: Apache-2.0

package netns_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/netstack"
	"gitlab.com/tacet/tacet/netstack/netns"
)

// The lossy link of the issue: 5% of packets dropped and 20 ms added to
// each, in each direction, the same link for KCP and for TCP.
var lossy = netns.LinkConfig{Loss: 0.05, Delay: 20 * time.Millisecond, Seed: 1}

// TestNetnsLossy runs start/exit cycles of `sh -c 'echo N'` against a
// tacetd across the lossy link, over KCP and then over TCP, checks every
// output byte, and reports the control latency (start request to exit
// event) of each transport: in the log and, when bench/ exists, in
// bench/out/lossy.txt. TACET_SCALE sets the cycles per transport
// (default 200; "full" is the default too).
func TestNetnsLossy(t *testing.T) {
	prefix := netns.Require(t)
	cycles := scale(t, 200)
	a, b, link := netns.Pair(t, prefix, "l", lossy)
	port := strconv.Itoa(netstack.DefaultPort)
	key := startDaemon(t, b, "tcp://"+netns.AddrB+":"+port, "kcp://"+netns.AddrB+":"+port)

	var report []string
	for _, scheme := range []string{"kcp", "tcp"} {
		c := dialFrom(t, a, scheme+"://"+netns.AddrB+":"+port, key)
		lat := cycle(t, c, cycles)
		c.Close()

		slices.Sort(lat)
		line := fmt.Sprintf("%s: %d cycles, p50 %v, p99 %v, max %v", scheme, len(lat),
			quantile(lat, 0.50), quantile(lat, 0.99), quantile(lat, 1))
		t.Log(line)
		report = append(report, line)
	}
	for dir, name := range []string{"A to B", "B to A"} {
		st := link.Stats(dir)
		line := fmt.Sprintf("link %s: %d packets passed, %d dropped, %d over the queue",
			name, st.Passed.Load(), st.Dropped.Load(), st.Overflow.Load())
		t.Log(line)
		report = append(report, line)
	}
	writeReport(t, report)
}

// dialFrom connects to addr with a socket made inside ns.
func dialFrom(t testing.TB, ns *netns.NS, addr string, key *netstack.Key) *client.Client {
	t.Helper()
	var c *client.Client
	err := ns.Do(func() error {
		var err error
		// Lost SYNs are retried after 1 s, then 3 s: leave room for two.
		c, err = client.Dial(context.Background(), addr, client.WithKey(key),
			client.WithWho(t.Name()), client.WithTimeout(20*time.Second))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cycle starts n processes one after another, each printing its number,
// and returns the time from each start request to its exit event.
func cycle(t *testing.T, c *client.Client, n int) []time.Duration {
	t.Helper()
	lat := make([]time.Duration, 0, n)
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		want := strconv.Itoa(i) + "\n"

		t0 := time.Now()
		p, err := c.Start(ctx, &codec.StartArgs{Argv: [][]byte{[]byte("/bin/sh"), []byte("-c"), []byte("echo " + strconv.Itoa(i))}})
		if err != nil {
			t.Fatalf("cycle %d: start: %v", i, err)
		}
		ex, err := p.Wait(ctx)
		if err != nil {
			t.Fatalf("cycle %d: wait: %v", i, err)
		}
		lat = append(lat, time.Since(t0))

		if ex.Code != 0 {
			t.Fatalf("cycle %d: exit %+v", i, ex)
		}
		if got := readAll(t, ctx, p); got != want {
			t.Fatalf("cycle %d: output %q, want %q", i, got, want)
		}
		if err := p.Release(ctx); err != nil {
			t.Fatalf("cycle %d: release: %v", i, err)
		}
		cancel()
	}
	return lat
}

// readAll reads the stdout of an ended process to its end.
func readAll(t *testing.T, ctx context.Context, p *client.Process) string {
	t.Helper()
	var out []byte
	for range 100 {
		r, err := p.Read(ctx, codec.Stdout, uint64(len(out)), 1<<10)
		if err != nil {
			t.Fatalf("read output: %v", err)
		}
		out = append(out, r.Data...)
		if r.EOF {
			return string(out)
		}
	}
	t.Fatalf("output not at its end after 100 reads: %q", out)
	return ""
}

// quantile returns the q-quantile of sorted, by the nearest rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)].Round(100 * time.Microsecond)
}

// scale returns TACET_SCALE as a count of cycles, or def when it is
// unset or "full".
func scale(t *testing.T, def int) int {
	s := os.Getenv("TACET_SCALE")
	if s == "" || s == "full" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("TACET_SCALE=%q: want a count of cycles or full", s)
	}
	return n
}

// writeReport writes lines to bench/out/lossy.txt when the module has a
// bench/ directory.
func writeReport(t *testing.T, lines []string) {
	t.Helper()
	bench := filepath.Join("..", "..", "bench")
	if st, err := os.Stat(bench); err != nil || !st.IsDir() {
		t.Log("no bench/ directory: report not written")
		return
	}
	dir := filepath.Join(bench, "out")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("# %s: loss %.0f%%, delay %v each way, %s\n", t.Name(), lossy.Loss*100, lossy.Delay,
		time.Now().UTC().Format(time.RFC3339))
	text := head
	for _, l := range lines {
		text += l + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "lossy.txt"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
