// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/core/spawn"
)

// The sync tests run tacet run --sync over loopback daemons and judge it
// by what the started programs themselves saw: a small static C program
// whose first act is to read CLOCK_REALTIME. Every daemon shares the
// machine's clock, so the stamps are directly comparable.

// stampSource is a program whose first instruction reads CLOCK_REALTIME,
// which it prints in ns: the instant it began. It has no C library, so no
// startup code runs before the reading: glibc's, static as it is, probes
// the CPU with cpuid, which traps in a virtual machine, and takes 0.3 ms
// and more before main, varying from one process to the next. The system
// calls are made by hand, for amd64.
//
// It then sleeps 50 ms before it writes and exits. On loopback the
// "hosts" share the machine's two CPUs, and the output and exit of the
// first program started would set the daemons and tacet to work while
// the others still wait for a CPU, which real hosts do not do to each
// other. The baseline's children sleep the same.
const stampSource = `#include <sys/syscall.h>
#include <time.h>

static long sys3(long n, long a, long b, long c) {
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}

__attribute__((force_align_arg_pointer, noreturn)) void _start(void) {
	struct timespec ts;
	sys3(SYS_clock_gettime, CLOCK_REALTIME, (long)&ts, 0);
	unsigned long long ns = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	struct timespec pause = {0, 50000000};
	sys3(SYS_nanosleep, (long)&pause, 0, 0);
	char buf[24];
	int i = sizeof buf;
	buf[--i] = '\n';
	do {
		buf[--i] = '0' + ns % 10;
		ns /= 10;
	} while (ns);
	sys3(SYS_write, 1, (long)(buf + i), sizeof buf - i);
	for (;;)
		sys3(SYS_exit_group, 0, 0, 0);
}
`

// buildStamp compiles stampSource into a temporary directory.
func buildStamp(t testing.TB) string {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the stamp program makes its system calls for amd64 only")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found: the sync tests compile a small C program")
	}
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "stamp.c"), filepath.Join(dir, "stamp")
	if err := os.WriteFile(src, []byte(stampSource), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("gcc", "-static", "-nostdlib", "-fno-stack-protector", "-O2", "-o", bin, src)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return bin
}

// syncResult is what one tacet run --sync of the stamp program gave.
type syncResult struct {
	stamps   []int64       // one per host
	reported time.Duration // the spread tacet reported
	bound    time.Duration // the largest error bound of its clock offsets
}

// syncRun runs the stamp program with tacet run --sync on hosts, with
// --at at unless at is zero.
func syncRun(t testing.TB, f *fleet, hosts, stamp string, at time.Time) syncResult {
	t.Helper()
	args := []string{"-w", hosts, "run", "--sync"}
	if !at.IsZero() {
		args = append(args, "--at", at.UTC().Format(time.RFC3339Nano))
	}
	r := runTacet(t, f.keyFile, append(args, "--", stamp)...)
	if r.status != 0 {
		t.Fatalf("tacet run --sync: status %d\n%s", r.status, r.stderr)
	}
	res := syncResult{stamps: parseStamps(t, r.stdout, true)}
	res.reported, _ = reportedSpread(r.stderr)
	res.bound, _ = reportedBound(r.stderr)
	return res
}

// checkStamps fails unless there are n stamps, none before at: a program
// released early would show a stamp before the instant. The clock offset
// of a loopback daemon is known to well within slack.
func checkStamps(t testing.TB, stamps []int64, n int, at time.Time, slack time.Duration) {
	t.Helper()
	if len(stamps) != n {
		t.Fatalf("%d stamps, want %d: %v", len(stamps), n, stamps)
	}
	if first := time.Unix(0, slices.Min(stamps)); first.Before(at.Add(-slack)) {
		t.Errorf("a program began %v before the instant", at.Sub(first))
	}
}

// TestSyncStart starts the stamp program on 8 daemons at an instant
// given with --at: every host runs it, and none before the instant. How
// close together they start is BenchmarkSyncStart's business.
func TestSyncStart(t *testing.T) {
	const hosts = 8
	stamp := buildStamp(t)
	f := startFleet(t, hosts)
	at := time.Now().Add(1500 * time.Millisecond)
	r := syncRun(t, f, f.hostSet(), stamp, at)
	checkStamps(t, r.stamps, hosts, at, time.Millisecond)
	t.Logf("spread of the programs' first clock readings %v; tacet reported %v", spread(r.stamps), r.reported)
}

// TestSyncStartOffset makes one of 4 daemons read its clock 200 ms ahead
// (TACETD_TEST_CLOCK_SHIFT): tacet must measure that offset and correct
// for it, so the programs still start together. Uncorrected, that
// program would start 200 ms before the others in every trial; the bound
// of a tenth of that is a check of the correction, not a timing target.
// On a loaded machine a program may now and then wait tens of ms for a
// CPU after its release, so the best of up to 3 trials is judged.
func TestSyncStartOffset(t *testing.T) {
	const hosts, shifted, d = 4, 2, 200 * time.Millisecond
	stamp := buildStamp(t)
	f := startFleetEnv(t, hosts, func(off int) []string {
		if off != shifted {
			return nil
		}
		return []string{"TACETD_TEST_CLOCK_SHIFT=" + d.String()}
	})
	var spreads []time.Duration
	for range 3 {
		at := time.Now().Add(1500 * time.Millisecond)
		r := syncRun(t, f, f.hostSet(), stamp, at)
		checkStamps(t, r.stamps, hosts, at, time.Millisecond)
		if spreads = append(spreads, spread(r.stamps)); spreads[len(spreads)-1] < d/10 {
			return
		}
	}
	t.Errorf("with one daemon's clock %v ahead, the starts spread over %v in 3 trials, want under %v in one",
		d, spreads, d/10)
}

