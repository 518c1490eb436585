// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"io"
)

// section is the table of one benchmark.
type section struct {
	bench string
	about string
	rows  []row
	table func(io.Writer, results, section) // nil: writeRows
}

// row is one figure beside its baseline. Metrics are named by the units
// the benchmark reports them with.
type row struct {
	label       string
	value, base string  // metrics of the subject and its baseline
	div         float64 // divides value and base for display; 0 means 1
	unit        string
	ratio       string // metric of the paired ratio
	lo, hi      string // metrics bounding the ratio's spread, or ""
	target      string
	check       string // metric that met tests
	met         func(float64) bool
}

func atMost(x float64) func(float64) bool  { return func(v float64) bool { return v <= x } }
func atLeast(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }

var sections = []section{
	{
		bench: "BenchmarkControlLatency",
		about: "From the start request of /bin/true to its exit record, through the client, " +
			"against a local fork+exec+wait with both pipes read to EOF. Spread: p50 – p90 of the per-iteration ratio. " +
			"Over KCP, writes and ACKs are flushed at once, so a lost-free loopback costs only KCP's own processing.",
		rows: []row{
			latencyRow("unix"),
			latencyRow("tcp"),
			latencyRow("kcp"),
		},
	},
	{
		bench: "BenchmarkOutputThroughput",
		about: "A child writes to stdout as fast as it can; the client reads its Stream to EOF. " +
			"Baseline: a raw socket of the same kind copying as many bytes, 64 KiB at a time. " +
			"The spool's floor is the same child into a pipe that a C program splices into a file: " +
			"the most that forwarding can carry when every byte is spooled first. Spread: min – max.",
		rows: []row{throughputRow("tcp"), throughputRow("unix"), floorRow("tcp"), floorRow("unix")},
	},
	{
		bench: "BenchmarkSecureThroughput",
		about: "The same child's stdout read from one daemon over plain tcp://, over tcp:// with the " +
			"per-frame MAC, and over tls://. Baseline: plain tcp://. Spread: min – max.",
		rows: []row{secureRow("tcp-mac", "tcp:// with frame.mac"), secureRow("tls", "tls://")},
	},
	{
		bench: "BenchmarkCaptureCost",
		about: "Run time (execve to reaping, from the exit record) of a child writing as fast as it can " +
			"with nobody reading, against the same child writing into a pipe drained by a local cat. " +
			"Two floors, each the child writing into a pipe that a small C program drains into a file on " +
			"the file system of the state directory: spliced into the file, the least that any capture costs " +
			"which puts each byte in a file before the child may reuse its room in the pipe; and read into " +
			"a ring in memory that a second thread writes behind with O_DIRECT, the least that a " +
			"write-behind spool costs, which loses the ring's bytes if it is killed. Spread: min – max.",
		rows: []row{
			captureRow("spool", "captured with spool"),
			captureRow("memonly", "captured in memory only"),
			{label: "floor of a spool (splice into a file)", value: "floor-ms", base: "local-ms", unit: "ms",
				ratio: "floor/local", lo: "floor/local-min", hi: "floor/local-max", target: "(informative)"},
			{label: "floor of a write-behind spool (O_DIRECT)", value: "direct-ms", base: "local-ms", unit: "ms",
				ratio: "direct/local", lo: "direct/local-min", hi: "direct/local-max", target: "(informative)"},
			{label: "captured with spool, against the floor", value: "spool-ms", base: "floor-ms", unit: "ms",
				ratio: "spool/floor", lo: "spool/floor-min", hi: "spool/floor-max", target: "(informative)"},
			{label: "tacetd peak RSS (VmHWM)", value: "tacetd-hwm-MiB", base: "mem-budget-MiB",
				unit: "MiB", ratio: "hwm/budget", target: "≤ 1 × --mem-budget",
				check: "hwm/budget", met: atMost(1)},
		},
	},
	{
		bench: "BenchmarkIdleWakeups",
		about: "Context switches of all threads per second (/proc/PID/task/*/status) of idle daemons, " +
			"all measured over the same window beside the floor, a Go process blocked in Accept. " +
			"idle0 listens on unix and tcp, idle0kcp on kcp too; the others have N idle controllers " +
			"on one transport (KCP ones ping every 4 s). A floor of 0 counts as 1 wake-up per window in the ratio.",
		table: writeIdle,
	},
	samplingSection,
	{
		bench: "BenchmarkPutBroadcast",
		about: "One file put to 8 loopback daemons through a chain of relays (tacet put --chain), against " +
			"putting it to each directly in parallel. Copies: bytes the controller wrote to its sockets " +
			"(/proc/self/io wchar) over the file's size. On loopback no uplink limits the direct put, so the " +
			"time ratio is what the relays cost; the copies are what a chain saves on a real uplink. Spread: min – max.",
		rows: []row{
			{label: "time per put", value: "chain-ms", base: "direct-ms", unit: "ms",
				ratio: "chain/direct", lo: "chain/direct-min", hi: "chain/direct-max",
				target: "(informative)", check: "chain/direct", met: atLeast(0)},
			{label: "copies sent by the controller", value: "chain-copies", base: "direct-copies",
				unit: "copies", ratio: "chain/direct-copies", target: "chain ≤ 1.2 copies",
				check: "chain-copies", met: atMost(1.2)},
		},
	},
	{
		bench: "BenchmarkNetnsSmallFiles",
		about: "A tree of 200 small files put to a tacetd across a link, between two network namespaces, " +
			"that adds 10 ms to every packet each way, then got back: with the default window of small " +
			"files in flight, against one file at a time (WithSmallFilesInFlight(1)), in turn. Ratio: one " +
			"at a time over the window, as the speed-up.",
		rows: []row{
			{label: "put of 200 small files, 20 ms round trip", value: "put-window-ms",
				base: "put-one-at-a-time-ms", unit: "ms", ratio: "put-speedup", target: "(informative)"},
			{label: "get of the same files", value: "get-window-ms",
				base: "get-one-at-a-time-ms", unit: "ms", ratio: "get-speedup", target: "(informative)"},
		},
	},
	peerSections[0], peerSections[1], peerSections[2], peerSections[3],
	{
		bench: "BenchmarkSyncStart",
		about: "`tacet run --sync` of a static C program on 8 loopback daemons; each program reads " +
			"CLOCK_REALTIME as its first act, and the spread of those readings is the figure. " +
			"Baseline: 8 children stopped after execve by one local process and released together, " +
			"with no network and no daemon. 50 trials (10 in a smoke run); p50 and p99 over the trials.",
		rows: []row{
			{label: "spread p50", value: "p50-µs", base: "base-p50-µs", unit: "µs", ratio: "p50/base",
				target: "≤ 1.5 × local", check: "p50/base", met: atMost(1.5)},
			{label: "spread p50, absolute", value: "p50-µs", unit: "µs",
				target: "≤ 200 µs", check: "p50-µs", met: atMost(200)},
			{label: "spread p99", value: "p99-µs", base: "base-p99-µs", unit: "µs", ratio: "p99/base",
				target: "(informative)"},
			{label: "daemons' own release instants, p50", value: "reported-p50-µs", unit: "µs",
				target: "(informative)"},
		},
	},
	{
		bench: "BenchmarkFanout",
		about: "`tacet -w 127.0.0.1:[P-P+N-1] run -- true` against N loopback daemons (N = 100, " +
			"20 in a smoke run), beside N runs of `tacet` against one daemon each, one after the " +
			"other, in the same iteration. Ratio: sequential time over fan-out time.",
		rows: []row{
			{label: "fan-out to N hosts", value: "fanout-ms/op", base: "sequential-ms/op", unit: "ms",
				ratio: "speedup", target: "< 100 ms for 100", check: "fanout-ms/op", met: atMost(100)},
		},
	},
}

