// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// noiseSource is the experiment of BenchmarkNoise, built with gcc -O2.
// "noise cpu N" runs N rounds of xorshift, a chain of dependent integer
// operations that neither memory nor the compiler can shorten, and
// prints the ns it took, a bit of the result (so that the loop is not
// optimized away) and the ns it spent on a CPU. "noise timer K" sleeps 1 ms K times and prints
// the median, 99th percentile and maximum of how late it woke, in ns.
const noiseSource = `#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cputime(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
	if (argc != 3) return 2;
	uint64_t n = strtoull(argv[2], 0, 10);
	if (strcmp(argv[1], "cpu") == 0) {
		uint64_t x = 88172645463325252u, t0 = now(), c0 = cputime();
		for (uint64_t i = 0; i < n; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; }
		uint64_t c1 = cputime();
		printf("%llu %llu %llu\n", (unsigned long long)(now() - t0), (unsigned long long)(x & 1),
			(unsigned long long)(c1 - c0));
		return 0;
	}
	uint64_t *late = malloc(n * sizeof *late);
	struct timespec ms = {0, 1000000};
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = now();
		clock_nanosleep(CLOCK_MONOTONIC, 0, &ms, NULL);
		late[i] = now() - t0 - 1000000;
	}
	qsort(late, n, sizeof *late, cmp);
	printf("%llu %llu %llu\n", (unsigned long long)late[n / 2],
		(unsigned long long)late[n * 99 / 100], (unsigned long long)late[n - 1]);
	return 0;
}
`

// noiseConds are the states of tacetd that BenchmarkNoise runs the
// experiment beside; "absent" is the baseline.
var noiseConds = []string{"absent", "idle", "sampling", "streaming"}

// BenchmarkNoise measures how much tacetd slows an experiment on the
// same machine: a CPU-bound loop (its run time) and a timer probe that
// sleeps 1 ms over and over (how late it wakes, p50 and p99). They run
// with no tacetd at all; beside an idle tacetd with one idle controller;
// while that controller subscribes to every host sample source at 10 Hz;
// and while it reads a child's stdout through tacetd as fast as it can.
// The four run in turn in every iteration, in a rotating order; the
// daemon is stopped for "absent" and started again after it. The
// controller runs on this machine, so "streaming" includes the reader's
// cost, which a remote controller would not add.
func BenchmarkNoise(b *testing.B) {
	cpuRounds, timerSleeps := "400000000", "1000"
	if smoke() {
		cpuRounds, timerSleeps = "100000000", "300"
	}
	prog := buildNoise(b)
	rig := &noiseRig{b: b}
	rig.up()

	var cpuMs, p50, p99, daemonUs [4]samples
	var streamMBs samples
	for i := 0; b.Loop(); i++ {
		for _, k := range rotation(i, len(noiseConds)) {
			// What the daemon itself used meanwhile, which says that the
			// condition held: samples sent, output copied.
			var before procSample
			t0 := time.Now()
			if k > 0 {
				before = mustReadProc(b, rig.d.PID())
			}
			stop := rig.enter(noiseConds[k])
			cpu := runNoise(b, prog, "cpu", cpuRounds)
			timer := runNoise(b, prog, "timer", timerSleeps)
			if mbs := stop(); mbs > 0 {
				streamMBs = append(streamMBs, mbs)
			}
			if k > 0 {
				used := mustReadProc(b, rig.d.PID()).runNs - before.runNs
				daemonUs[k] = append(daemonUs[k], float64(used)/1e3/time.Since(t0).Seconds())
			}
			cpuMs[k] = append(cpuMs[k], cpu[0]/1e6)
			p50[k], p99[k] = append(p50[k], timer[0]/1e3), append(p99[k], timer[1]/1e3)
		}
	}
	b.StopTimer()

	for k, name := range noiseConds {
		b.ReportMetric(cpuMs[k].median(), name+"-cpu-ms")
		b.ReportMetric(p50[k].median(), name+"-late-p50-us")
		b.ReportMetric(p99[k].median(), name+"-late-p99-us")
		if k == 0 {
			continue
		}
		b.ReportMetric(daemonUs[k].median(), name+"-tacetd-cpu-us/s")
		for fig, s := range map[string][4]samples{"cpu": cpuMs, "p50": p50, "p99": p99} {
			r := ratios(s[k], s[0])
			b.ReportMetric(r.median(), name+"/absent-"+fig)
			b.ReportMetric(r.min(), name+"/absent-"+fig+"-min")
			b.ReportMetric(r.max(), name+"/absent-"+fig+"-max")
		}
	}
	b.ReportMetric(streamMBs.median(), "streaming-MB/s")
	// What sampling adds to an idle daemon, the figure of the targets, is
	// BenchmarkNoiseSampling's, over many more pairs.
}

