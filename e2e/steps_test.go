// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The steps tests run the command line through the steps of an
// experiment on loopback daemons: a signal at a common instant, and
// starts that wait until a process is ready.

// killLine is one JSON line of tacet kill.
type killLine struct {
	Host   string `json:"host"`
	ID     string `json:"id"`
	Signal string `json:"signal"`
	At     int64  `json:"at_ns"`
	Sent   int64  `json:"sent_ns"`
	Error  string `json:"error"`
}

// TestKillAt starts a process tagged "fault" on 4 daemons, each of
// which stamps the clock when SIGTERM reaches it, and signals them all
// at one instant: every daemon must report a send no earlier than the
// instant, and every process must have seen the signal after it.
func TestKillAt(t *testing.T) {
	const hosts = 4
	f := startFleet(t, hosts)
	dir := t.TempDir()
	script := `trap 'date +%s%N > ` + dir + `/$$; exit 3' TERM; echo up; while :; do sleep 0.02; done`
	r := runTacet(t, f.keyFile, "-w", f.hostSet(), "start", "--tag", "fault", "--", "sh", "-c", script)
	if r.status != 0 {
		t.Fatalf("start: status %d\n%s", r.status, r.stderr)
	}

	at := time.Now().Add(800 * time.Millisecond)
	r = runTacet(t, f.keyFile, "-w", f.hostSet(), "--json", "kill", "--tag", "fault",
		"--at", at.Format(time.RFC3339Nano))
	if r.status != 0 {
		t.Fatalf("kill --at: status %d\n%s%s", r.status, r.stdout, r.stderr)
	}
	var lines []killLine
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var k killLine
		if err := json.Unmarshal([]byte(l), &k); err != nil {
			t.Fatalf("kill output %q: %v", l, err)
		}
		lines = append(lines, k)
	}
	if len(lines) != hosts {
		t.Fatalf("%d lines, want %d\n%s", len(lines), hosts, r.stdout)
	}
	for _, k := range lines {
		if k.Error != "" || k.Signal != "SIGTERM" || k.At != at.UnixNano() {
			t.Errorf("%s: %+v, want SIGTERM sent at %d", k.Host, k, at.UnixNano())
		}
		if k.Sent < k.At {
			t.Errorf("%s: the daemon sent the signal %v before the instant", k.Host, time.Duration(k.At-k.Sent))
		}
		t.Logf("%s: sent %v after the instant", k.Host, time.Duration(k.Sent-k.At))
	}

	// Each process's own stamp, taken in its trap, comes after the
	// instant: the signal cannot have arrived early.
	deadline := time.Now().Add(10 * time.Second)
	var stamps []string
	for time.Now().Before(deadline) {
		stamps, _ = filepath.Glob(filepath.Join(dir, "*"))
		if len(stamps) == hosts {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(stamps) != hosts {
		t.Fatalf("%d processes stamped the signal, want %d", len(stamps), hosts)
	}
	for _, p := range stamps {
		b, _ := os.ReadFile(p)
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatalf("stamp %s: %q", p, b)
		}
		if ns < at.UnixNano() {
			t.Errorf("process %s saw the signal %v before the instant", filepath.Base(p), time.Duration(at.UnixNano()-ns))
		}
	}

	// No process left with the tag: a second kill fails on every host,
	// and says why.
	r = runTacet(t, f.keyFile, "-w", f.hostSet(), "kill", "--tag", "fault", "--at", "+10ms")
	if r.status == 0 || strings.Count(r.stdout, `no live process tagged "fault"`) != hosts {
		t.Errorf("kill of a tag no process has: status %d, want non-zero and %d reasons\n%s%s",
			r.status, hosts, r.stdout, r.stderr)
	}
}
