// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/core/spawn"
	"gitlab.com/tacet/tacet/netstack"
)

// The fan-out tests run the tacet command line against many daemons on
// loopback, one port each. Those daemons are a build without -race, for
// speed: $TACETD_BIN_NORACE, else one built here; the command line is
// $TACET_BIN, else built here without -race. TACET_SCALE=full runs
// 100 daemons instead of 20, and 50 sync trials instead of 10.

var (
	buildOnce sync.Once
	buildErr  error
	buildDir  string
	tacetBin  string // the command line, built without -race
	fleetBin  string // tacetd for the fleet
)

// fanoutBins builds the binaries the fan-out tests need, once.
func fanoutBins(t testing.TB) {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "tacet-fanout-")
		if buildErr != nil {
			return
		}
		tacetBin, fleetBin = os.Getenv("TACET_BIN"), os.Getenv("TACETD_BIN_NORACE")
		var pkgs [][2]string
		if tacetBin == "" {
			tacetBin = filepath.Join(buildDir, "tacet")
			pkgs = append(pkgs, [2]string{tacetBin, "./cmd/tacet"})
		}
		if fleetBin == "" {
			fleetBin = filepath.Join(buildDir, "tacetd")
			pkgs = append(pkgs, [2]string{fleetBin, "./cmd/tacetd"})
		}
		for _, p := range pkgs {
			cmd := exec.Command("go", "build", "-o", p[0], p[1])
			cmd.Dir = ".."
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", p[1], err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// fleet is a block of consecutive loopback ports, most with a tacetd
// sharing one key.
type fleet struct {
	base    int
	n       int    // ports in the block
	keyFile string // the key of every daemon
	daemons []*daemon
}

// hostSet is the node set of the whole block.
func (f *fleet) hostSet() string {
	return fmt.Sprintf("127.0.0.1:[%d-%d]", f.base, f.base+f.n-1)
}

func (f *fleet) addr(off int) string { return "127.0.0.1:" + strconv.Itoa(f.base+off) }

// startFleet reserves n consecutive free ports and starts a daemon on
// each, except at the offsets of skip, where nothing listens. It stops
// them all, by PID, when the test ends.
func startFleet(t testing.TB, n int, skip ...int) *fleet {
	t.Helper()
	fanoutBins(t)
	dir := t.TempDir()
	key, err := netstack.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{n: n, keyFile: filepath.Join(dir, "key")}
	if err := key.WriteFile(f.keyFile); err != nil {
		t.Fatal(err)
	}
	f.base = freeBlock(t, n)

	for off := range n {
		if slices.Contains(skip, off) {
			continue
		}
		d := &daemon{t: t, key: key, tcp: "tcp://" + f.addr(off), out: &syncBuffer{},
			stateDir: filepath.Join(dir, "state"+strconv.Itoa(off)), exited: make(chan struct{})}
		d.launchBin(fleetBin, []string{"--listen", d.tcp, "--key-file", f.keyFile, "--state-dir", d.stateDir})
		f.daemons = append(f.daemons, d)
	}
	t.Cleanup(func() { parallelEach(f.daemons, (*daemon).stop) })

	errs := make([]error, len(f.daemons))
	parallelEach(f.daemons, func(d *daemon) { errs[slices.Index(f.daemons, d)] = d.waitReady() })
	for i, err := range errs {
		if err != nil {
			t.Fatalf("tacetd on %s: %v\n%s", f.daemons[i].tcp, err, f.daemons[i].out)
		}
	}
	return f
}

// launchBin is launch with another binary than the -race daemon.
func (d *daemon) launchBin(bin string, args []string) {
	d.t.Helper()
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.WaitDelay = 2 * time.Second
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("start tacetd: %v", err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()
}

func parallelEach[T any](items []T, fn func(T)) {
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(it)
		}()
	}
	wg.Wait()
}

// freeBlock returns the first port of n consecutive loopback ports that
// were all free a moment ago. The block lies below the ephemeral range,
// where the connections of the tests themselves would take ports.
func freeBlock(t testing.TB, n int) int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			low, _ = strconv.Atoi(f[0])
		}
	}
	span := low - 10000 - n
	if span <= 0 {
		t.Skipf("no room for %d ports below the ephemeral range at %d", n, low)
	}
	for try := range 50 {
		base := 10000 + (os.Getpid()*7919+try*1009)%span
		var lns []net.Listener
		for off := range n {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+off))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if len(lns) == n {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports on loopback", n)
	return 0
}

// cliResult is one run of the tacet binary.
type cliResult struct {
	stdout, stderr string
	status         int
	took           time.Duration
}

