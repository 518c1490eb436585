// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strconv"
	"strings"

	"gitlab.com/tacet/tacet/codec"
)

// sampleRow is one sample of one host, flattened into the columns that
// record writes and plot reads. Counters stay cumulative, as the daemon
// sends them; the fractions are rates since the host's previous sample,
// -1 for its first.
type sampleRow struct {
	host                              string
	seq, real, mono, dur              uint64
	cpus                              int
	cpuBusy                           float64
	user, system, idle, iowait        uint64
	memTotal, memAvail                uint64
	load1, load5, load15              float64
	running, blocked                  uint32
	ctxt                              uint64
	netRx, netTx, diskRead, diskWrite uint64
	procs                             int
	procsCPU, procsRSS                uint64
	procsBusy                         float64
	selfCPU, selfRSS, selfCtxt        uint64
	selfThreads                       uint32
	selfBusy                          float64
	missing                           []string

	busy, total uint64 // CPU ns of the sum line: not idle, all
}

// column is one field of a record file: its name, what it means (for
// help and README), and how a row gives it.
type column struct {
	name, doc string
	val       func(r *sampleRow) any // uint64, int, float64 or string
}

// columns are the fields of record's CSV header and JSON objects, in
// order.
var columns = []column{
	{"host", "daemon address as given in -w", func(r *sampleRow) any { return r.host }},
	{"seq", "sample number in the subscription; a jump means samples were dropped", func(r *sampleRow) any { return r.seq }},
	{"real_ns", "daemon CLOCK_REALTIME when reading began", func(r *sampleRow) any { return r.real }},
	{"mono_ns", "daemon CLOCK_MONOTONIC at the same instant", func(r *sampleRow) any { return r.mono }},
	{"read_ns", "time the daemon spent reading the sources", func(r *sampleRow) any { return r.dur }},
	{"cpus", "CPUs in /proc/stat", func(r *sampleRow) any { return r.cpus }},
	{"cpu_busy", "host CPU busy fraction (not idle, not iowait) since the previous row of the host; -1 first", func(r *sampleRow) any { return r.cpuBusy }},
	{"cpu_user_ns", "host CPU time in user mode, nice included, all CPUs, cumulative", func(r *sampleRow) any { return r.user }},
	{"cpu_system_ns", "host CPU time in kernel mode, irq and softirq included, cumulative", func(r *sampleRow) any { return r.system }},
	{"cpu_idle_ns", "host idle time, cumulative", func(r *sampleRow) any { return r.idle }},
	{"cpu_iowait_ns", "host iowait time, cumulative", func(r *sampleRow) any { return r.iowait }},
	{"mem_total_bytes", "MemTotal of /proc/meminfo", func(r *sampleRow) any { return r.memTotal }},
	{"mem_avail_bytes", "MemAvailable of /proc/meminfo", func(r *sampleRow) any { return r.memAvail }},
	{"load1", "load average, 1 minute", func(r *sampleRow) any { return r.load1 }},
	{"load5", "load average, 5 minutes", func(r *sampleRow) any { return r.load5 }},
	{"load15", "load average, 15 minutes", func(r *sampleRow) any { return r.load15 }},
	{"running", "procs_running", func(r *sampleRow) any { return r.running }},
	{"blocked", "procs_blocked", func(r *sampleRow) any { return r.blocked }},
	{"ctxt", "context switches since boot", func(r *sampleRow) any { return r.ctxt }},
	{"net_rx_bytes", "bytes received on every interface but lo, cumulative", func(r *sampleRow) any { return r.netRx }},
	{"net_tx_bytes", "bytes sent on every interface but lo, cumulative", func(r *sampleRow) any { return r.netTx }},
	{"disk_read_bytes", "bytes read from every block device, cumulative", func(r *sampleRow) any { return r.diskRead }},
	{"disk_write_bytes", "bytes written to every block device, cumulative", func(r *sampleRow) any { return r.diskWrite }},
	{"procs", "processes the daemon started and their descendants, alive at the sample", func(r *sampleRow) any { return r.procs }},
	{"procs_cpu_ns", "their CPU time (user and system), summed over the processes alive now", func(r *sampleRow) any { return r.procsCPU }},
	{"procs_busy", "their CPU use in CPUs (1 = one CPU) since the previous row, counting only processes in both; -1 first", func(r *sampleRow) any { return r.procsBusy }},
	{"procs_rss_bytes", "their resident memory, summed", func(r *sampleRow) any { return r.procsRSS }},
	{"daemon_cpu_ns", "tacetd's own CPU time since it started", func(r *sampleRow) any { return r.selfCPU }},
	{"daemon_busy", "tacetd's CPU use in CPUs since the previous row; -1 first", func(r *sampleRow) any { return r.selfBusy }},
	{"daemon_rss_bytes", "tacetd's resident memory", func(r *sampleRow) any { return r.selfRSS }},
	{"daemon_ctxt", "tacetd's context switches since it started", func(r *sampleRow) any { return r.selfCtxt }},
	{"daemon_threads", "tacetd's threads", func(r *sampleRow) any { return r.selfThreads }},
	{"missing", "sources the daemon could not read, separated by ;", func(r *sampleRow) any { return strings.Join(r.missing, ";") }},
}

