// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
)

// record is one figure of the report in machine-readable form: a row of
// a table, or a metric of a benchmark whose table is laid out by hand.
// Values are medians over the runs of the benchmark (-count); P99 and N
// are the benchmark's own, over its iterations, where it reports them.
type record struct {
	Bench    string   `json:"bench"`
	Subject  string   `json:"subject"`
	Metric   string   `json:"metric"`
	Unit     string   `json:"unit,omitempty"`
	Median   float64  `json:"median"`
	P99      *float64 `json:"p99,omitempty"`
	N        *float64 `json:"n,omitempty"`
	Runs     int      `json:"runs"`
	Baseline *float64 `json:"baseline,omitempty"`
	BaseName string   `json:"baseline_metric,omitempty"`
	Ratio    *float64 `json:"ratio,omitempty"`
	RatioLo  *float64 `json:"ratio_lo,omitempty"`
	RatioHi  *float64 `json:"ratio_hi,omitempty"`
	Target   string   `json:"target,omitempty"`
	Met      *bool    `json:"met,omitempty"`
}

// records lists every figure: the rows of the row-based tables first,
// with their baselines and targets, then each metric of the benchmarks
// that lay out their own tables and of those no section knows.
func records(res results) []record {
	var out []record
	tabled := map[string]bool{}
	for _, sec := range sections {
		if res[sec.bench] == nil {
			continue
		}
		tabled[sec.bench] = sec.table == nil
		for _, r := range sec.rows {
			if rec, ok := rowRecord(res, sec.bench, r); ok {
				out = append(out, rec)
			}
		}
	}
	benches := make([]string, 0, len(res))
	for b := range res {
		benches = append(benches, b)
	}
	sort.Strings(benches)
	for _, b := range benches {
		if tabled[b] {
			continue
		}
		units := make([]string, 0, len(res[b]))
		for u := range res[b] {
			units = append(units, u)
		}
		sort.Strings(units)
		for _, u := range units {
			v, _, _ := res.value(b, u)
			subject, _, _ := strings.Cut(u, "-")
			out = append(out, record{Bench: b, Subject: subject, Metric: u, Median: v, Runs: len(res[b][u])})
		}
	}
	return out
}

// rowRecord is the record of one table row, found when its figure was
// reported. A figure named NAME-p50-UNIT has its p99 in NAME-p99-UNIT
// and its iteration count in NAME-n, when the benchmark reports them.
func rowRecord(res results, bench string, r row) (record, bool) {
	v, _, ok := res.value(bench, r.value)
	if !ok {
		return record{}, false
	}
	// Figures are in the row's unit, as the table shows them.
	div := r.div
	if div == 0 {
		div = 1
	}
	rec := record{Bench: bench, Subject: r.label, Metric: r.value, Unit: r.unit, Median: v / div,
		Runs: len(res[bench][r.value]), BaseName: r.base, Target: r.target}
	get := func(metric string, div float64) *float64 {
		if metric == "" {
			return nil
		}
		if x, _, ok := res.value(bench, metric); ok {
			x /= div
			return &x
		}
		return nil
	}
	if name, _, found := strings.Cut(r.value, "-p50-"); found {
		rec.P99 = get(strings.Replace(r.value, "-p50-", "-p99-", 1), div)
		rec.N = get(name+"-n", 1)
	}
	rec.Baseline = get(r.base, div)
	rec.Ratio = get(r.ratio, 1)
	rec.RatioLo, rec.RatioHi = get(r.lo, 1), get(r.hi, 1)
	if r.met != nil {
		if c := get(r.check, 1); c != nil {
			met := r.met(*c)
			rec.Met = &met
		}
	}
	return rec, true
}

// writeJSON writes the records as one JSON array, indented, in the order
// records returns them.
func writeJSON(path string, res results) error {
	b, err := json.MarshalIndent(records(res), "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
