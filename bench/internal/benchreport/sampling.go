// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"io"
	"strconv"
)

var samplingSection = section{
	bench: "BenchmarkSamplingCost",
	about: "One controller subscribed to every source and the 10 processes tacetd started, at each rate, over the " +
		"Unix socket, and over TCP loopback at 10 and 100 Hz as a remote controller would (a peer reading a Unix " +
		"socket wakes the epoll of its other end, a voluntary wake-up more for many samples), " +
		"beside a reference sampler in C (bench/testdata/refsampler.c) preading the same files, kept open, " +
		"at the same rate with clock_nanosleep(TIMER_ABSTIME). CPU: schedstat run time of all threads; " +
		"wake-ups: voluntary plus involuntary context switches of all threads (voluntary alone in parentheses: " +
		"the thread slept; involuntary ones are preemptions, such as by the local controller the sample's " +
		"write wakes, or by other load); both per sample delivered, " +
		"less tacetd's idle rate and the reference's fixed start and stop cost. The two run in turn, never " +
		"at once. Ratio: tacetd's CPU per sample over the reference's in the same iteration, median (min – max). " +
		"Delivered: samples the controller read over those due (below 1 when tacetd skipped a late sample).",
	table: writeSampling,
}

func writeSampling(w io.Writer, res results, sec section) {
	b := sec.bench
	fmt.Fprintf(w, "Files per sample: %s. tacetd idle, controller connected: %s µs CPU/s, %s wake-ups/s.\n\n",
		cell(res, b, "ref-files", "", 0), cell(res, b, "tacetd-idle-cpu-us/s", "", 0),
		cell(res, b, "tacetd-idle-wakeups/s", "", 0))
	fmt.Fprintln(w, "| Rate, transport | tacetd µs/sample | C µs/sample | CPU × C | tacetd wake-ups/sample | C wake-ups/sample | tacetd % of a core | Delivered | Target | Met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	rows := []struct {
		hz int
		tr string
	}{{1, "unix"}, {10, "unix"}, {100, "unix"}, {1000, "unix"}, {10, "tcp"}, {100, "tcp"}}
	for _, r := range rows {
		hz, p := r.hz, strconv.Itoa(r.hz)+"Hz"
		if r.tr != "unix" {
			p = r.tr + "-" + p
		}
		if _, _, ok := res.value(b, p+"-cpu/ref"); !ok {
			continue
		}
		met := ""
		ratio, _, ok1 := res.value(b, p+"-cpu/ref")
		wk, _, ok2 := res.value(b, "tacetd-"+p+"-wakeups/sample")
		if ok1 && ok2 {
			met = "yes"
			switch {
			case ratio > 1.5 && wk > 2:
				met = "**no** (CPU, wake-ups)"
			case ratio > 1.5:
				met = "**no** (CPU)"
			case wk > 2:
				met = "**no** (wake-ups)"
			}
		}
		fmt.Fprintf(w, "| %d Hz, %s | %s | %s | %s | %s | %s | %s | %s | ≤ 1.5 × C, ≤ 2 wake-ups | %s |\n", hz, r.tr,
			cell(res, b, "tacetd-"+p+"-cpu-us/sample", "", 0), cell(res, b, "ref-"+p+"-cpu-us/sample", "", 0),
			ratioCell(res, b, p+"-cpu/ref", p+"-cpu/ref-min", p+"-cpu/ref-max"),
			cell(res, b, "tacetd-"+p+"-wakeups/sample", "", 0)+" ("+cell(res, b, "tacetd-"+p+"-voluntary/sample", "", 0)+")",
			cell(res, b, "ref-"+p+"-wakeups/sample", "", 0)+" ("+cell(res, b, "ref-"+p+"-voluntary/sample", "", 0)+")",
			cell(res, b, "tacetd-"+p+"-core-%", "", 0), cell(res, b, "tacetd-"+p+"-delivered/due", "", 0), met)
	}
}
