// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"strings"
	"testing"

	"gitlab.com/tacet/tacet/codec"
)

// columnTable is the Markdown table of record's columns, as README.md
// shows it.
func columnTable() string {
	var b strings.Builder
	b.WriteString("| column | meaning |\n|---|---|\n")
	for _, c := range columns {
		b.WriteString("| `" + c.name + "` | " + c.doc + " |\n")
	}
	return b.String()
}

// TestRecordColumnsDocumented keeps README.md's table of the columns the
// same as the columns record writes.
func TestRecordColumnsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), columnTable()) {
		t.Errorf("README.md does not have the table of record's columns; it should read:\n%s", columnTable())
	}
}

// TestRecordWriter writes two rows of one host as CSV and as JSON Lines.
func TestRecordWriter(t *testing.T) {
	h := &hostRows{host: "n1:7340"}
	s := &codec.Sample{Real: 5, Mono: 1e9, CPU: []codec.CPU{{User: 10, Idle: 90}, {}},
		Mem: []codec.Mem{{Total: 100, Avail: 40}}, Miss: []string{"psi", "vm"}}
	r1 := h.row(s)
	s2 := *s
	s2.Mono, s2.Seq, s2.CPU = 2e9, 1, []codec.CPU{{User: 40, Idle: 160}, {}}
	r2 := h.row(&s2)
	if r1.cpuBusy != -1 || r2.cpuBusy != 0.3 {
		t.Errorf("cpu_busy %v then %v, want -1 then 0.3", r1.cpuBusy, r2.cpuBusy)
	}

	for _, tc := range []struct{ format, want string }{
		{formatCSV, "host,seq,real_ns,"},
		{formatJSONL, `{"host":"n1:7340","seq":0,"real_ns":5,`},
	} {
		var out strings.Builder
		rw := newRecordWriter(&out, tc.format)
		for _, r := range []*sampleRow{r1, r2} {
			if err := rw.write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := rw.close(); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		want := 2
		if tc.format == formatCSV {
			want = 3
		}
		if len(lines) != want || !strings.HasPrefix(lines[0], tc.want) || !strings.Contains(out.String(), "psi;vm") {
			t.Errorf("%s: %d lines, want %d, starting %q:\n%s", tc.format, len(lines), want, tc.want, out.String())
		}
	}
}

func TestFormatOf(t *testing.T) {
	for _, tc := range []struct{ flag, path, want string }{
		{"", "a.csv", formatCSV}, {"", "a.JSONL", formatJSONL}, {"", "a.ndjson", formatJSONL},
		{"csv", "a.txt", formatCSV}, {"", "a.txt", ""}, {"xml", "a.csv", ""},
	} {
		got, err := formatOf(tc.flag, tc.path)
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("formatOf(%q, %q) = %q, %v; want %q", tc.flag, tc.path, got, err, tc.want)
		}
	}
}
