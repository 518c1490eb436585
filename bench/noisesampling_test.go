// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkNoiseSampling measures the two targets on what sampling
// costs a co-located experiment: BenchmarkNoise's CPU-bound loop, run
// beside a daemon that samples every source at 10 Hz for one controller
// and beside the same daemon idle, in many short pairs, in a rotating
// order within each pair.
//
// Unpinned, the figure is the loop's slowdown in wall time. Pinned, the
// loop and the daemon (tacetd --cpus) share one CPU and the benchmark's
// own threads, the controller's reader among them, are kept off it, as a
// remote controller would be; the loop is then slowed by at least the
// daemon's CPU time, and the figure is the slowdown beyond 1.2 times the
// daemon's share of that CPU over the loop's run time (its schedstat
// time, sampling less idle).
//
// Other load on a shared machine slows single runs by far more than the
// daemon does, so a spread over the pairs (their minimum and maximum)
// would only say how noisy the machine was. Each figure is reported
// instead as the median over the pairs with a 95% confidence interval of
// that median, which narrows as pairs are added; a target is met when
// the whole interval meets it.
func BenchmarkNoiseSampling(b *testing.B) {
	if runtime.NumCPU() < 2 {
		b.Skip("one CPU: the pinned case keeps the controller off the daemon's CPU")
	}
	// About 0.1 s per run, one or two samples: with the same time spent,
	// many short pairs give a narrower interval than fewer long ones,
	// since the median leaves out the runs that other load disturbed.
	pairs, rounds := 400, "60000000"
	if smoke() {
		pairs = 60
	}
	if n, err := strconv.Atoi(os.Getenv("TACET_NOISE_PAIRS")); err == nil && n > 0 {
		pairs = n
	}
	if n, err := strconv.Atoi(os.Getenv("TACET_NOISE_ROUNDS")); err == nil && n > 0 {
		rounds = strconv.Itoa(n)
	}
	prog := buildNoise(b)
	taskset := peerTool(b, "taskset", "util-linux")
	cpu := runtime.NumCPU() - 1

	for b.Loop() {
		// Unpinned first: the pinned case keeps this process's threads
		// off the daemon's CPU until restore.
		d := startDaemon(b, false)
		un := noisePairs(b, d, pairs, 100*time.Millisecond, func() []float64 { return runNoise(b, prog, "cpu", rounds) })
		d.stop()

		restore := avoidCPU(b, cpu)
		d = startDaemon(b, false, "--cpus", strconv.Itoa(cpu))
		checkPinned(b, d.PID(), cpu)
		pinned := func() []float64 { return runNoise(b, taskset, "-c", strconv.Itoa(cpu), prog, "cpu", rounds) }
		pin := noisePairs(b, d, pairs, 100*time.Millisecond, pinned)
		// At 100 Hz the daemon's share is ten times larger than the
		// machine's noise on one pair, so the ratio of the slowdown to
		// the share, which does not depend on the rate, is resolved far
		// more finely than at 10 Hz: it says what each sample costs the
		// loop beside the CPU time the daemon spent on it.
		pin100 := noisePairs(b, d, max(pairs/4, 12), 10*time.Millisecond, pinned)
		d.stop()
		restore() // a next iteration's unpinned case runs as this one's did

		reportNoise(b, "unpinned", un.slowdown())
		reportNoise(b, "unpinned-loopcpu", un.cpuGrowth())
		reportNoise(b, "pinned", pin.slowdown())
		reportNoise(b, "pinned-share", pin.addedShare())
		reportNoise(b, "pinned-loopcpu", pin.cpuGrowth())
		reportNoise(b, "pinned-excess", pin.excess(1.2))
		reportNoise(b, "pinned100", pin100.slowdown())
		reportNoise(b, "pinned100-share", pin100.addedShare())
		reportNoise(b, "pinned100-excess", pin100.excess(1.2))
		r := pin100.perShare()
		lo, hi := r.medianCI()
		b.ReportMetric(r.median(), "pinned100-slowdown/share")
		b.ReportMetric(lo, "pinned100-slowdown/share-ci-lo")
		b.ReportMetric(hi, "pinned100-slowdown/share-ci-hi")
		b.ReportMetric(float64(pairs), "pairs")
		writeSamples(b, "noise-unpinned-slowdown", un.slowdown())
		writeSamples(b, "noise-pinned-excess", pin.excess(1.2))
	}
}

// noiseRuns holds the loop's runs of BenchmarkNoiseSampling, index 0
// beside the idle daemon and 1 beside the sampling one, pair by pair.
type noiseRuns struct {
	wallMs, cpuMs, share [2]samples
}

