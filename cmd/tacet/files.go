// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/client/chain"
)

// put and get: files to and from every host of -w at once, with a
// progress line on a terminal and one report line per host.

func cmdPut(ctx context.Context, t *cli, args []string) int {
	fs := newFlags("put")
	sync := fs.Bool("sync", false, "have each daemon flush the files to disk before reporting them done")
	chained := fs.Bool("chain", false, "send the file once, to the first host, whose relay forwards it to the next, and so on; one regular file only")
	if err := t.parseFlags(fs, args); err != nil {
		return helpOrFail(t, err)
	}
	if fs.NArg() != 2 {
		return t.fail(usagef("put takes LOCAL and REMOTE"))
	}
	local, remote := fs.Arg(0), fs.Arg(1)
	if *chained {
		return t.putChain(ctx, local, remote, *sync)
	}
	return t.transfer(ctx, "put", func(g *client.Group, opts []client.FileOption) ([]client.TransferResult, []error) {
		opts = append(opts, client.WithSync(*sync))
		return g.Put(ctx, local, func(int) string { return remote }, opts...)
	})
}

func cmdGet(ctx context.Context, t *cli, args []string) int {
	fs := newFlags("get")
	if err := t.parseFlags(fs, args); err != nil {
		return helpOrFail(t, err)
	}
	if fs.NArg() != 2 {
		return t.fail(usagef("get takes REMOTE and LOCALDIR"))
	}
	remote, dir := fs.Arg(0), fs.Arg(1)
	hosts := t.opts.hosts
	return t.transfer(ctx, "get", func(g *client.Group, opts []client.FileOption) ([]client.TransferResult, []error) {
		return g.Get(ctx, remote, func(i int) string { return filepath.Join(dir, hostName(hosts[i])) }, opts...)
	})
}

// transfer dials every host, runs fn with a progress option, and reports
// each host's result; it exits 0 only if every host succeeded.
func (t *cli) transfer(ctx context.Context, verb string,
	fn func(*client.Group, []client.FileOption) ([]client.TransferResult, []error)) int {
	hosts := t.opts.hosts
	g := client.DialGroup(ctx, hosts, client.GroupConfig{Options: t.dialOptions(), HostOptions: t.hostOptions})
	defer g.Close()

	pl := &progressLine{w: t.stderr, hosts: len(hosts), per: make([]client.Progress, len(hosts)),
		start: time.Now(), on: isTerminal(t.stderr) && !t.opts.json}
	res, errs := fn(g, []client.FileOption{client.WithProgress(pl.update)})
	pl.finish()

	status := 0
	el := time.Since(pl.start)
	for i, h := range hosts {
		name := hostName(h)
		if errs[i] != nil {
			fmt.Fprintf(t.stdout, "%s: %s failed: %s\n", name, verb, shortError(errs[i], name))
			status = 1
			continue
		}
		r := res[i]
		fmt.Fprintf(t.stdout, "%s: %d files, %d dirs, %s (%s sent)\n", name, r.Files, r.Dirs,
			byteSize(r.Bytes), byteSize(r.Sent))
	}
	if len(hosts) > 1 || status == 0 {
		var sent int64
		for _, r := range res {
			sent += r.Sent
		}
		fmt.Fprintf(t.stdout, "%s: %d/%d hosts in %v, %s/s\n", verb, len(hosts)-countErrs(errs), len(hosts),
			el.Round(time.Millisecond), byteSize(int64(float64(sent)/max(el.Seconds(), 1e-9))))
	}
	return status
}

func countErrs(errs []error) int {
	n := 0
	for _, err := range errs {
		if err != nil {
			n++
		}
	}
	return n
}

// progressLine redraws one line on a terminal with the bytes moved, the
// rate and the hosts done, at most ten times a second.
type progressLine struct {
	w     io.Writer
	on    bool
	hosts int
	start time.Time

	mu   sync.Mutex
	per  []client.Progress
	last time.Time
}

func (p *progressLine) update(pr client.Progress) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.per[pr.Host] = pr
	if time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	var done, total, sent int64
	hostsDone := 0
	for _, x := range p.per {
		done, total, sent = done+x.BytesDone, total+x.Bytes, sent+x.Sent
		if x.Files > 0 && x.FilesDone == x.Files {
			hostsDone++
		}
	}
	el := max(time.Since(p.start).Seconds(), 1e-9)
	fmt.Fprintf(p.w, "\r\033[K%s / %s, %s/s, %d/%d hosts done", byteSize(done), byteSize(total),
		byteSize(int64(float64(sent)/el)), hostsDone, p.hosts)
}

func (p *progressLine) finish() {
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// byteSize formats n bytes with a binary unit.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// putChain puts one file to every host through a chain of relays, in
// the order of -w, and reports each host as transfer does.
func (t *cli) putChain(ctx context.Context, local, remote string, sync bool) int {
	key, err := client.LoadKey(t.dialOptions()...)
	if err != nil {
		return t.fail(err)
	}
	if key == nil {
		return t.fail(usagef("put --chain needs a key to hand to the relays"))
	}
	hops := make([]chain.Hop, len(t.opts.hosts))
	for i, h := range t.opts.hosts {
		if h == "" || strings.HasPrefix(h, "unix://") {
			return t.fail(usagef("put --chain needs network addresses in -w, which every host can reach"))
		}
		hops[i] = chain.Hop{Addr: h, Key: key, Path: remote}
	}

	start := time.Now()
	pl := &progressLine{w: t.stderr, hosts: len(hops), per: make([]client.Progress, len(hops)),
		start: start, on: isTerminal(t.stderr) && !t.opts.json}
	var size int64
	if st, err := os.Stat(local); err == nil {
		size = st.Size()
	}
	progress := func(sent int64) {
		pl.update(client.Progress{Files: 1, Bytes: size, BytesDone: sent, Sent: sent})
	}
	res, st, err := chain.Put(ctx, hops, local, chain.Options{Dial: t.dialOptions(),
		FrameMAC: t.opts.frameMAC, Sync: sync, Progress: progress})
	pl.finish()
	if err != nil {
		return t.fail(err)
	}

	status, done := 0, 0
	for i, r := range res {
		name := hostName(t.opts.hosts[i])
		if r.Err != nil {
			fmt.Fprintf(t.stdout, "%s: put failed: %s\n", name, shortError(r.Err, name))
			status = 1
			continue
		}
		done++
		fmt.Fprintf(t.stdout, "%s: 1 files, 0 dirs, %s\n", name, byteSize(st.Size))
	}
	el := time.Since(start)
	fmt.Fprintf(t.stdout, "put: %d/%d hosts in %v by a chain, %s sent, %s/s to each\n", done, len(hops),
		el.Round(time.Millisecond), byteSize(st.Sent), byteSize(int64(float64(st.Size)/max(el.Seconds(), 1e-9))))
	return status
}