// procKey names one process across samples: a pid the kernel reuses has
// another start time.
type procKey struct {
	pid   uint32
	start uint64
}

// sampleSources are the sources record and top ask for.
var sampleSources = []string{codec.SourceCPU, codec.SourceMem, codec.SourceLoad, codec.SourceNet,
	codec.SourceDisk, codec.SourceProc}

// hostRows turns the samples of one host into rows, keeping what the
// next row's rates need.
// cpuTimes returns the CPU time in c: all of it, and the part that was
// neither idle nor waiting for I/O.
func cpuTimes(c *codec.CPU) (total, busy uint64) {
	total = c.User + c.Nice + c.System + c.Idle + c.IOWait + c.IRQ + c.SoftIRQ + c.Steal
	return total, total - c.Idle - c.IOWait
}

// ioTotals sums the bytes received and sent by every network device but
// loopback, and read and written by every disk, in s.
func ioTotals(s *codec.Sample) (netRx, netTx, diskRead, diskWrite uint64) {
	for _, n := range s.Net {
		if string(n.Dev) != "lo" {
			netRx += n.RxBytes
			netTx += n.TxBytes
		}
	}
	for _, d := range s.Disk {
		diskRead += d.RdBytes
		diskWrite += d.WrBytes
	}
	return netRx, netTx, diskRead, diskWrite
}

type hostRows struct {
	host  string
	prev  *sampleRow
	procs map[procKey]uint64 // CPU ns of each process at the previous sample
}

func (h *hostRows) row(s *codec.Sample) *sampleRow {
	r := &sampleRow{host: h.host, seq: s.Seq, real: s.Real, mono: s.Mono, dur: s.Dur,
		cpuBusy: -1, procsBusy: -1, selfBusy: -1, missing: s.Miss,
		selfCPU: s.Self.UserNs + s.Self.SysNs, selfRSS: s.Self.RSS,
		selfCtxt: s.Self.NVCSw + s.Self.NIVCSw, selfThreads: s.Self.Threads}
	if len(s.CPU) > 0 {
		c := s.CPU[0]
		r.cpus = len(s.CPU) - 1
		r.user, r.system, r.idle, r.iowait = c.User+c.Nice, c.System+c.IRQ+c.SoftIRQ, c.Idle, c.IOWait
		r.total, r.busy = cpuTimes(&c)
	}
	if len(s.Mem) > 0 {
		r.memTotal, r.memAvail = s.Mem[0].Total, s.Mem[0].Avail
	}
	if len(s.Load) > 0 {
		l := s.Load[0]
		r.load1, r.load5, r.load15, r.running, r.blocked, r.ctxt = l.Avg1, l.Avg5, l.Avg15, l.Running, l.Blocked, l.Ctxt
	}
	r.netRx, r.netTx, r.diskRead, r.diskWrite = ioTotals(s)

	// Process CPU over the interval counts only processes seen at both
	// ends, so that one that ended does not make the sum go backwards.
	now := make(map[procKey]uint64, len(s.Proc))
	var delta uint64
	for _, p := range s.Proc {
		cpu := p.UserNs + p.SysNs
		k := procKey{p.PID, p.Start}
		now[k] = cpu
		r.procsCPU += cpu
		r.procsRSS += p.RSS
		if before, ok := h.procs[k]; ok && cpu >= before {
			delta += cpu - before
		}
	}
	r.procs = len(s.Proc)

	if p := h.prev; p != nil && r.mono > p.mono {
		sec := float64(r.mono - p.mono)
		if r.total > p.total {
			r.cpuBusy = float64(r.busy-min(r.busy, p.busy)) / float64(r.total-p.total)
		}
		r.procsBusy = float64(delta) / sec
		r.selfBusy = float64(r.selfCPU-min(r.selfCPU, p.selfCPU)) / sec
	}
	h.prev, h.procs = r, now
	return r
}

// formatValue is a column's value as CSV text.
func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', 6, 64)
	case int:
		return strconv.Itoa(x)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	}
	panic("formatValue: unexpected type")
}
