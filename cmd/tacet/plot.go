// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// plotPoint is what plot takes from one row of a record file.
type plotPoint struct {
	host               string
	real               float64 // ns
	busy               float64 // fraction, -1 unknown
	memTotal, memAvail float64
}

func cmdPlot(ctx context.Context, t *cli, args []string) int {
	fs := newFlags("plot")
	out := fs.String("o", "", "write the plot to `FILE`.svg or FILE.png")
	width := fs.Float64("width", 20, "width in `CM`")
	height := fs.Float64("height", 16, "height in `CM`")
	// Flags may follow the file, as in "plot FILE -o OUT.svg".
	var files []string
	for {
		if err := t.parseFlags(fs, args); err != nil {
			return helpOrFail(t, err)
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 || *out == "" {
		return t.fail(usagef("plot takes one record file and -o OUT.svg|OUT.png"))
	}
	ext := strings.ToLower(filepath.Ext(*out))
	if ext != ".svg" && ext != ".png" {
		return t.fail(usagef(fmt.Sprintf("plot -o %q: want a .svg or .png file", *out)))
	}
	if *width <= 0 || *height <= 0 {
		return t.fail(usagef("plot: --width and --height must be positive"))
	}
	points, err := readRecord(files[0])
	if err != nil {
		return t.fail(err)
	}
	if len(points) == 0 {
		return t.fail(fmt.Errorf("%s has no samples", files[0]))
	}
	if err := writePlot(points, *out, ext, vg.Length(*width)*vg.Centimeter, vg.Length(*height)*vg.Centimeter); err != nil {
		return t.fail(err)
	}
	return exitOK
}

// readRecord reads the rows of a file that record wrote, as CSV or JSON
// Lines, whichever its first byte says.
func readRecord(path string) ([]plotPoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	first, err := br.Peek(1)
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rows []map[string]string
	if first[0] == '{' {
		rows, err = readJSONL(br)
	} else {
		rows, err = readCSV(br)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	points := make([]plotPoint, 0, len(rows))
	for i, r := range rows {
		p, err := pointOf(r)
		if err != nil {
			return nil, fmt.Errorf("read %s: row %d: %w", path, i+1, err)
		}
		points = append(points, p)
	}
	return points, nil
}

func readCSV(r io.Reader) ([]map[string]string, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, err
	}
	var rows []map[string]string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		m := make(map[string]string, len(header))
		for i, name := range header {
			m[name] = rec[i]
		}
		rows = append(rows, m)
	}
}

func readJSONL(r io.Reader) ([]map[string]string, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var rows []map[string]string
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err == io.EOF {
			return rows, nil
		} else if err != nil {
			return nil, err
		}
		m := make(map[string]string, len(obj))
		for k, v := range obj {
			m[k] = fmt.Sprint(v)
		}
		rows = append(rows, m)
	}
}

// pointOf takes the columns plot needs from one row.
func pointOf(r map[string]string) (plotPoint, error) {
	p := plotPoint{host: r["host"]}
	num := func(name string, dst *float64) error {
		v, ok := r[name]
		if !ok {
			return fmt.Errorf("no %s column", name)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%s %q is not a number", name, v)
		}
		*dst = f
		return nil
	}
	for _, c := range []struct {
		name string
		dst  *float64
	}{{"real_ns", &p.real}, {"cpu_busy", &p.busy}, {"mem_total_bytes", &p.memTotal}, {"mem_avail_bytes", &p.memAvail}} {
		if err := num(c.name, c.dst); err != nil {
			return p, err
		}
	}
	if p.host == "" {
		return p, fmt.Errorf("no host")
	}
	return p, nil
}

// writePlot draws, per host, CPU busy and memory used over time, one
// panel each, into out.
func writePlot(points []plotPoint, out, ext string, w, h vg.Length) error {
	t0 := points[0].real
	var hosts []string
	byHost := make(map[string][]plotPoint)
	for _, p := range points {
		t0 = min(t0, p.real)
		if _, ok := byHost[p.host]; !ok {
			hosts = append(hosts, p.host)
		}
		byHost[p.host] = append(byHost[p.host], p)
	}
	slices.Sort(hosts)

	cpu, mem := plot.New(), plot.New()
	cpu.Title.Text, cpu.Y.Label.Text = "CPU busy", "% of the host"
	mem.Title.Text, mem.Y.Label.Text = "Memory used", "MiB"
	cpu.Y.Min, cpu.Y.Max = 0, 100 // the axis grows past 100 on its own when data does
	for _, p := range []*plot.Plot{cpu, mem} {
		p.X.Label.Text = "seconds from the first sample"
		p.Add(plotter.NewGrid())
		p.Legend.Top = true
	}
	var cpuLines, memLines []any
	for _, host := range hosts {
		var c, m plotter.XYs
		for _, p := range byHost[host] {
			x := (p.real - t0) / 1e9
			if p.busy >= 0 {
				c = append(c, plotter.XY{X: x, Y: 100 * p.busy})
			}
			m = append(m, plotter.XY{X: x, Y: (p.memTotal - p.memAvail) / (1 << 20)})
		}
		if len(c) > 0 {
			cpuLines = append(cpuLines, host, c)
		}
		memLines = append(memLines, host, m)
	}
	if err := plotutil.AddLines(cpu, cpuLines...); err != nil {
		return err
	}
	if err := plotutil.AddLines(mem, memLines...); err != nil {
		return err
	}

	var c vg.CanvasWriterTo
	if ext == ".svg" {
		c = vgsvg.New(w, h)
	} else {
		c = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	canvases := plot.Align([][]*plot.Plot{{cpu}, {mem}}, tiles, dc)
	cpu.Draw(canvases[0][0])
	mem.Draw(canvases[1][0])

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", out, err)
	}
	return f.Close()
}
