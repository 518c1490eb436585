// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
)

// BenchmarkNoisePinned runs BenchmarkNoise's CPU-bound loop pinned to the
// CPU tacetd is pinned to (tacetd --cpus), with the daemon idle and with
// it sampling every source at 10 Hz for one controller, in paired runs
// in a rotating order. Sharing one CPU, the loop is slowed by at least
// the daemon's CPU time; the figure is how much more than that: the
// slowdown against the daemon's own share of the CPU over the loop's run
// time (its schedstat time meanwhile, less that of the idle run). The
// benchmark's own threads, the controller's reader among them, are kept
// off that CPU, as a remote controller would be.
//
// Other load on that CPU, of which a shared machine has plenty, slows
// either run of a pair by far more than the daemon does. So the loop's
// own CPU time is reported too: it grows only by what sharing the CPU
// costs the loop itself (caches, switches), not by the time others run,
// and that growth plus the daemon's share estimates the slowdown the
// daemon alone causes.
func BenchmarkNoisePinned(b *testing.B) {
	if runtime.NumCPU() < 2 {
		b.Skip("one CPU: the benchmark keeps the controller off the daemon's CPU")
	}
	cpuRounds := "400000000"
	if smoke() {
		cpuRounds = "100000000"
	}
	prog := buildNoise(b)
	taskset := peerTool(b, "taskset", "util-linux")
	cpu := runtime.NumCPU() - 1
	avoidCPU(b, cpu)
	d := startDaemon(b, false, "--cpus", strconv.Itoa(cpu))
	checkPinned(b, d.pid(), cpu)
	c := d.dial(d.unix)
	time.Sleep(noiseSettle)

	conds := []string{"idle", "sampling"}
	var loopMs, loopCPU, share [2]samples
	for i := 0; b.Loop(); i++ {
		for _, k := range rotation(i, 2) {
			var sub codec.SampleSubResult
			if k == 1 {
				args := &codec.SampleArgs{Period: uint64(100 * time.Millisecond)}
				if err := c.Call(context.Background(), codec.MethodSampleSub, args, &sub); err != nil {
					b.Fatalf("sample.subscribe: %v", err)
				}
			}
			before := mustReadProc(b, d.pid())
			out := runNoise(b, taskset, "-c", strconv.Itoa(cpu), prog, "cpu", cpuRounds)
			used := mustReadProc(b, d.pid()).runNs - before.runNs
			loopMs[k] = append(loopMs[k], out[0]/1e6)
			loopCPU[k] = append(loopCPU[k], out[2]/1e6)
			share[k] = append(share[k], float64(used)/out[0])
			if k == 1 {
				unsub := &codec.UnsubscribeArgs{Sub: sub.Sub}
				if err := c.Call(context.Background(), codec.MethodSampleUnsub, unsub, nil); err != nil {
					b.Fatalf("sample.unsubscribe: %v", err)
				}
			}
		}
	}
	b.StopTimer()

	var slow, added, infl, est samples
	for i := range min(len(loopMs[0]), len(loopMs[1])) {
		slow = append(slow, loopMs[1][i]/loopMs[0][i]-1)
		added = append(added, share[1][i]-share[0][i])
		infl = append(infl, loopCPU[1][i]/loopCPU[0][i]-1)
		est = append(est, infl[i]+added[i])
	}
	for k, name := range conds {
		b.ReportMetric(loopMs[k].median(), "pinned-"+name+"-cpu-ms")
		b.ReportMetric(share[k].median()*100, "pinned-"+name+"-tacetd-share-%")
	}
	b.ReportMetric(slow.median()*100, "pinned-slowdown-%")
	b.ReportMetric(slow.min()*100, "pinned-slowdown-min-%")
	b.ReportMetric(slow.max()*100, "pinned-slowdown-max-%")
	b.ReportMetric(added.median()*100, "pinned-sampling-share-%")
	b.ReportMetric(slow.median()/added.median(), "pinned-slowdown/share")
	b.ReportMetric(infl.median()*100, "pinned-loop-cpu-growth-%")
	b.ReportMetric(infl.min()*100, "pinned-loop-cpu-growth-min-%")
	b.ReportMetric(infl.max()*100, "pinned-loop-cpu-growth-max-%")
	b.ReportMetric(est.median()*100, "pinned-est-slowdown-%")
	b.ReportMetric(est.median()/added.median(), "pinned-est-slowdown/share")
}

// avoidCPU keeps every thread of this process off cpu until the
// benchmark ends; threads created later inherit it from their creators.
func avoidCPU(b *testing.B, cpu int) {
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
	b.Cleanup(func() { setAllThreads(b, &orig) })
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