// BenchmarkSyncStart measures the spread of the programs' first clock
// readings when tacet run --sync starts them on 8 loopback daemons, over
// 50 trials (10 in a smoke run). Beside each trial is one of the
// physical baseline: 8 children staged the same way (stopped after
// execve) by this process and released together at an instant by one
// thread, with no network and no daemon. It reports p50 and p99 of both
// in µs and their ratios.
func BenchmarkSyncStart(b *testing.B) {
	const hosts = 8
	trials := 50
	if benchSmoke() {
		trials = 10
	}
	stamp := buildStamp(b)
	f := startFleet(b, hosts)

	var spreads, reported, bounds, base []time.Duration
	for b.Loop() {
		for range trials {
			// tacet's own instant: 500 ms after the last host is staged.
			r := syncRun(b, f, f.hostSet(), stamp, time.Time{})
			if len(r.stamps) != hosts {
				b.Fatalf("%d stamps, want %d", len(r.stamps), hosts)
			}
			spreads, reported = append(spreads, spread(r.stamps)), append(reported, r.reported)
			bounds = append(bounds, r.bound)
			base = append(base, localSpread(b, stamp, hosts, 500*time.Millisecond))
		}
	}
	b.StopTimer()

	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	p50, p99 := quantile(spreads, 0.5), quantile(spreads, 0.99)
	b50, b99 := quantile(base, 0.5), quantile(base, 0.99)
	b.ReportMetric(us(p50), "p50-µs")
	b.ReportMetric(us(p99), "p99-µs")
	b.ReportMetric(us(b50), "base-p50-µs")
	b.ReportMetric(us(b99), "base-p99-µs")
	b.ReportMetric(us(quantile(reported, 0.5)), "reported-p50-µs")
	b.ReportMetric(us(quantile(reported, 0.99)), "reported-p99-µs")
	if b50 > 0 && b99 > 0 {
		b.ReportMetric(float64(p50)/float64(b50), "p50/base")
		b.ReportMetric(float64(p99)/float64(b99), "p99/base")
	}
	b.Logf("%d hosts, %d trials: spread p50 %v p99 %v; baseline p50 %v p99 %v; tacet's own report p50 %v p99 %v",
		hosts, len(spreads), p50, p99, b50, b99, quantile(reported, 0.5), quantile(reported, 0.99))
	b.ReportMetric(us(quantile(bounds, 0.99)), "offset-bound-p99-µs")
	b.Logf("in trial order: spreads %v; offset bounds %v; baseline %v", spreads, bounds, base)
}

// benchSmoke reports whether this is a smoke run, as the package bench
// tells: TACET_BENCH_SMOKE=1, or -benchtime=1x unless
// TACET_BENCH_SMOKE=0.
func benchSmoke() bool {
	switch os.Getenv("TACET_BENCH_SMOKE") {
	case "1":
		return true
	case "0":
		return false
	}
	fl := flag.Lookup("test.benchtime")
	return fl != nil && fl.Value.String() == "1x"
}

// localSpread stages n children of the test process with spawn, each
// stopped after execve as a daemon stages them, releases them together
// at an instant lead ahead, and returns the spread of their stamps: the
// best that releasing several processes can do on one machine. A lead
// like that of the daemons' programs, which wait about 500 ms between
// their stop and the instant, makes the comparison fair: how long a
// process slept bears on how soon the scheduler runs it once woken.
func localSpread(t testing.TB, stamp string, n int, lead time.Duration) time.Duration {
	t.Helper()
	procs := make([]*spawn.Process, 0, n)
	outs := make([]*os.File, 0, n)
	defer func() {
		for i, p := range procs {
			outs[i].Close()
			p.Close()
			var ws unix.WaitStatus
			unix.Wait4(p.PID, &ws, 0, nil)
		}
	}()
	for range n {
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
		procs, outs = append(procs, p), append(outs, r)
	}
	at := time.Now().Add(lead).UnixNano()
	if _, err := spawn.ReleaseAt(at, procs...); err != nil {
		t.Fatal(err)
	}

	var stamps []int64
	for _, r := range outs {
		out, err := readAll(r)
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

// parseStamps reads one stamp per line, after "host: " when prefixed.
func parseStamps(t testing.TB, out string, prefixed bool) []int64 {
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
	return reportedUs(stderr, "spread ")
}

// reportedBound finds "known to ±Xµs" in run's report: the largest error
// bound of the clock offsets tacet measured.
func reportedBound(stderr string) (time.Duration, bool) {
	return reportedUs(stderr, "known to ±")
}

func reportedUs(stderr, before string) (time.Duration, bool) {
	_, rest, ok := strings.Cut(stderr, before)
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
