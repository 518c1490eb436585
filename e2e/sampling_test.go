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
	"time"
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
		runTacet(t, f.keyFile, "-w", f.hostSet(), "kill", "-s", "KILL", "--tag", "load")
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

// TestTop shows a spinning process on each of two daemons: top, not on
// a terminal, prints --count plain frames, and its JSON names each
// host's process with the CPU it burns.
func TestTop(t *testing.T) {
	const hosts, frames = 2, 4
	f := startFleet(t, hosts)
	r := runTacet(t, f.keyFile, "-w", f.hostSet(), "start", "--tag", "spin", "--",
		"sh", "-c", "while :; do :; done")
	if r.status != 0 {
		t.Fatalf("start: status %d\n%s", r.status, r.stderr)
	}
	t.Cleanup(func() { runTacet(t, f.keyFile, "-w", f.hostSet(), "kill", "-s", "KILL", "--tag", "spin") })
	ids := map[string]string{} // host: id
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		host, id, _ := strings.Cut(line, " ")
		ids[host] = id
	}

	r = runTacet(t, f.keyFile, "-w", f.hostSet(), "top", "--interval", "100ms", "--count", strconv.Itoa(frames))
	if r.status != 0 {
		t.Fatalf("top: status %d\n%s", r.status, r.stderr)
	}
	if n := strings.Count(r.stdout, "tacet top: 2 hosts"); n != frames || strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("%d frames, want %d, and no terminal control\n%q", n, frames, r.stdout)
	}
	last := r.stdout[strings.LastIndex(r.stdout, "tacet top:"):]
	for host, id := range ids {
		if !strings.Contains(last, host+"  "+id+" ") || !strings.Contains(last, "while :; do :; done") {
			t.Errorf("last frame has no row for %s process %s:\n%s", host, id, last)
		}
	}

	r = runTacet(t, f.keyFile, "-w", f.hostSet(), "--json", "top", "--interval", "100ms", "--count", strconv.Itoa(frames))
	busy := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var rec struct {
			Host string   `json:"host"`
			ID   string   `json:"id"`
			CPU  float64  `json:"cpu_pct"`
			RSS  uint64   `json:"rss_bytes"`
			Argv []string `json:"argv"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("top --json line %q: %v", line, err)
		}
		if ids[rec.Host] != rec.ID || rec.RSS == 0 || len(rec.Argv) != 3 {
			t.Errorf("record %+v: want process %s of %s with its RSS and argv", rec, ids[rec.Host], rec.Host)
		}
		busy[rec.Host] = busy[rec.Host] || rec.CPU > 20
	}
	if len(busy) != hosts || !busy[f.addr(0)] || !busy[f.addr(1)] {
		t.Errorf("hosts whose spinning process showed over 20%% CPU: %v", busy)
	}
}

// TestTopHostLost stops the one daemon top watches: top draws a last
// frame naming the lost host and exits 126, rather than waiting on.
func TestTopHostLost(t *testing.T) {
	f := startFleet(t, 1)
	res := make(chan cliResult, 1)
	go func() {
		res <- runTacet(t, f.keyFile, "-w", f.hostSet(), "top", "--interval", "50ms", "--count", "10000")
	}()
	time.Sleep(300 * time.Millisecond)
	f.daemons[0].stop()
	r := <-res
	last := r.stdout[strings.LastIndex(r.stdout, "tacet top:"):]
	if r.status != 126 || strings.Count(r.stdout, "tacet top:") < 2 || !strings.Contains(last, f.addr(0)+"  ") ||
		strings.Contains(last, "waiting for a sample") {
		t.Errorf("top after its daemon stopped: status %d, want 126 and a last frame with the host's error\n%s%s",
			r.status, r.stdout, r.stderr)
	}
	t.Logf("last frame:\n%s", last)
}
