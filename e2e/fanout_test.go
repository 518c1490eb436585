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
	"testing"
	"time"

	"gitlab.com/tacet/tacet/internal/testproc"
	"gitlab.com/tacet/tacet/netstack"
)

// The fan-out tests run the tacet command line against many daemons on
// loopback, one port each. Those daemons are a build without -race, for
// speed: $TACETD_BIN_NORACE, else one built here; the command line is
// $TACET_BIN, else built here without -race. TACET_SCALE=full runs
// 100 daemons instead of 20.

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
	return startFleetEnv(t, n, nil, skip...)
}

// startFleetEnv is startFleet with env(off), when env is not nil, added
// to the environment of the daemon at offset off.
func startFleetEnv(t testing.TB, n int, env func(off int) []string, skip ...int) *fleet {
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
		d := &daemon{t: t, key: key, tcp: "tcp://" + f.addr(off),
			stateDir: filepath.Join(dir, "state"+strconv.Itoa(off))}
		if env != nil {
			d.env = env(off)
		}
		d.launchBin(fleetBin, []string{"--listen", d.tcp, "--key-file", f.keyFile, "--state-dir", d.stateDir})
		f.daemons = append(f.daemons, d)
	}
	t.Cleanup(func() { parallelEach(f.daemons, (*daemon).stop) })

	errs := make([]error, len(f.daemons))
	parallelEach(f.daemons, func(d *daemon) { errs[slices.Index(f.daemons, d)] = d.waitReady() })
	for i, err := range errs {
		if err != nil {
			t.Fatalf("tacetd on %s: %v\n%s", f.daemons[i].tcp, err, f.daemons[i].Out)
		}
	}
	return f
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

// freeBlock returns the first of n consecutive loopback ports that were
// all free a moment ago, from 10000 up, apart from the benchmarks' ports.
func freeBlock(t testing.TB, n int) int {
	t.Helper()
	base, err := testproc.FreeBlock(10000, n)
	if err != nil {
		t.Fatal(err)
	}
	return base
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
	cmd := tacetCommand(ctx, keyFile, args...)
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

// tacetCommand is the command line with args and the key in keyFile,
// ended when ctx is.
func tacetCommand(ctx context.Context, keyFile string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, tacetBin, args...)
	cmd.Env = append(os.Environ(), "TACET_KEY_FILE="+keyFile)
	return cmd
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

func readAll(f *os.File) (string, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(f)
	return b.String(), err
}
