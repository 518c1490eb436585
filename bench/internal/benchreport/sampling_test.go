// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"
)

// TestSamplingVerdicts checks the Met column of the sampling table and
// of the noise targets, from benchmark lines as go test prints them.
func TestSamplingVerdicts(t *testing.T) {
	raw := "BenchmarkSamplingCost-2 1 1 ns/op 1.2 10Hz-cpu/ref 1.1 10Hz-cpu/ref-min 1.3 10Hz-cpu/ref-max " +
		"1.5 tacetd-10Hz-wakeups/sample 1.9 100Hz-cpu/ref 1.9 100Hz-cpu/ref-min 1.9 100Hz-cpu/ref-max " +
		"2.5 tacetd-100Hz-wakeups/sample\n" +
		"BenchmarkNoiseSampling-2 1 1 ns/op 0.1 unpinned-% -0.2 unpinned-ci-lo-% 0.3 unpinned-ci-hi-% " +
		"-2 unpinned-min-% 2 unpinned-max-% 0.1 pinned-excess-% -0.2 pinned-excess-ci-lo-% 0.3 pinned-excess-ci-hi-% " +
		"-2 pinned-excess-min-% 2 pinned-excess-max-%\n"
	res, _, err := parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeSampling(&b, res, samplingSection)
	writeNoiseSampling(&b, res, section{bench: "BenchmarkNoiseSampling"})
	out := b.String()
	for _, want := range []string{
		"| 10 Hz, unix |", "| yes |",
		"| 100 Hz, unix |", "**no** (CPU, wake-ups)",
		"| unpinned: slowdown of the loop's run time | +0.100% | -0.200 – +0.300% | -2.00 – +2.00% | upper end < 0.5 % | yes |",
		"| pinned: slowdown − 1.2 × share | +0.100% | -0.200 – +0.300% | -2.00 – +2.00% | ≤ 0, all of the interval | inconclusive (noise) |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