// buildNoise compiles noiseSource once per benchmark.
func buildNoise(b *testing.B) string {
	b.Helper()
	src := filepath.Join(b.TempDir(), "noise.c")
	writeFile(b, src, noiseSource)
	return buildC(b, src)
}

// runNoise runs the experiment with args (a mode and a count, after a
// taskset command line when pinned) and returns the numbers it printed.
func runNoise(b *testing.B, prog string, args ...string) []float64 {
	b.Helper()
	out, err := exec.Command(prog, args...).Output()
	if err != nil {
		b.Fatalf("%s %v: %v", prog, args, err)
	}
	var v []float64
	for _, f := range strings.Fields(string(out)) {
		x, err := strconv.ParseFloat(f, 64)
		if err != nil {
			b.Fatalf("%s %v: output %q", prog, args, out)
		}
		v = append(v, x)
	}
	return v
}

// noiseSettle is how long a new daemon is left alone before it counts
// as idle: its start and the handshake leave goroutines and timers
// that die down within it.
const noiseSettle = 500 * time.Millisecond

// noiseRig is the daemon of BenchmarkNoise and its one controller, or
// nothing while the condition is "absent".
type noiseRig struct {
	b *testing.B
	d *daemon
	c *client.Client
}

func (r *noiseRig) up() {
	r.d = startDaemon(r.b, false)
	r.c = r.d.dial(r.d.unix)
	time.Sleep(noiseSettle)
}

func (r *noiseRig) down() {
	r.c.Close()
	r.d.stop()
	r.d, r.c = nil, nil
}

// sampleEvery subscribes c to every host sample source every period, and
// returns the function that unsubscribes it.
func sampleEvery(b *testing.B, c *client.Client, period time.Duration) (stop func()) {
	b.Helper()
	ctx := context.Background()
	var sub codec.SampleSubResult
	if err := c.Call(ctx, codec.MethodSampleSub, &codec.SampleArgs{Period: uint64(period)}, &sub); err != nil {
		b.Fatalf("sample.subscribe: %v", err)
	}
	return func() {
		if err := c.Call(ctx, codec.MethodSampleUnsub, &codec.UnsubscribeArgs{Sub: sub.Sub}, nil); err != nil {
			b.Fatalf("sample.unsubscribe: %v", err)
		}
	}
}

// enter puts the daemon in condition cond and returns the function that
// ends it, which returns the MB/s read while streaming, else 0.
func (r *noiseRig) enter(cond string) func() float64 {
	ctx := context.Background()
	switch cond {
	case "absent":
		r.down()
		return func() float64 { r.up(); return 0 }
	case "sampling":
		stop := sampleEvery(r.b, r.c, 100*time.Millisecond)
		return func() float64 { stop(); return 0 }
	case "streaming":
		return r.stream(ctx)
	}
	return func() float64 { return 0 }
}

// stream reads 64 MiB children's stdout through the daemon, one child
// after the other, until the returned function is called; it returns the
// rate over the children read to the end.
func (r *noiseRig) stream(ctx context.Context) func() float64 {
	const size = 64 << 20
	copyOne := tacetCopy(ctx, r.c, size)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var busy time.Duration
	var n int
	var err error
	done := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			dt, e := copyOne()
			mu.Lock()
			busy, n, err = busy+dt, n+1, e
			mu.Unlock()
			if e != nil {
				return
			}
		}
	})
	time.Sleep(50 * time.Millisecond) // under way before the experiment starts
	return func() float64 {
		close(done)
		wg.Wait()
		if err != nil {
			r.b.Fatalf("streaming: %v", err)
		}
		if n == 0 {
			return 0
		}
		return float64(n) * size / 1e6 / busy.Seconds()
	}
}
