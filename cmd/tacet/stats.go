// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// statsRecord is the JSON form of one sample of one host: cumulative
// counters as the daemon sent them, and the CPU busy fraction since the
// previous sample of the host (-1 for the first).
type statsRecord struct {
	Host      string   `json:"host"`
	Real      uint64   `json:"real_ns"`
	Mono      uint64   `json:"mono_ns"`
	Dur       uint64   `json:"read_ns"`
	CPUBusy   float64  `json:"cpu_busy"`
	CPUs      int      `json:"cpus"`
	MemTotal  uint64   `json:"mem_total_bytes"`
	MemAvail  uint64   `json:"mem_avail_bytes"`
	Load1     float64  `json:"load1"`
	Running   uint32   `json:"running"`
	Ctxt      uint64   `json:"ctxt"`
	NetRx     uint64   `json:"net_rx_bytes"`
	NetTx     uint64   `json:"net_tx_bytes"`
	DiskRead  uint64   `json:"disk_read_bytes"`
	DiskWrite uint64   `json:"disk_write_bytes"`
	SelfCPU   uint64   `json:"daemon_cpu_ns"`
	SelfRSS   uint64   `json:"daemon_rss_bytes"`
	SelfCtxt  uint64   `json:"daemon_ctxt"`
	Missing   []string `json:"missing"`

	busy, total uint64       // CPU ns of the sum line: not idle, all
	prev        *statsRecord // the host's previous sample, nil for the first
}

// cmdStats prints host samples. It asks with sample.once at each
// interval rather than subscribing, so that the client package needs no
// sample events; the daemon's cost is then one request per sample.
func cmdStats(ctx context.Context, t *cli, args []string) int {
	flags := newFlags("stats")
	interval := flags.Duration("interval", 0, "sample every `DUR`; default one sample")
	count := flags.Int("count", 0, "stop after `N` samples; default 1 without --interval, else until interrupted")
	asJSON := flags.Bool("json", false, "one JSON object per sample and host (as the global --json)")
	if err := t.parseFlags(flags, args); err != nil {
		return helpOrFail(t, err)
	}
	if *interval < 0 || *count < 0 {
		return t.fail(usagef("stats: --interval and --count must not be negative"))
	}
	if *count == 0 && *interval == 0 {
		*count = 1
	}
	if *interval == 0 {
		*interval = time.Second
	}
	t.opts.json = t.opts.json || *asJSON

	conns := make([]*client.Client, 0, len(t.opts.hosts))
	for _, addr := range t.opts.hosts {
		c, err := t.dial(ctx, addr)
		if err != nil {
			return t.fail(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	return t.statsLoop(ctx, conns, *interval, *count)
}

func (t *cli) statsLoop(ctx context.Context, conns []*client.Client, every time.Duration, count int) int {
	prev := make([]*statsRecord, len(conns))
	args := &codec.SampleArgs{Sources: []string{codec.SourceCPU, codec.SourceMem, codec.SourceLoad,
		codec.SourceNet, codec.SourceDisk}}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 0; count == 0 || n < count; n++ {
		if n > 0 {
			select {
			case <-ctx.Done():
				return exitOK
			case <-tick.C:
			}
		}
		for i, c := range conns {
			var s codec.Sample
			if err := c.Call(ctx, codec.MethodSampleOnce, args, &s); err != nil {
				return t.fail(err)
			}
			r := newStatsRecord(hostName(c.Addr()), &s, prev[i])
			prev[i] = r
			t.printStats(r, n == 0 && i == 0)
		}
	}
	return exitOK
}

func newStatsRecord(host string, s *codec.Sample, prev *statsRecord) *statsRecord {
	r := &statsRecord{Host: host, Real: s.Real, Mono: s.Mono, Dur: s.Dur, CPUBusy: -1,
		SelfCPU: s.Self.UserNs + s.Self.SysNs, SelfRSS: s.Self.RSS, SelfCtxt: s.Self.NVCSw + s.Self.NIVCSw,
		Missing: append([]string{}, s.Miss...)}
	if len(s.CPU) > 0 {
		c := s.CPU[0]
		r.CPUs = len(s.CPU) - 1
		r.total, r.busy = cpuTimes(&c)
		if prev != nil && r.total > prev.total {
			r.CPUBusy = float64(r.busy-prev.busy) / float64(r.total-prev.total)
		}
	}
	if len(s.Mem) > 0 {
		r.MemTotal, r.MemAvail = s.Mem[0].Total, s.Mem[0].Avail
	}
	if len(s.Load) > 0 {
		r.Load1, r.Running, r.Ctxt = s.Load[0].Avg1, s.Load[0].Running, s.Load[0].Ctxt
	}
	r.NetRx, r.NetTx, r.DiskRead, r.DiskWrite = ioTotals(s)
	r.prev = prev
	return r
}

// printStats prints one line per host: rates since the previous sample,
// or totals for the first.
func (t *cli) printStats(r *statsRecord, header bool) {
	p := r.prev
	r.prev = nil // keep one sample of history, not all
	if t.opts.json {
		t.json.write(r)
		return
	}
	if header {
		fmt.Fprintf(t.stdout, "%-16s %6s %6s %10s %10s %10s %10s %10s %9s %8s\n", "host", "cpu%", "load1",
			"memavail", "net rx/s", "net tx/s", "disk rd/s", "disk wr/s", "tacetd", "read")
	}
	busy, rx, tx, rd, wr, self := "-", "-", "-", "-", "-", "-"
	if p != nil && r.Mono > p.Mono {
		sec := float64(r.Mono-p.Mono) / 1e9
		rate := func(a, b uint64) string { return bytesHuman(float64(a-min(a, b)) / sec) }
		busy = fmt.Sprintf("%.1f", 100*r.CPUBusy)
		rx, tx, rd, wr = rate(r.NetRx, p.NetRx), rate(r.NetTx, p.NetTx), rate(r.DiskRead, p.DiskRead), rate(r.DiskWrite, p.DiskWrite)
		self = fmt.Sprintf("%.2f%%", 100*float64(r.SelfCPU-min(r.SelfCPU, p.SelfCPU))/1e9/sec)
	}
	fmt.Fprintf(t.stdout, "%-16s %6s %6.2f %10s %10s %10s %10s %10s %9s %8s\n", r.Host, busy, r.Load1,
		bytesHuman(float64(r.MemAvail)), rx, tx, rd, wr, self, time.Duration(r.Dur).Round(time.Microsecond))
}

// bytesHuman formats a byte count with a binary unit.
func bytesHuman(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	return fmt.Sprintf("%.1f%s", b, units[i])
}
