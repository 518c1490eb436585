// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/client/chain"
)

// BenchmarkPutBroadcast puts one file to 8 loopback daemons, directly
// (the controller sends a copy to each, in parallel) and through a chain
// of relays (it sends one copy, which each hop forwards), in a rotating
// order in every iteration. It reports each one's time per put, their
// ratio, and how many copies of the file the controller wrote to its
// sockets, from /proc/self/io. On loopback the controller's uplink is
// no limit, so the time ratio shows what the relays cost; the copies
// show what a chain saves on a real uplink.
func BenchmarkPutBroadcast(b *testing.B) {
	const hosts = 8
	size := int64(128 << 20)
	if smoke() {
		size = 16 << 20
	}
	src := filepath.Join(b.TempDir(), "file.bin")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		b.Fatal(err)
	}
	f.Close()

	ds := make([]*daemon, hosts)
	cs := make([]*client.Client, hosts)
	for i := range ds {
		ds[i] = startDaemon(b, false)
		cs[i] = ds[i].dial(ds[i].tcp)
	}
	root := b.TempDir()
	ctx := context.Background()
	run := 0
	remote := func(i int) string {
		return filepath.Join(root, "host"+strconv.Itoa(i), "run"+strconv.Itoa(run), "file.bin")
	}

	direct := func() error {
		var wg sync.WaitGroup
		errs := make([]error, hosts)
		for i, c := range cs {
			wg.Go(func() { _, errs[i] = c.Put(ctx, src, remote(i)) })
		}
		wg.Wait()
		return firstErr(errs)
	}
	chained := func() error {
		hops := make([]chain.Hop, hosts)
		for i, d := range ds {
			hops[i] = chain.Hop{Addr: d.tcp, Key: d.key, Path: remote(i)}
		}
		res, _, err := chain.Put(ctx, hops, src, chain.Options{})
		if err != nil {
			return err
		}
		errs := make([]error, len(res))
		for i, r := range res {
			errs[i] = r.Err
		}
		return firstErr(errs)
	}

	names := []string{"direct", "chain"}
	subjects := []func() error{direct, chained}
	secs := make([]samples, 2)
	copies := make([]samples, 2)
	for i := 0; b.Loop(); i++ {
		for _, k := range rotation(i, 2) {
			run++
			w0 := wchar(b)
			t0 := time.Now()
			if err := subjects[k](); err != nil {
				b.Fatalf("%s: %v", names[k], err)
			}
			secs[k] = append(secs[k], time.Since(t0).Seconds())
			copies[k] = append(copies[k], float64(wchar(b)-w0)/float64(size))
			os.RemoveAll(filepath.Join(root))
			os.MkdirAll(root, 0o755)
		}
	}
	for k, name := range names {
		b.ReportMetric(secs[k].median()*1e3, name+"-ms")
		b.ReportMetric(copies[k].median(), name+"-copies")
	}
	r := ratios(secs[1], secs[0])
	b.ReportMetric(r.median(), "chain/direct")
	b.ReportMetric(r.min(), "chain/direct-min")
	b.ReportMetric(r.max(), "chain/direct-max")
	b.ReportMetric(copies[1].median()/copies[0].median(), "chain/direct-copies")
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// wchar returns the bytes this process has passed to write(2) and its
// kin, sockets included, from /proc/self/io.
func wchar(b testing.TB) int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no wchar in /proc/self/io")
	return 0
}
