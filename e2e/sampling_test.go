// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRecordPlot records a few samples from two loopback daemons, each
// running one started process, as CSV and as JSON Lines, and draws both
// files as SVG and PNG.
func TestRecordPlot(t *testing.T) {
	const hosts, count = 2, 4
	f := startFleet(t, hosts)
	r := runTacet(t, f.keyFile, "-w", f.hostSet(), "start", "--tag", "load", "--",
		"sh", "-c", "while :; do :; done")
	if r.status != 0 {
		t.Fatalf("start: status %d\n%s", r.status, r.stderr)
	}
	t.Cleanup(func() {
		runTacet(t, f.keyFile, "-w", f.hostSet(), "kill", "-s", "KILL", "--tag", "load", "--at", "+1ms")
	})

	dir := t.TempDir()
	csvPath, jsonPath := filepath.Join(dir, "s.csv"), filepath.Join(dir, "s.jsonl")
	for _, out := range []string{csvPath, jsonPath} {
		r := runTacet(t, f.keyFile, "-w", f.hostSet(), "record", "--interval", "50ms",
			"--count", strconv.Itoa(count), "-o", out)
		if r.status != 0 {
			t.Fatalf("record -o %s: status %d\n%s", out, r.status, r.stderr)
		}
	}

	rows := readCSVRows(t, csvPath)
	if len(rows) != hosts*count {
		t.Fatalf("%d CSV rows, want %d", len(rows), hosts*count)
	}
	perHost := map[string]int{}
	for _, row := range rows {
		perHost[row["host"]]++
		if row["procs"] == "0" {
			t.Errorf("row %v: no started process sampled", row)
		}
		if n, _ := strconv.ParseUint(row["daemon_rss_bytes"], 10, 64); n == 0 {
			t.Errorf("row %v: no daemon RSS", row)
		}
		if b, err := strconv.ParseFloat(row["cpu_busy"], 64); err != nil || b > 1 || (b < 0 && b != -1) {
			t.Errorf("cpu_busy %q: want -1 or a fraction", row["cpu_busy"])
		}
	}
	for off := range hosts {
		if perHost[f.addr(off)] != count {
			t.Errorf("host %s has %d rows, want %d: %v", f.addr(off), perHost[f.addr(off)], count, perHost)
		}
	}

	// The spinning process shows in the later rows: about one CPU.
	busy := 0
	for _, row := range rows {
		if b, _ := strconv.ParseFloat(row["procs_busy"], 64); b > 0.2 {
			busy++
		}
	}
	if busy == 0 {
		t.Errorf("no row shows the spinning processes' CPU: %v", rows)
	}

	jsonRows := 0
	b, _ := os.ReadFile(jsonPath)
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("JSON line %q: %v", line, err)
		}
		if _, ok := obj["real_ns"].(float64); !ok {
			t.Errorf("JSON line without a numeric real_ns: %q", line)
		}
		jsonRows++
	}
	if jsonRows != hosts*count {
		t.Errorf("%d JSON lines, want %d", jsonRows, hosts*count)
	}

	for _, in := range []string{csvPath, jsonPath} {
		svgPath, pngPath := in+".svg", in+".png"
		for _, out := range []string{svgPath, pngPath} {
			if r := runTacet(t, f.keyFile, "plot", in, "-o", out); r.status != 0 {
				t.Fatalf("plot %s -o %s: status %d\n%s", in, out, r.status, r.stderr)
			}
		}
		checkPNG(t, pngPath)
		checkSVG(t, svgPath, []string{f.addr(0), f.addr(1), "CPU busy", "Memory used"})
	}
}

func readCSVRows(t *testing.T, path string) []map[string]string {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	recs, err := csv.NewReader(file).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("CSV %s: %v", path, err)
	}
	var rows []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, name := range recs[0] {
			m[name] = rec[i]
		}
		rows = append(rows, m)
	}
	return rows
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if r := img.Bounds(); r.Dx() < 100 || r.Dy() < 100 {
		t.Errorf("%s: %v, want a picture of some size", path, r)
	}
}

// checkSVG parses path as XML and wants every one of texts among its
// text elements: the series names of the legend and the titles.
func checkSVG(t *testing.T, path string, texts []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var root string
	var found []string
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not XML: %v", path, err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = el.Name.Local
			}
			inText = el.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				found = append(found, strings.TrimSpace(string(el)))
			}
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", path, root)
	}
	for _, want := range texts {
		ok := false
		for _, s := range found {
			ok = ok || s == want
		}
		if !ok {
			t.Errorf("%s: no text %q among %q", path, want, found)
		}
	}
}
