// SPDX-License-Identifier: Apache-2.0

// Command benchreport turns the output of `go test -bench` on package
// bench into a Markdown report: one table per benchmark, each figure
// beside its baseline and their ratio, with the target it is held to.
// A metric reported more than once (with -count) is shown as the median
// of its values, with their range.
//
//	benchreport -in raw.txt -out report.md [-mode smoke|full] [-samples DIR]
//
// Beside report.md it writes report.json, one record per figure, and two
// plots that the report shows: ratios.svg, every ratio with its spread,
// and, from the per-iteration samples in DIR, latency.svg, the
// distribution of control latencies.
//
// With no flags it prints what it is and exits 0, so that a runner which
// starts every main package under bench/ finds nothing to fail on.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	in := flag.String("in", "", "`file` of go test -bench output")
	out := flag.String("out", "", "`file` to write the report to")
	mode := flag.String("mode", "full", "smoke or full, shown in the title")
	samples := flag.String("samples", "", "`directory` of per-iteration samples the benchmarks wrote")
	flag.Parse()
	if *in == "" || *out == "" {
		fmt.Println("benchreport: writes bench/out/report.md for bench/run.sh; needs -in and -out")
		return
	}
	if err := run(*in, *out, *mode, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(in, out, mode, samples string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	res, header, err := parse(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", in, err)
	}
	base := strings.TrimSuffix(out, filepath.Ext(out))
	if err := writeJSON(base+".json", res); err != nil {
		return err
	}
	var plots []string
	dir := filepath.Dir(out)
	if ok, err := plotRatios(res, filepath.Join(dir, "ratios.svg")); err != nil {
		return fmt.Errorf("plot ratios: %w", err)
	} else if ok {
		plots = append(plots, "ratios.svg")
	}
	if samples != "" {
		if ok, err := plotLatency(samples, filepath.Join(dir, "latency.svg")); err != nil {
			return fmt.Errorf("plot latency: %w", err)
		} else if ok {
			plots = append(plots, "latency.svg")
		}
	}
	w, err := os.Create(out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	write(bw, res, header, mode, in)
	writePlots(bw, plots, filepath.Base(base)+".json")
	if err := bw.Flush(); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", out, err)
	}
	return w.Close()
}

// writePlots links the plots, which sit beside the report, and names
// the JSON file.
func writePlots(w io.Writer, plots []string, json string) {
	fmt.Fprintf(w, "\n## Plots\n\nEvery figure above is also in `%s`, one record each.\n\n", json)
	for _, p := range plots {
		fmt.Fprintf(w, "![%s](%s)\n\n", strings.TrimSuffix(p, ".svg"), p)
	}
}

// results maps a benchmark's name, without the -GOMAXPROCS suffix, to
// its metrics by unit, each with every value reported.
type results map[string]map[string][]float64

// parse reads benchmark lines ("BenchmarkX-2  N  v unit  v unit ...")
// and the goos/cpu/pkg header lines.
func parse(r io.Reader) (results, []string, error) {
	res := results{}
	var header []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, h := range []string{"goos:", "goarch:", "cpu:"} {
			if strings.HasPrefix(line, h) && !slices.Contains(header, line) {
				header = append(header, line)
			}
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		if res[name] == nil {
			res[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			res[name][f[i+1]] = append(res[name][f[i+1]], v)
		}
	}
	return res, header, sc.Err()
}

// value returns the median of a metric and a note of its range when it
// was reported more than once, or ok false when it is missing.
func (r results) value(bench, unit string) (v float64, spread string, ok bool) {
	vs := r[bench][unit]
	if len(vs) == 0 {
		return 0, "", false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	v = (s[(n-1)/2] + s[n/2]) / 2
	if n > 1 {
		spread = fmt.Sprintf(" (%s–%s over %d runs)", num(s[0]), num(s[n-1]), n)
	}
	return v, spread, true
}

func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprint(v)
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

func write(w io.Writer, res results, header []string, mode, raw string) {
	fmt.Fprintf(w, "# tacet benchmarks (%s)\n\n", mode)
	fmt.Fprintf(w, "%s. %s. Raw output: `%s`.\n\n", time.Now().UTC().Format(time.RFC3339),
		strings.Join(header, ", "), raw)
	fmt.Fprintln(w, "Every subject ran beside its baseline in the same run, interleaved;")
	fmt.Fprintln(w, "ratios are medians of per-iteration ratios unless the row says otherwise.")
	fmt.Fprintln(w, "A target is what we aim for; missing one fails nothing.")
	for _, sec := range sections {
		writeSection(w, res, sec)
	}
}

func writeSection(w io.Writer, res results, sec section) {
	fmt.Fprintf(w, "\n## %s\n\n%s\n\n", sec.bench, sec.about)
	if res[sec.bench] == nil {
		fmt.Fprintln(w, "Not run, or it failed: see the raw output.")
		return
	}
	if sec.table != nil {
		sec.table(w, res, sec)
		return
	}
	fmt.Fprintln(w, "| Subject | Figure | Baseline | Ratio | Spread of ratio | Target | Met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, row := range sec.rows {
		fig := cell(res, sec.bench, row.value, row.unit, row.div)
		base := cell(res, sec.bench, row.base, row.unit, row.div)
		ratio := cell(res, sec.bench, row.ratio, "", 0)
		spread := ""
		if row.lo != "" {
			lo, _, ok1 := res.value(sec.bench, row.lo)
			hi, _, ok2 := res.value(sec.bench, row.hi)
			if ok1 && ok2 {
				spread = num(lo) + " – " + num(hi)
			}
		}
		met := ""
		if row.met != nil {
			if v, _, ok := res.value(sec.bench, row.check); ok {
				met = map[bool]string{true: "yes", false: "**no**"}[row.met(v)]
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n",
			row.label, fig, base, ratio, spread, row.target, met)
	}
}

// cell shows a metric divided by div (0 means 1), with its unit and
// its range over runs.
func cell(res results, bench, metric, unit string, div float64) string {
	if metric == "" {
		return ""
	}
	v, spread, ok := res.value(bench, metric)
	if !ok {
		return "–"
	}
	if div != 0 {
		v /= div
		spread = "" // the range is in the metric's own unit; keep the cell short
	}
	if unit != "" {
		unit = " " + unit
	}
	return num(v) + unit + spread
}
