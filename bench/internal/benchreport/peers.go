// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"io"
	"strconv"
)

// The tables of the benchmarks that put tacetd beside ssh, pdsh, clush
// and supervisord, and of the noise it adds to a co-located experiment.

var peerSections = []section{
	{
		bench: "BenchmarkPeerLatency",
		about: "Run /bin/true and learn that it exited: through tacetd (client over unix and tcp), " +
			"`ssh h1 true` to a private sshd (a full handshake each time), the same through a " +
			"ControlMaster already up, `supervisorctl start true` and supervisord's XML-RPC " +
			"startProcess, each followed by polling getProcessInfo every 1 ms until EXITED. " +
			"Baseline: a local fork+exec+wait. Ratios are medians of per-iteration ratios, with their p10 – p90.",
		table: writePeerLatency,
	},
	{
		bench: "BenchmarkPeerFanout",
		about: "Run true on N loopback hosts and collect every exit status: `tacet -w 127.0.0.1:[P-P+N-1] run` " +
			"against N tacetd, `pdsh -R ssh` and `clush` on N aliases of one private sshd, all with a fan-out " +
			"of 64, each a fresh command. Ratios: the peer's time over tacet's in the same iteration, median (min – max).",
		table: writePeerFanout,
	},
	{
		bench: "BenchmarkNoise",
		about: "A co-located experiment beside no tacetd (baseline), an idle tacetd with one idle controller, " +
			"the same controller subscribed to every host sample source at 10 Hz, and the controller " +
			"reading a child's stdout through tacetd as fast as it can (the reader runs on this machine " +
			"too, so this is an upper bound). Experiments: a CPU-bound loop compiled with gcc -O2 (its run " +
			"time) and a probe sleeping 1 ms at a time (how late it wakes). Ratios: against absent in the " +
			"same iteration, median (min – max). Its CPU: the daemon's own time on CPU meanwhile.",
		table: writeNoise,
	},
	{
		bench: "BenchmarkNoiseSampling",
		about: "The targets on sampling at 10 Hz: BenchmarkNoise's CPU-bound loop, about 0.1 s a run, beside a " +
			"daemon sampling every source for one controller and beside the same daemon idle, in pairs, in a " +
			"rotating order. Unpinned: the loop's slowdown in run time. Pinned: the loop and tacetd --cpus on " +
			"one CPU, the controller kept off it; the loop's slowdown less 1.2 times tacetd's share of that CPU " +
			"over the loop's run time (its schedstat time, sampling less idle). Per-pair figures in percent: " +
			"their median, with a distribution-free 95% confidence interval of that median, and their extremes, " +
			"which only say how noisy the machine was. Met: the whole interval meets the target; inconclusive: " +
			"it straddles the target. The pinned case runs again at 100 Hz, with a quarter of the pairs.",
		table: writeNoiseSampling,
	},
}

// ratioCell shows the median of a ratio metric and the spread between
// the metrics lo and hi.
func ratioCell(res results, b, ratio, lo, hi string) string {
	v, _, ok := res.value(b, ratio)
	if !ok {
		return "–"
	}
	l, _, ok1 := res.value(b, lo)
	h, _, ok2 := res.value(b, hi)
	if !ok1 || !ok2 {
		return num(v) + "×"
	}
	return num(v) + "× (" + num(l) + " – " + num(h) + ")"
}