// runTacet runs the command line with the fleet's key, bounded by 2
// minutes.
func runTacet(t testing.TB, keyFile string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tacetBin, args...)
	cmd.Env = append(os.Environ(), "TACET_KEY_FILE="+keyFile)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	begin := time.Now()
	err := cmd.Run()
	r := cliResult{stdout: out.String(), stderr: errOut.String(), took: time.Since(begin)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.status = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("tacet %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// summaryRows returns the rows of run's summary table by host.
func summaryRows(stderr string) map[string]string {
	rows := make(map[string]string)
	for _, line := range strings.Split(stderr, "\n") {
		host, rest, ok := strings.Cut(line, "  ")
		if ok && strings.HasPrefix(host, "127.0.0.1:") {
			rows[host] = strings.TrimSpace(rest)
		}
	}
	return rows
}

func TestFanoutRun(t *testing.T) {
	n := scaled(20, 100)
	f := startFleet(t, n)
	r := runTacet(t, f.keyFile, "-w", f.hostSet(), "run", "--", "true")
	t.Logf("tacet run on %d hosts took %v", n, r.took)
	if r.status != 0 {
		t.Fatalf("status %d, want 0\n%s", r.status, r.stderr)
	}
	rows := summaryRows(r.stderr)
	ok := 0
	for _, row := range rows {
		if strings.HasPrefix(row, "exit 0") {
			ok++
		}
	}
	if len(rows) != n || ok != n {
		t.Errorf("summary has %d rows, %d with exit 0; want %d\n%s", len(rows), ok, n, r.stderr)
	}
	if want := fmt.Sprintf("%d hosts: %d succeeded, 0 failed", n, n); !strings.Contains(r.stderr, want) {
		t.Errorf("no %q in\n%s", want, r.stderr)
	}
}

// TestFanoutUnreachable puts 3 ports where nothing listens and one where
// a listener accepts and never answers among the daemons: those four are
// failures within the connect timeout and the others run.
func TestFanoutUnreachable(t *testing.T) {
	n := scaled(20, 100)
	dead := []int{1, n / 2, n - 1}
	slow := n - 3
	f := startFleet(t, n, append(dead, slow)...)
	ln, err := net.Listen("tcp", f.addr(slow))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})

	const timeout = time.Second
	r := runTacet(t, f.keyFile, "-w", f.hostSet(), "--connect-timeout", timeout.String(), "run", "--", "true")
	t.Logf("tacet run on %d hosts, 4 of them failing, took %v", n, r.took)
	if r.status == 0 {
		t.Errorf("status 0 with 4 hosts unreachable")
	}
	if r.took > timeout+15*time.Second {
		t.Errorf("run took %v with a connect timeout of %v", r.took, timeout)
	}
	rows := summaryRows(r.stderr)
	if len(rows) != n {
		t.Fatalf("summary has %d rows, want %d\n%s", len(rows), n, r.stderr)
	}
	for off := range n {
		row := rows[f.addr(off)]
		bad := slices.Contains(dead, off) || off == slow
		if bad != strings.HasPrefix(row, "unreachable") || !bad && !strings.HasPrefix(row, "exit 0") {
			t.Errorf("%s: %q", f.addr(off), row)
		}
	}
	if want := fmt.Sprintf("%d hosts: %d succeeded, 4 failed", n, n-4); !strings.Contains(r.stderr, want) {
		t.Errorf("no %q in\n%s", want, r.stderr)
	}
}

// BenchmarkFanout compares one tacet run over the fleet with as many
// runs of tacet on one host after the other.
func BenchmarkFanout(b *testing.B) {
	n := scaled(20, 100)
	f := startFleet(b, n)
	var fan, seq time.Duration
	for b.Loop() {
		r := runTacet(b, f.keyFile, "-w", f.hostSet(), "run", "--", "true")
		if r.status != 0 {
			b.Fatalf("fan-out: status %d\n%s", r.status, r.stderr)
		}
		fan += r.took
		begin := time.Now()
		for off := range n {
			if r := runTacet(b, f.keyFile, "-w", f.addr(off), "run", "--", "true"); r.status != 0 {
				b.Fatalf("%s: status %d\n%s", f.addr(off), r.status, r.stderr)
			}
		}
		seq += time.Since(begin)
	}
	b.ReportMetric(float64(fan.Milliseconds())/float64(b.N), "fanout-ms/op")
	b.ReportMetric(float64(seq.Milliseconds())/float64(b.N), "sequential-ms/op")
	b.ReportMetric(float64(seq)/float64(fan), "speedup")
	b.Logf("%d hosts: fan-out %v, sequential %v, ratio %.1f", n, fan/time.Duration(b.N),
		seq/time.Duration(b.N), float64(seq)/float64(fan))
}

// stampSource is a program whose first act is to read CLOCK_REALTIME,
// which it prints in ns: the instant it began, as near as a program can
// tell.
const stampSource = `#include <stdio.h>
#include <time.h>
int main(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	return 0;
}
`