func latencyRow(tr string) row {
	return row{label: tr + " (median)", value: tr + "-p50-ns", base: "local-p50-ns", div: 1e3, unit: "µs",
		ratio: tr + "/local-p50", lo: tr + "/local-p50", hi: tr + "/local-p90",
		target: "≤ 1.5 × local", check: tr + "/local-p50", met: atMost(1.5)}
}

func throughputRow(tr string) row {
	return row{label: tr, value: tr + "-MB/s", base: "raw" + tr + "-MB/s", unit: "MB/s",
		ratio: tr + "/raw", lo: tr + "/raw-min", hi: tr + "/raw-max",
		target: "≥ 0.5 × raw", check: tr + "/raw", met: atLeast(0.5)}
}

// floorRow is the ceiling that the spool puts on forwarding over tr.
func floorRow(tr string) row {
	return row{label: "floor of a spool, against raw " + tr, value: "floor-MB/s", base: "raw" + tr + "-MB/s",
		unit: "MB/s", ratio: "floor/raw" + tr, lo: "floor/raw" + tr + "-min", hi: "floor/raw" + tr + "-max",
		target: "(informative)"}
}

// secureRow has no target: it says what integrity costs, for choosing.
func secureRow(name, label string) row {
	return row{label: label, value: name + "-MB/s", base: "tcp-MB/s", unit: "MB/s",
		ratio: name + "/tcp", lo: name + "/tcp-min", hi: name + "/tcp-max",
		target: "(informative)", check: name + "/tcp", met: atLeast(0)}
}

func captureRow(mode, label string) row {
	return row{label: label, value: mode + "-ms", base: "local-ms", unit: "ms",
		ratio: mode + "/local", lo: mode + "/local-min", hi: mode + "/local-max",
		target: "≤ 1.10 × local", check: mode + "/local", met: atMost(1.10)}
}

// idleSubjects are the daemons of BenchmarkIdleWakeups, by metric prefix.
var idleSubjects = []string{"idle0", "idle0kcp", "unix1", "unix10", "tcp1", "tcp10", "kcp1", "kcp10"}

func writeIdle(w io.Writer, res results, sec section) {
	b := sec.bench
	fmt.Fprintln(w, "| Subject | Wake-ups/s | Floor | Ratio | Excess/s | Per session/s | CPU µs/s (floor) | RSS KiB (floor) | Threads | Target | Met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	floorCPU := cell(res, b, "floor-cpu-us/s", "", 0)
	floorRSS := cell(res, b, "floor-rss-KiB", "", 0)
	for _, s := range idleSubjects {
		target, met := "≤ floor + 1/s", ""
		check, ok := s+"-excess-wakeups/s", atMost(1)
		if s == "kcp1" || s == "kcp10" {
			target, check, ok = "< 10/s per session", s+"-per-session-wakeups/s", func(v float64) bool { return v < 10 }
		}
		if v, _, found := res.value(b, check); found {
			met = map[bool]string{true: "yes", false: "**no**"}[ok(v)]
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s (%s) | %s (%s) | %s | %s | %s |\n", s,
			cell(res, b, s+"-wakeups/s", "", 0), cell(res, b, "floor-wakeups/s", "", 0),
			cell(res, b, s+"/floor", "", 0), cell(res, b, s+"-excess-wakeups/s", "", 0),
			cell(res, b, s+"-per-session-wakeups/s", "", 0),
			cell(res, b, s+"-cpu-us/s", "", 0), floorCPU,
			cell(res, b, s+"-rss-KiB", "", 0), floorRSS,
			cell(res, b, s+"-threads", "", 0), target, met)
	}
	writeIdlePeers(w, res, b)
}
