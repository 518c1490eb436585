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
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// Record file formats.
const (
	formatCSV   = "csv"
	formatJSONL = "jsonl"
)

// formatOf returns the format named by flag, else the one path's
// extension implies.
func formatOf(flag, path string) (string, error) {
	f := flag
	if f == "" {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".csv":
			f = formatCSV
		case ".jsonl", ".ndjson", ".json":
			f = formatJSONL
		default:
			return "", usagef(fmt.Sprintf("cannot tell the format of %q from its extension: give --format csv or jsonl", path))
		}
	}
	if f != formatCSV && f != formatJSONL {
		return "", usagef(fmt.Sprintf("--format %q: want csv or jsonl", f))
	}
	return f, nil
}

func cmdRecord(ctx context.Context, t *cli, args []string) int {
	fs := newFlags("record")
	interval := fs.Duration("interval", time.Second, "sample every `DUR` (the daemon rounds up to a multiple of 1ms)")
	duration := fs.Duration("duration", 0, "stop after `DUR`; default: --count, else until interrupted")
	count := fs.Int("count", 0, "stop after `N` samples of every host")
	out := fs.String("o", "", "write to `FILE`; - for stdout")
	format := fs.String("format", "", "`FORMAT` csv or jsonl; default from the extension of -o")
	if err := t.parseFlags(fs, args); err != nil {
		return helpOrFail(t, err)
	}
	switch {
	case fs.NArg() != 0:
		return t.fail(usagef("record takes no arguments"))
	case *out == "":
		return t.fail(usagef("record: -o FILE is required"))
	case *interval <= 0 || *duration < 0 || *count < 0:
		return t.fail(usagef("record: --interval must be positive, --duration and --count not negative"))
	}
	f, err := formatOf(*format, *out)
	if *out == "-" && *format == "" {
		f, err = formatCSV, nil
	}
	if err != nil {
		return t.fail(err)
	}

	w := io.Writer(t.stdout)
	if *out != "-" {
		file, err := os.Create(*out)
		if err != nil {
			return t.fail(err)
		}
		defer file.Close()
		w = file
	}
	rw := newRecordWriter(w, f)
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	n, err := t.record(ctx, *interval, *count, rw)
	if cerr := rw.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return t.fail(err)
	}
	if *out != "-" {
		fmt.Fprintf(t.stderr, "tacet: %d rows from %d hosts in %s\n", n, len(t.opts.hosts), *out)
	}
	return exitOK
}

// recordDetails lists the columns, for "tacet record -h".
func recordDetails() string {
	var b strings.Builder
	b.WriteString("Columns, one row per host per sample (counters cumulative; rates are\ndifferences between rows of a host):\n")
	tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	for _, c := range columns {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.doc)
	}
	tw.Flush()
	return b.String()
}

// record subscribes to samples on every host and writes a row per host
// per sample until ctx ends or every host has given count rows. A host
// that cannot be reached is reported and left out.
func (t *cli) record(ctx context.Context, every time.Duration, count int, rw *recordWriter) (int, error) {
	g := client.DialGroup(ctx, t.opts.hosts, client.GroupConfig{Fanout: t.opts.fanout,
		Timeout: t.opts.connectTimeout, Options: t.dialOptions()})
	defer g.Close()
	subs := make([]*client.Samples, g.Len())
	errs := g.Each(ctx, func(ctx context.Context, i int, c *client.Client) error {
		var err error
		subs[i], err = c.SubscribeSamples(ctx, &codec.SampleArgs{Sources: sampleSources, Period: uint64(every)})
		return err
	})
	live := 0
	for i, err := range errs {
		if err != nil {
			t.warnf(g.Addr(i), "%v", shortError(err, hostName(g.Addr(i))))
			continue
		}
		live++
		defer subs[i].Close()
	}
	if live == 0 {
		return 0, fmt.Errorf("no host could be sampled")
	}

	var mu sync.Mutex // guards rw and rows
	rows := 0
	var werr error
	var wg sync.WaitGroup
	for i, s := range subs {
		if s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := &hostRows{host: hostName(g.Addr(i))}
			for n := 0; count == 0 || n < count; n++ {
				var smp *codec.Sample
				select {
				case <-ctx.Done():
					return
				case smp = <-s.C():
				}
				if smp == nil {
					t.warnf(g.Addr(i), "sampling ended: %v", g.Client(i).Err())
					return
				}
				mu.Lock()
				if err := rw.write(h.row(smp)); err != nil && werr == nil {
					werr = err
				}
				rows++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return rows, werr
}

// recordWriter writes rows as CSV, with a header, or as JSON Lines.
type recordWriter struct {
	format string
	w      *bufio.Writer
	csv    *csv.Writer
	rec    []string
	header bool
}

func newRecordWriter(w io.Writer, format string) *recordWriter {
	rw := &recordWriter{format: format, w: bufio.NewWriter(w)}
	if format == formatCSV {
		rw.csv = csv.NewWriter(rw.w)
	}
	return rw
}

func (rw *recordWriter) write(r *sampleRow) error {
	if rw.csv != nil {
		if !rw.header {
			rw.header = true
			for _, c := range columns {
				rw.rec = append(rw.rec, c.name)
			}
			if err := rw.csv.Write(rw.rec); err != nil {
				return err
			}
		}
		for i, c := range columns {
			rw.rec[i] = formatValue(c.val(r))
		}
		return rw.csv.Write(rw.rec)
	}

	// By hand rather than through a map, to keep the columns' order.
	b := []byte{'{'}
	for i, c := range columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, c.name...)
		b = append(b, '"', ':')
		switch v := c.val(r).(type) {
		case string:
			q, _ := json.Marshal(v)
			b = append(b, q...)
		default:
			b = append(b, formatValue(v)...)
		}
	}
	b = append(b, '}', '\n')
	_, err := rw.w.Write(b)
	return err
}

func (rw *recordWriter) close() error {
	if rw.csv != nil {
		rw.csv.Flush()
		if err := rw.csv.Error(); err != nil {
			return err
		}
	}
	return rw.w.Flush()
}