func writePeerLatency(w io.Writer, res results, sec section) {
	b := sec.bench
	fmt.Fprintln(w, "| Subject | p50 | p90 | Local p50 | × local | × tacet tcp |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	local := cell(res, b, "local-p50-ns", "µs", 1e3)
	labels := []string{"tacet unix", "tacet tcp", "ssh", "ssh ControlMaster",
		"supervisorctl start", "supervisord XML-RPC"}
	for i, s := range []string{"unix", "tcp", "ssh", "ssh-mux", "supervisorctl", "xmlrpc"} {
		vsTCP := ""
		if i > 1 {
			vsTCP = ratioCell(res, b, s+"/tcp-p50", s+"/tcp-p10", s+"/tcp-p90")
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", labels[i],
			cell(res, b, s+"-p50-ns", "µs", 1e3), cell(res, b, s+"-p90-ns", "µs", 1e3), local,
			ratioCell(res, b, s+"/local-p50", s+"/local-p10", s+"/local-p90"), vsTCP)
	}
}

func writePeerFanout(w io.Writer, res results, sec section) {
	b := sec.bench
	fmt.Fprintln(w, "| Hosts | tacet run | pdsh | clush | pdsh / tacet | clush / tacet |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, n := range []int{1, 10, 100} {
		sfx := "-" + strconv.Itoa(n)
		if _, _, ok := res.value(b, "tacet"+sfx+"-ms"); !ok {
			continue // smoke runs stop at 10
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s |\n", n,
			cell(res, b, "tacet"+sfx+"-ms", "ms", 0), cell(res, b, "pdsh"+sfx+"-ms", "ms", 0),
			cell(res, b, "clush"+sfx+"-ms", "ms", 0),
			ratioCell(res, b, "pdsh/tacet"+sfx, "pdsh/tacet"+sfx+"-min", "pdsh/tacet"+sfx+"-max"),
			ratioCell(res, b, "clush/tacet"+sfx, "clush/tacet"+sfx+"-min", "clush/tacet"+sfx+"-max"))
	}
}

// writeNoiseSampling states the two targets on the CPU-bound loop: the
// slowdown sampling adds to an idle daemon, unpinned, and pinned to the
// daemon's CPU against the daemon's own share of it. Each is judged on
// the 95% confidence interval of its median over the pairs: met when the
// whole interval meets the target, not met when none of it does, and
// inconclusive when the interval straddles the target, as it does when
// the machine is too noisy for the pairs run.
func writeNoiseSampling(w io.Writer, res results, sec section) {
	b := sec.bench
	fmt.Fprintln(w, "| Case | Median | 95% CI of the median | Min – max | Target | Met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	line := func(label, m, target string, met func(lo, hi float64) string) {
		v, _, ok := res.value(b, m+"-%")
		if !ok {
			return
		}
		lo, _, okLo := res.value(b, m+"-ci-lo-%")
		hi, _, okHi := res.value(b, m+"-ci-hi-%")
		mn, _, _ := res.value(b, m+"-min-%")
		mx, _, _ := res.value(b, m+"-max-%")
		verdict := ""
		if met != nil && okLo && okHi {
			verdict = met(lo, hi)
		}
		fmt.Fprintf(w, "| %s | %+.3f%% | %+.3f – %+.3f%% | %+.2f – %+.2f%% | %s | %s |\n",
			label, v, lo, hi, mn, mx, target, verdict)
	}
	// under is the verdict on "the figure is under limit", atMost on "at
	// most limit", each judged on the whole interval.
	under := func(limit float64) func(lo, hi float64) string {
		return func(lo, hi float64) string { return verdict(hi < limit, lo < limit && hi >= limit) }
	}
	atMost := func(limit float64) func(lo, hi float64) string {
		return func(lo, hi float64) string { return verdict(hi <= limit, lo <= limit && hi > limit) }
	}
	line("unpinned: slowdown of the loop's run time", "unpinned", "upper end < 0.5 %", under(0.5))
	line("unpinned: growth of the loop's own CPU time", "unpinned-loopcpu", "(informative)", nil)
	line("pinned: slowdown of the loop's run time", "pinned", "", nil)
	line("pinned: tacetd's added share of the CPU", "pinned-share", "", nil)
	line("pinned: slowdown − 1.2 × share", "pinned-excess", "≤ 0, all of the interval", atMost(0))
	line("pinned: growth of the loop's own CPU time", "pinned-loopcpu", "(informative)", nil)
	line("pinned, 100 Hz: slowdown of the loop's run time", "pinned100", "", nil)
	line("pinned, 100 Hz: tacetd's added share of the CPU", "pinned100-share", "", nil)
	line("pinned, 100 Hz: slowdown − 1.2 × share", "pinned100-excess", "(informative)", nil)
	if v, _, ok := res.value(b, "pinned100-slowdown/share"); ok {
		lo, _, _ := res.value(b, "pinned100-slowdown/share-ci-lo")
		hi, _, _ := res.value(b, "pinned100-slowdown/share-ci-hi")
		fmt.Fprintf(w, "\nPinned at 100 Hz, where tacetd's share is large beside the noise of one pair, the loop "+
			"is slowed by %s × tacetd's own CPU time (95%% CI %s – %s): the cost of a sample to the loop "+
			"beside the CPU time the daemon spends on it, which does not depend on the rate.\n", num(v), num(lo), num(hi))
	}
}

// verdict says whether a target is met, or that noise leaves it open.
func verdict(ok, noisy bool) string {
	switch {
	case noisy:
		return "inconclusive (noise)"
	case ok:
		return "yes"
	}
	return "**no**"
}

func writeNoise(w io.Writer, res results, sec section) {
	b := sec.bench
	fmt.Fprintln(w, "| tacetd | Its CPU µs/s | CPU loop | × absent | Late p50 | × absent | Late p99 | × absent | Target | Met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, c := range []string{"absent", "idle", "sampling", "streaming"} {
		r := func(fig string) string {
			if c == "absent" {
				return "(baseline)"
			}
			m := c + "/absent-" + fig
			return ratioCell(res, b, m, m+"-min", m+"-max")
		}
		// Idle and sampling are held to "nothing measurable" on the loop;
		// streaming at full speed is a cost a researcher chooses.
		target, met := "", ""
		if c == "idle" || c == "sampling" {
			target = "CPU ≤ 1.02 × absent"
			if v, _, ok := res.value(b, c+"/absent-cpu"); ok {
				met = map[bool]string{true: "yes", false: "**no**"}[v <= 1.02]
			}
		}
		label := c
		if c == "streaming" {
			label += " (" + cell(res, b, "streaming-MB/s", "MB/s", 0) + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label,
			cell(res, b, c+"-tacetd-cpu-us/s", "", 0), cell(res, b, c+"-cpu-ms", "ms", 0), r("cpu"),
			cell(res, b, c+"-late-p50-us", "µs", 0), r("p50"),
			cell(res, b, c+"-late-p99-us", "µs", 0), r("p99"), target, met)
	}
}

// idlePeers are the peers BenchmarkIdleWakeups measures beside tacetd,
// with the tacetd subject each compares with.
var idlePeers = [][2]string{{"sshd0", "idle0"}, {"sshd1", "tcp1"}, {"supervisord", "idle0"}}

// writeIdlePeers is the second table of BenchmarkIdleWakeups: ssh and
// supervisord idle over the same window as the daemons.
func writeIdlePeers(w io.Writer, res results, b string) {
	fmt.Fprintln(w, "\nBeside the tools tacetd replaces, over the same window: sshd0 is a private sshd with no "+
		"session, sshd1 one with an idle ControlMaster connection (listener and session processes summed), "+
		"supervisord has one program, not running.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Subject | Wake-ups/s | CPU µs/s | RSS KiB | Threads | tacetd alike | its wake-ups/s | its CPU µs/s | its RSS KiB |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, p := range idlePeers {
		s, t := p[0], p[1]
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s,
			cell(res, b, s+"-wakeups/s", "", 0), cell(res, b, s+"-cpu-us/s", "", 0),
			cell(res, b, s+"-rss-KiB", "", 0), cell(res, b, s+"-threads", "", 0), t,
			cell(res, b, t+"-wakeups/s", "", 0), cell(res, b, t+"-cpu-us/s", "", 0),
			cell(res, b, t+"-rss-KiB", "", 0))
	}
}
