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
		"BenchmarkNoise-2 1 1 ns/op 1.001 sampling/idle-cpu 0.999 sampling/idle-cpu-min 1.002 sampling/idle-cpu-max\n" +
		"BenchmarkNoisePinned-2 1 1 ns/op 0.5 pinned-slowdown-% -20 pinned-slowdown-min-% 30 pinned-slowdown-max-% " +
		"0.4 pinned-sampling-share-%\n"
	res, _, err := parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeSampling(&b, res, samplingSection)
	writeNoiseTargets(&b, res)
	out := b.String()
	for _, want := range []string{
		"| 10 Hz, unix |", "| yes |",
		"| 100 Hz, unix |", "**no** (CPU, wake-ups)",
		"| unpinned, wall time | 1.001× (0.999 – 1.002) | | | upper end < 1.005 × idle | yes |",
		"≤ 1.2 × share | inconclusive (noise) |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
