// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plotLatency draws the distribution of the control latencies whose
// per-iteration samples the benchmark wrote to dir (ControlLatency-*.txt,
// nanoseconds), one line per subject, to out. It reports false when there
// are no samples.
func plotLatency(dir, out string) (bool, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "ControlLatency-*.txt"))
	if len(files) == 0 {
		return false, nil
	}
	sort.Strings(files)
	p := plot.New()
	p.Title.Text = "Start request to exit record of /bin/true"
	p.X.Label.Text = "latency (µs)"
	p.Y.Label.Text = "fraction of iterations at most"
	p.X.Min = 0
	p.Legend.Top = false
	p.Legend.Left = false
	var lines []any
	for _, f := range files {
		vs, err := readSamples(f)
		if err != nil {
			return false, err
		}
		if len(vs) == 0 {
			continue
		}
		slices.Sort(vs)
		xys := make(plotter.XYs, len(vs))
		for i, v := range vs {
			xys[i] = plotter.XY{X: v / 1e3, Y: float64(i+1) / float64(len(vs))}
		}
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "ControlLatency-"), ".txt")
		lines = append(lines, fmt.Sprintf("%s (n=%d)", name, len(vs)), xys)
	}
	if len(lines) == 0 {
		return false, nil
	}
	if err := plotutil.AddLines(p, lines...); err != nil {
		return false, err
	}
	return true, save(p, 6*vg.Inch, 4*vg.Inch, out)
}

// readSamples reads one number per line.
func readSamples(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var vs []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			v, err := strconv.ParseFloat(line, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			vs = append(vs, v)
		}
	}
	return vs, sc.Err()
}

// ratio is one paired ratio with its spread, for plotRatios.
type ratio struct {
	label     string
	v, lo, hi float64
}

// ratios gathers every ratio the report shows with a spread: the table
// rows that have one, and each metric NAME of the other benchmarks that
// comes with NAME-min and NAME-max.
func ratios(res results) []ratio {
	var out []ratio
	for _, sec := range sections {
		for _, r := range sec.rows {
			v, _, ok := res.value(sec.bench, r.ratio)
			lo, _, okLo := res.value(sec.bench, r.lo)
			hi, _, okHi := res.value(sec.bench, r.hi)
			if ok && okLo && okHi {
				out = append(out, ratio{label: short(sec.bench) + ": " + r.label, v: v, lo: lo, hi: hi})
			}
		}
	}
	var benches []string
	for _, sec := range sections {
		if sec.table != nil && res[sec.bench] != nil {
			benches = append(benches, sec.bench)
		}
	}
	for _, b := range benches {
		var names []string
		for u := range res[b] {
			if strings.Contains(u, "/") && !strings.HasSuffix(u, "-min") && !strings.HasSuffix(u, "-max") {
				names = append(names, u)
			}
		}
		sort.Strings(names)
		for _, u := range names {
			v, _, ok := res.value(b, u)
			lo, _, okLo := res.value(b, u+"-min")
			hi, _, okHi := res.value(b, u+"-max")
			if ok && okLo && okHi {
				out = append(out, ratio{label: short(b) + ": " + u, v: v, lo: lo, hi: hi})
			}
		}
	}
	return out
}

func short(bench string) string { return strings.TrimPrefix(bench, "Benchmark") }

// ratioBars is the data of plotRatios: one point per ratio at y = its
// index, with its spread as an error bar along x.
type ratioBars struct {
	plotter.XYs
	plotter.XErrors
}

// plotRatios draws every ratio of the report with its spread, one row
// each, beside a line at 1 (the baseline), to out. It reports false when
// there is none.
func plotRatios(res results, out string) (bool, error) {
	rs := ratios(res)
	if len(rs) == 0 {
		return false, nil
	}
	p := plot.New()
	p.Title.Text = "Each figure over its baseline (median, bars: spread)"
	p.X.Label.Text = "ratio to the baseline measured in the same run (log scale)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	bars := ratioBars{XYs: make(plotter.XYs, len(rs)), XErrors: make(plotter.XErrors, len(rs))}
	labels := make([]string, len(rs))
	lo, hi := 1.0, 1.0
	for i, r := range rs {
		v := max(r.v, 1e-3)
		bars.XYs[i] = plotter.XY{X: v, Y: float64(i)}
		bars.XErrors[i].Low, bars.XErrors[i].High = max(v-max(r.lo, 1e-3), 0), max(max(r.hi, 1e-3)-v, 0)
		labels[i] = r.label
		lo, hi = min(lo, max(r.lo, 1e-3)), max(hi, r.hi)
	}
	eb, err := plotter.NewXErrorBars(bars)
	if err != nil {
		return false, err
	}
	pts, err := plotter.NewScatter(bars.XYs)
	if err != nil {
		return false, err
	}
	one, err := plotter.NewLine(plotter.XYs{{X: 1, Y: -0.5}, {X: 1, Y: float64(len(rs)) - 0.5}})
	if err != nil {
		return false, err
	}
	one.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(one, eb, pts)
	p.NominalY(labels...)
	p.X.Min, p.X.Max = lo/1.2, hi*1.2
	return true, save(p, 8*vg.Inch, vg.Length(len(rs))*0.3*vg.Inch+1.5*vg.Inch, out)
}

// save writes p to out, an SVG file, and to a PNG file beside it for
// viewers that show no SVG.
func save(p *plot.Plot, w, h vg.Length, out string) error {
	if err := p.Save(w, h, out); err != nil {
		return err
	}
	return p.Save(w, h, strings.TrimSuffix(out, filepath.Ext(out))+".png")
}
