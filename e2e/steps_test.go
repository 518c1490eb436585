// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"encoding/json"
	"fmt"
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
	// Written aside, then renamed, so that a stamp is never read half
	// written.
	script := `trap 'date +%s%N > ` + dir + `/t$$ && mv ` + dir + `/t$$ ` + dir + `/s$$; exit 3' TERM; ` +
		`echo up; while :; do sleep 0.02; done`
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
		stamps, _ = filepath.Glob(filepath.Join(dir, "s*"))
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

	// One process by its ID, on one host; an ID with several hosts is a
	// usage error, since an ID belongs to one daemon.
	r = runTacet(t, f.keyFile, "-w", f.addr(0), "start", "--", "sleep", "60")
	id := strings.TrimSpace(r.stdout)
	if r = runTacet(t, f.keyFile, "-w", f.hostSet(), "kill", "--at", "+100ms", id); r.status != 2 {
		t.Errorf("kill --at ID on %d hosts: status %d, want 2\n%s", hosts, r.status, r.stderr)
	}
	r = runTacet(t, f.keyFile, "-w", f.addr(0), "kill", "-s", "KILL", "--at", "+200ms", id)
	if fields := strings.Fields(r.stdout); r.status != 0 || len(fields) != 6 || fields[4] != id ||
		!strings.HasPrefix(fields[5], "+") || !strings.Contains(r.stderr, "SIGKILL at ") {
		t.Errorf("kill --at ID: status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}

	// No process left with the tag: a second kill fails on every host,
	// and says why.
	r = runTacet(t, f.keyFile, "-w", f.hostSet(), "kill", "--tag", "fault", "--at", "+10ms")
	if r.status == 0 || strings.Count(r.stdout, `no live process tagged "fault"`) != hosts {
		t.Errorf("kill of a tag no process has: status %d, want non-zero and %d reasons\n%s%s",
			r.status, hosts, r.stdout, r.stderr)
	}
}

// pythonBin returns Debian's python3, which the interop tests use too,
// for a small TCP server and client.
func pythonBin(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skipf("%s is needed for a TCP server and client (scripts/ci/deps.sh installs it): %v", py, err)
	}
	return py
}

// TestStartWaitPort starts a server that listens only after a delay,
// with --wait-port, then a client on another daemon: the client
// connects at its first try, because start returned only once the port
// accepted connections.
func TestStartWaitPort(t *testing.T) {
	py := pythonBin(t)
	f := startFleet(t, 2)
	port := freePort(t)
	server := fmt.Sprintf("import socket,time\ntime.sleep(0.5)\ns=socket.socket()\n"+
		"s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',%d))\ns.listen()\ntime.sleep(60)\n", port)
	r := runTacet(t, f.keyFile, "-w", f.addr(0), "start", "--tag", "server", "--wait-port", strconv.Itoa(port),
		"--wait-timeout", "20s", "--", py, "-c", server)
	if r.status != 0 {
		t.Fatalf("start --wait-port: status %d\n%s", r.status, r.stderr)
	}
	t.Cleanup(func() { runTacet(t, f.keyFile, "-w", f.addr(0), "kill", "-s", "KILL", "--tag", "server") })

	client := fmt.Sprintf("import socket\nsocket.create_connection(('127.0.0.1',%d),timeout=2).close()\nprint('connected')\n", port)
	r = runTacet(t, f.keyFile, "-w", f.addr(1), "run", "--", py, "-c", client)
	if r.status != 0 || strings.TrimSpace(r.stdout) != "connected" {
		t.Errorf("client after the server's start: status %d, stdout %q\n%s", r.status, r.stdout, r.stderr)
	}
}