// buildStamp compiles stampSource statically into a temporary directory.
func buildStamp(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found: the sync test compiles a small C program")
	}
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "stamp.c"), filepath.Join(dir, "stamp")
	if err := os.WriteFile(src, []byte(stampSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-static", "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		t.Skipf("gcc -static: %v\n%s", err, out)
	}
	return bin
}

// TestSyncStart measures how far apart tacet run --sync starts a program
// on 8 daemons, by the program's own first reading of the clock, beside
// 8 children that one local process prepared and released in a loop.
// It asserts no timing: it reports.
func TestSyncStart(t *testing.T) {
	const hosts = 8
	trials := scaled(10, 50)
	stamp := buildStamp(t)
	f := startFleet(t, hosts)

	var spreads, reported []time.Duration
	for trial := range trials {
		r := runTacet(t, f.keyFile, "-w", f.hostSet(), "run", "--sync", "--", stamp)
		if r.status != 0 {
			t.Fatalf("trial %d: status %d\n%s", trial, r.status, r.stderr)
		}
		stamps := parseStamps(t, r.stdout, true)
		if len(stamps) != hosts {
			t.Fatalf("trial %d: %d stamps, want %d\n%s", trial, len(stamps), hosts, r.stdout)
		}
		spreads = append(spreads, spread(stamps))
		if d, ok := reportedSpread(r.stderr); ok {
			reported = append(reported, d)
		}
	}

	var base []time.Duration
	for range trials {
		base = append(base, localSpread(t, stamp, hosts))
	}
	p50, p99 := quantile(spreads, 0.5), quantile(spreads, 0.99)
	b50, b99 := quantile(base, 0.5), quantile(base, 0.99)
	t.Logf("sync start over %d daemons, %d trials: spread of the programs' first clock readings p50 %v p99 %v",
		hosts, trials, p50, p99)
	t.Logf("tacet's own report (exec instants from the daemons): p50 %v p99 %v",
		quantile(reported, 0.5), quantile(reported, 0.99))
	t.Logf("baseline, %d children of one local process released in a loop: p50 %v p99 %v", hosts, b50, b99)
	if b50 > 0 && b99 > 0 {
		t.Logf("ratio to the baseline: p50 %.1f, p99 %.1f", float64(p50)/float64(b50), float64(p99)/float64(b99))
	}
}

// parseStamps reads one stamp per line, after "host: " when prefixed.
func parseStamps(t *testing.T, out string, prefixed bool) []int64 {
	t.Helper()
	var stamps []int64
	for _, line := range strings.Fields(strings.ReplaceAll(out, ": ", ":")) {
		if prefixed {
			i := strings.LastIndexByte(line, ':')
			line = line[i+1:]
		}
		n, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			t.Fatalf("bad stamp %q in %q", line, out)
		}
		stamps = append(stamps, n)
	}
	return stamps
}

func spread(stamps []int64) time.Duration {
	return time.Duration(slices.Max(stamps) - slices.Min(stamps))
}

// reportedSpread finds "spread Xµs" in run's report.
func reportedSpread(stderr string) (time.Duration, bool) {
	_, rest, ok := strings.Cut(stderr, "spread ")
	if !ok {
		return 0, false
	}
	num, _, _ := strings.Cut(rest, "µs")
	us, err := strconv.ParseFloat(num, 64)
	return time.Duration(us * 1e3), err == nil
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// localSpread prepares n staged children of the test process with
// spawn, releases them one after the other and returns the spread of
// their stamps: the best that releasing several processes can do on
// one machine, with no network and no daemon.
func localSpread(t *testing.T, stamp string, n int) time.Duration {
	t.Helper()
	procs := make([]*spawn.Process, n)
	outs := make([]*os.File, n)
	for i := range n {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		s := &spawn.Spec{Argv: [][]byte{[]byte(stamp)}, Stdin: -1, Stdout: int(w.Fd()), Stderr: -1,
			CgroupFD: -1, Staged: true}
		p, err := spawn.Start(s)
		w.Close()
		if err != nil {
			r.Close()
			t.Fatalf("spawn: %v", err)
		}
		procs[i], outs[i] = p, r
	}
	for _, p := range procs {
		if err := p.Release(); err != nil {
			t.Fatal(err)
		}
	}

	var stamps []int64
	for i, p := range procs {
		out, err := readAll(outs[i])
		outs[i].Close()
		var ws unix.WaitStatus
		unix.Wait4(p.PID, &ws, 0, nil)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		stamps = append(stamps, parseStamps(t, out, false)...)
	}
	if len(stamps) != n {
		t.Fatalf("%d stamps from %d children", len(stamps), n)
	}
	return spread(stamps)
}

func readAll(f *os.File) (string, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(f)
	return b.String(), err
}