// noisePairs runs the loop pairs times beside d idle and beside d
// sampling every source every period for one controller.
func noisePairs(b *testing.B, d *daemon, pairs int, period time.Duration, loop func() []float64) *noiseRuns {
	b.Helper()
	c := d.dial(d.unix)
	defer c.Close()
	time.Sleep(noiseSettle)
	r := new(noiseRuns)
	for i := range pairs {
		for _, k := range rotation(i, 2) {
			stop := func() {}
			if k == 1 {
				stop = sampleEvery(b, c, period)
			}
			before := mustReadProc(b, d.PID())
			out := loop()
			used := mustReadProc(b, d.PID()).runNs - before.runNs
			r.wallMs[k] = append(r.wallMs[k], out[0]/1e6)
			r.cpuMs[k] = append(r.cpuMs[k], out[2]/1e6)
			r.share[k] = append(r.share[k], float64(used)/out[0])
			stop()
		}
	}
	return r
}

// slowdown is, per pair, how much longer the loop ran beside sampling.
func (r *noiseRuns) slowdown() samples { return growth(r.wallMs) }

// cpuGrowth is, per pair, how much more CPU time the loop itself used
// beside sampling: what sharing costs it in caches and switches, which
// the time it waits for a CPU does not blur.
func (r *noiseRuns) cpuGrowth() samples { return growth(r.cpuMs) }

// addedShare is, per pair, the daemon's share of a CPU over the loop's
// run time while sampling, less its share while idle.
func (r *noiseRuns) addedShare() samples {
	var s samples
	for i := range min(len(r.share[0]), len(r.share[1])) {
		s = append(s, r.share[1][i]-r.share[0][i])
	}
	return s
}

// excess is, per pair, the slowdown less f times the added share: at
// most 0 when the daemon costs the loop no more than f times its own
// CPU time.
func (r *noiseRuns) excess(f float64) samples {
	slow, share := r.slowdown(), r.addedShare()
	var s samples
	for i := range min(len(slow), len(share)) {
		s = append(s, slow[i]-f*share[i])
	}
	return s
}

// perShare is, per pair, the slowdown over the added share: 1 when the
// daemon costs the loop exactly its own CPU time.
func (r *noiseRuns) perShare() samples {
	slow, share := r.slowdown(), r.addedShare()
	var s samples
	for i := range min(len(slow), len(share)) {
		s = append(s, slow[i]/share[i])
	}
	return s
}

// growth returns v[1][i]/v[0][i] - 1 for each pair.
func growth(v [2]samples) samples {
	var s samples
	for i := range min(len(v[0]), len(v[1])) {
		s = append(s, v[1][i]/v[0][i]-1)
	}
	return s
}

// reportNoise reports the median of s, fractions, in percent, with its
// 95% confidence interval and the extremes.
func reportNoise(b *testing.B, name string, s samples) {
	lo, hi := s.medianCI()
	b.ReportMetric(s.median()*100, name+"-%")
	b.ReportMetric(lo*100, name+"-ci-lo-%")
	b.ReportMetric(hi*100, name+"-ci-hi-%")
	b.ReportMetric(s.min()*100, name+"-min-%")
	b.ReportMetric(s.max()*100, name+"-max-%")
}

// avoidCPU keeps every thread of this process off cpu until the
// returned function is called, or the benchmark ends; threads created
// later inherit it from their creators.
func avoidCPU(b *testing.B, cpu int) (restore func()) {
	b.Helper()
	var orig, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &orig); err != nil {
		b.Fatal(err)
	}
	set = orig
	set.Clear(cpu)
	if set.Count() == 0 {
		b.Fatalf("this process may run only on CPU %d", cpu)
	}
	setAllThreads(b, &set)
	var once sync.Once
	restore = func() { once.Do(func() { setAllThreads(b, &orig) }) }
	b.Cleanup(restore)
	return restore
}

func setAllThreads(b *testing.B, set *unix.CPUSet) {
	for range 3 { // threads started meanwhile are caught by the next pass
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range ents {
			if tid, err := strconv.Atoi(e.Name()); err == nil {
				unix.SchedSetaffinity(tid, set)
			}
		}
	}
}

// checkPinned fails unless every thread of pid may run on cpu only.
func checkPinned(b *testing.B, pid, cpu int) {
	b.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &set); err == nil && (set.Count() != 1 || !set.IsSet(cpu)) {
			b.Fatalf("tacetd --cpus %d: thread %d may run on %d CPUs", cpu, tid, set.Count())
		}
	}
}