// TestStartWaitOutput starts a process whose readiness line comes on
// stderr after a delay: start returns once the line is there.
func TestStartWaitOutput(t *testing.T) {
	f := startFleet(t, 1)
	r := runTacet(t, f.keyFile, "-w", f.addr(0), "start", "--wait-output", `^ready on [0-9]+$`, "--",
		"sh", "-c", "echo booting; sleep 0.4; echo 'ready on 42' >&2; exec sleep 60")
	if r.status != 0 {
		t.Fatalf("start --wait-output: status %d\n%s", r.status, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	t.Cleanup(func() { runTacet(t, f.keyFile, "-w", f.addr(0), "kill", "-s", "KILL", id) })

	// Without -f, logs prints only what the daemon holds already.
	r = runTacet(t, f.keyFile, "-w", f.addr(0), "logs", "--stream", "stderr", id)
	if r.status != 0 || r.stdout != "ready on 42\n" {
		t.Errorf("stderr when start returned: %q, status %d, want the ready line", r.stdout, r.status)
	}
}

// TestStartNotReady covers the failures: a timeout, which stops the
// process, and a process that ends before its line.
func TestStartNotReady(t *testing.T) {
	f := startFleet(t, 1)
	r := runTacet(t, f.keyFile, "-w", f.addr(0), "start", "--wait-output", "never", "--wait-timeout", "300ms",
		"--", "sh", "-c", "echo not yet; exec sleep 60")
	if r.status != 1 || r.stdout != "" || !strings.Contains(r.stderr, `not ready: waiting for a line of output matching "never": --wait-timeout 300ms passed`) ||
		!strings.Contains(r.stderr, "sent SIGTERM to its tree") {
		t.Errorf("timeout: status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}
	r = runTacet(t, f.keyFile, "-w", f.addr(0), "--json", "ps")
	if !strings.Contains(r.stdout, `"exit":"SIGTERM`) {
		t.Errorf("the process that was not ready was not ended by SIGTERM:\n%s", r.stdout)
	}

	port := freePort(t)
	r = runTacet(t, f.keyFile, "-w", f.addr(0), "start", "--wait-port", strconv.Itoa(port), "--wait-timeout", "300ms",
		"--", "sleep", "60")
	if r.status != 1 || !strings.Contains(r.stderr, "accept connections") || !strings.Contains(r.stderr, "ECONNREFUSED") {
		t.Errorf("port timeout: status %d, stderr %q", r.status, r.stderr)
	}

	r = runTacet(t, f.keyFile, "-w", f.addr(0), "start", "--wait-output", "ready", "--", "sh", "-c", "echo bye; exit 3")
	if r.status != 1 || !strings.Contains(r.stderr, "the process ended before it was ready") {
		t.Errorf("ended first: status %d, stderr %q", r.status, r.stderr)
	}
}

// TestRunReleases checks that tacet run, on one host and on many, makes
// the daemon forget a process once its output and exit are copied, so
// that repeated runs do not fill the daemon's disk budget; and that
// --keep leaves the records for tacet logs.
func TestRunReleases(t *testing.T) {
	f := startFleet(t, 2)
	for _, hosts := range []string{f.addr(0), f.hostSet()} {
		r := runTacet(t, f.keyFile, "-w", hosts, "run", "--", "echo", "released")
		if r.status != 0 || !strings.Contains(r.stdout, "released") {
			t.Fatalf("-w %s run: status %d, stdout %q, stderr %q", hosts, r.status, r.stdout, r.stderr)
		}
	}
	for i := range 2 {
		r := runTacet(t, f.keyFile, "-w", f.addr(i), "--json", "ps")
		if r.status != 0 {
			t.Fatalf("ps on daemon %d: status %d, stderr %q", i, r.status, r.stderr)
		}
		if strings.Contains(r.stdout, "echo") {
			t.Errorf("daemon %d still keeps a process that tacet run copied to the end:\n%s", i, r.stdout)
		}
	}
	// With --tag the records stay, so that a retry finds the process.
	if r := runTacet(t, f.keyFile, "-w", f.addr(0), "run", "--tag", "once", "--", "echo", "tagged"); r.status != 0 {
		t.Fatalf("run --tag: status %d, stderr %q", r.status, r.stderr)
	}
	if r := runTacet(t, f.keyFile, "-w", f.addr(0), "--json", "ps"); !strings.Contains(r.stdout, "tagged") {
		t.Errorf("tacet run --tag released its process:\n%s", r.stdout)
	}

	r := runTacet(t, f.keyFile, "-w", f.addr(0), "--json", "run", "--keep", "--", "echo", "kept")
	var start struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &start); r.status != 0 || err != nil || start.ID == "" {
		t.Fatalf("run --keep: status %d, stdout %q (%v)", r.status, r.stdout, err)
	}
	if r = runTacet(t, f.keyFile, "-w", f.addr(0), "logs", start.ID); r.status != 0 || r.stdout != "kept\n" {
		t.Errorf("logs of a process run with --keep: status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}
}

// TestRunMemOnly checks that tacet run --mem-only keeps the output in
// the daemon's memory only: every byte arrives, and the daemon makes no
// spool file for it, where without the flag it does.
func TestRunMemOnly(t *testing.T) {
	f := startFleet(t, 1)
	spools := filepath.Join(f.daemons[0].stateDir, "spool")
	for _, memOnly := range []bool{false, true} {
		before, _ := os.ReadDir(spools)
		args := []string{"-w", f.addr(0), "run", "--keep"}
		if memOnly {
			args = append(args, "--mem-only")
		}
		r := runTacet(t, f.keyFile, append(args, "--", "head", "-c", "300000", "/dev/zero")...)
		if r.status != 0 || len(r.stdout) != 300000 {
			t.Fatalf("run (mem-only %v): status %d, %d bytes of stdout, stderr %q", memOnly, r.status, len(r.stdout), r.stderr)
		}
		after, _ := os.ReadDir(spools)
		if made := len(after) - len(before); memOnly && made != 0 {
			t.Errorf("run --mem-only made %d spool files", made)
		} else if !memOnly && made != 1 {
			t.Errorf("run without --mem-only made %d spool files, want 1 (stdout)", made)
		}
	}
}
