// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// raw is go test output for two runs of the latency benchmark (-count 2)
// and one of the noise benchmark, whose table is laid out by hand.
const raw = `goos: linux
cpu: Test CPU
BenchmarkControlLatency-2   	      30	   7286362 ns/op	30.00 tcp-n	1373034 tcp-p50-ns	2244351 tcp-p90-ns	3965314 tcp-p99-ns	1.382 tcp/local-p50	2.416 tcp/local-p90	916386 local-p50-ns
BenchmarkControlLatency-2   	      30	   7286362 ns/op	30.00 tcp-n	1573034 tcp-p50-ns	2244351 tcp-p90-ns	4965314 tcp-p99-ns	1.582 tcp/local-p50	2.416 tcp/local-p90	916386 local-p50-ns
BenchmarkNoise-2   	2	1 ns/op	1.010 idle/absent-cpu	0.990 idle/absent-cpu-min	1.030 idle/absent-cpu-max
`

func TestReport(t *testing.T) {
	dir := t.TempDir()
	in, out, samples := filepath.Join(dir, "raw.txt"), filepath.Join(dir, "report.md"), filepath.Join(dir, "samples")
	os.WriteFile(in, []byte(raw), 0o644)
	os.Mkdir(samples, 0o755)
	os.WriteFile(filepath.Join(samples, "ControlLatency-tcp.txt"), []byte("1373034\n1573034\n2000000\n"), 0o644)
	if err := run(in, out, "smoke", samples); err != nil {
		t.Fatal(err)
	}

	md, _ := os.ReadFile(out)
	for _, want := range []string{"| tcp (median) | 1473 µs", "![ratios](ratios.svg)", "![latency](latency.svg)", "report.json"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}

	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []record
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	var tcp, noise *record
	for i := range recs {
		switch {
		case recs[i].Metric == "tcp-p50-ns":
			tcp = &recs[i]
		case recs[i].Bench == "BenchmarkNoise" && recs[i].Metric == "idle/absent-cpu":
			noise = &recs[i]
		}
	}
	if tcp == nil || noise == nil {
		t.Fatalf("records lack the tcp latency or the noise ratio: %s", b)
	}
	// Medians over the two runs, in the row's unit (µs).
	if tcp.Median != 1473.034 || tcp.P99 == nil || *tcp.P99 != 4465.314 || tcp.N == nil || *tcp.N != 30 || tcp.Runs != 2 {
		t.Errorf("tcp record %+v", *tcp)
	}
	if tcp.Baseline == nil || *tcp.Baseline != 916.386 || tcp.Ratio == nil || *tcp.Ratio != 1.482 {
		t.Errorf("tcp baseline or ratio: %+v", *tcp)
	}
	if tcp.Met == nil || !*tcp.Met {
		t.Errorf("tcp ratio 1.482 is within 1.5×, record says %+v", tcp.Met)
	}
	if noise.Median != 1.01 || noise.Runs != 1 {
		t.Errorf("noise record %+v", *noise)
	}

	for _, name := range []string{"ratios", "latency"} {
		svg, err := os.ReadFile(filepath.Join(dir, name+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		if err := xml.Unmarshal(svg, new(struct{})); err != nil {
			t.Errorf("%s.svg is not XML: %v", name, err)
		}
		p, err := os.ReadFile(filepath.Join(dir, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(p)); err != nil {
			t.Errorf("%s.png: %v", name, err)
		}
	}
	svg, _ := os.ReadFile(filepath.Join(dir, "ratios.svg"))
	for _, label := range []string{"ControlLatency: tcp (median)", "Noise: idle/absent-cpu"} {
		if !bytes.Contains(svg, []byte(label)) {
			t.Errorf("ratios.svg lacks %q", label)
		}
	}
}
