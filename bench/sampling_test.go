// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// samplingRates are the rates of BenchmarkSamplingCost, in Hz.
var samplingRates = []int{1, 10, 100, 1000}

// managedProcs is how many processes the daemon has started and samples
// besides the machine.
const managedProcs = 10

// sampleCost is what a sampler used over one window: ns on a CPU and
// context switches, all threads together, and the samples it took.
type sampleCost struct {
	cpuNs, ctxsw float64
	volsw        float64 // the voluntary ones among ctxsw
	n            uint64
	secs         float64
	files        int // the reference's open files
}

func (c sampleCost) usPerSample() float64      { return c.cpuNs / 1e3 / float64(c.n) }
func (c sampleCost) wakeupsPerSample() float64 { return c.ctxsw / float64(c.n) }
func (c sampleCost) sleepsPerSample() float64  { return c.volsw / float64(c.n) }

// less returns c less what base used, or base's rate over c's window when
// perSecond.
func (c sampleCost) less(base sampleCost, perSecond bool) sampleCost {
	k := 1.0
	if perSecond {
		k = c.secs / base.secs
	}
	c.cpuNs, c.ctxsw, c.volsw = c.cpuNs-k*base.cpuNs, c.ctxsw-k*base.ctxsw, c.volsw-k*base.volsw
	return c
}

// BenchmarkSamplingCost measures what tacetd spends per sample while one
// controller subscribes to every source and to the 10 processes it
// started, at each of samplingRates, beside the C reference sampler
// (testdata/refsampler.c) reading the same files at the same rate. Both
// are measured from outside, in /proc/PID/task/*: CPU time from
// schedstat (ns) and wake-ups as voluntary plus involuntary context
// switches.
//
// The controller reads over the Unix socket at every rate, and over TCP
// loopback at 10 and 100 Hz, as a remote controller would. The transports
// differ in what a sample costs: TCP's send path is longer, but a peer
// reading from a Unix socket wakes every epoll watching its other end, so
// there the daemon's netpoller wakes once more for many samples.
//
// The daemon's idle rate, with the controllers connected and no
// subscription, is measured in each iteration and subtracted; the
// reference's fixed cost (its start and stop handshake with the
// benchmark, measured with 0 samples) likewise. Subjects run one after
// the other, never at once, in an order that rotates between iterations.
// Windows: 30 s (20 s at 1 Hz, 10 s at 1000 Hz), 2 s in a smoke run (5 s
// at 1 Hz).
func BenchmarkSamplingCost(b *testing.B) {
	windows := map[int]time.Duration{1: 20 * time.Second, 10: 30 * time.Second,
		100: 30 * time.Second, 1000: 10 * time.Second}
	idleWindow := 20 * time.Second
	if smoke() {
		windows = map[int]time.Duration{1: 5 * time.Second, 10: 2 * time.Second,
			100: 2 * time.Second, 1000: 2 * time.Second}
		idleWindow = 2 * time.Second
	}
	ref := buildC(b, "testdata/refsampler.c")
	d := startDaemon(b, false)
	pids := startSleepers(b, d.dial(d.unix), managedProcs)
	conns := map[string]*sampleConn{"unix": dialSamples(d, d.unix), "tcp": dialSamples(d, d.tcp)}
	time.Sleep(noiseSettle)

	n := len(samplingRates)
	tacetd, refs := make([]map[string][]sampleCost, n), make([][]sampleCost, n)
	var idleCPU, idleWake samples
	var refFiles int
	for i := 0; b.Loop(); i++ {
		idle := measureIdleRate(b, d.PID(), idleWindow)
		idleCPU, idleWake = append(idleCPU, idle.cpuNs/idle.secs), append(idleWake, idle.ctxsw/idle.secs)
		base := runRefSampler(b, ref, 1, 0, pids)
		refFiles = base.files
		for k, hz := range samplingRates {
			if tacetd[k] == nil {
				tacetd[k] = map[string][]sampleCost{}
			}
			subjects := []string{"ref", "unix"}
			if hz == 10 || hz == 100 {
				subjects = append(subjects, "tcp")
			}
			for _, j := range rotation(i+k, len(subjects)) {
				tr := subjects[j]
				if tr != "ref" {
					c := measureDaemonSampling(b, d.PID(), conns[tr], hz, windows[hz], idle)
					tacetd[k][tr] = append(tacetd[k][tr], c)
					continue
				}
				c := runRefSampler(b, ref, hz, uint64(windows[hz].Seconds()*float64(hz)), pids)
				refs[k] = append(refs[k], c.less(base, false))
			}
		}
	}
	b.StopTimer()

	b.ReportMetric(float64(refFiles), "ref-files")
	b.ReportMetric(idleCPU.median()/1e3, "tacetd-idle-cpu-us/s")
	b.ReportMetric(idleWake.median(), "tacetd-idle-wakeups/s")
	for k, hz := range samplingRates {
		for tr, cs := range tacetd[k] {
			reportSamplingRate(b, tr, hz, cs, refs[k])
		}
	}
}

// reportSamplingRate reports the figures of one transport at one rate,
// named NHz-... for the Unix socket and tcp-NHz-... for TCP.
func reportSamplingRate(b *testing.B, tr string, hz int, tacetd, ref []sampleCost) {
	p := strconv.Itoa(hz) + "Hz"
	if tr != "unix" {
		p = tr + "-" + p
	}
	var tUs, rUs, tWk, rWk, tVol, rVol, ratio, share, got samples
	for i := range min(len(tacetd), len(ref)) {
		t, r := tacetd[i], ref[i]
		tUs, rUs = append(tUs, t.usPerSample()), append(rUs, r.usPerSample())
		tWk, rWk = append(tWk, t.wakeupsPerSample()), append(rWk, r.wakeupsPerSample())
		tVol, rVol = append(tVol, t.sleepsPerSample()), append(rVol, r.sleepsPerSample())
		ratio = append(ratio, t.usPerSample()/r.usPerSample())
		share = append(share, t.cpuNs/t.secs/1e7)
		got = append(got, float64(t.n)/(t.secs*float64(hz)))
	}
	b.ReportMetric(tUs.median(), "tacetd-"+p+"-cpu-us/sample")
	b.ReportMetric(rUs.median(), "ref-"+p+"-cpu-us/sample")
	b.ReportMetric(ratio.median(), p+"-cpu/ref")
	b.ReportMetric(ratio.min(), p+"-cpu/ref-min")
	b.ReportMetric(ratio.max(), p+"-cpu/ref-max")
	b.ReportMetric(tWk.median(), "tacetd-"+p+"-wakeups/sample")
	b.ReportMetric(rWk.median(), "ref-"+p+"-wakeups/sample")
	b.ReportMetric(tVol.median(), "tacetd-"+p+"-voluntary/sample")
	b.ReportMetric(rVol.median(), "ref-"+p+"-voluntary/sample")
	b.ReportMetric(share.median(), "tacetd-"+p+"-core-%")
	b.ReportMetric(got.median(), "tacetd-"+p+"-delivered/due")
}

// measureIdleRate returns what pid used over window.
func measureIdleRate(b *testing.B, pid int, window time.Duration) sampleCost {
	before, t0 := mustReadProc(b, pid), time.Now()
	time.Sleep(window)
	after := mustReadProc(b, pid)
	return sampleCost{cpuNs: float64(after.runNs - before.runNs), ctxsw: float64(after.ctxsw - before.ctxsw),
		volsw: float64(after.volsw - before.volsw), secs: time.Since(t0).Seconds()}
}

// measureDaemonSampling subscribes sc at hz and returns what the daemon
// used over window, less its idle rate, and the samples sc read
// meanwhile. The subscription's request and first sample come before the
// window, its end after it.
func measureDaemonSampling(b *testing.B, pid int, sc *sampleConn, hz int, window time.Duration,
	idle sampleCost) sampleCost {
	sub, err := sc.subscribe(hz)
	if err != nil {
		b.Fatal(err)
	}
	before, n0, t0 := mustReadProc(b, pid), sc.samples.Load(), time.Now()
	time.Sleep(window)
	after, n1, secs := mustReadProc(b, pid), sc.samples.Load(), time.Since(t0).Seconds()
	if err := sc.unsubscribe(sub); err != nil {
		b.Fatal(err)
	}
	if n1 == n0 {
		b.Fatalf("no sample at %d Hz over %v", hz, window)
	}
	c := sampleCost{n: n1 - n0, secs: secs, cpuNs: float64(after.runNs - before.runNs),
		ctxsw: float64(after.ctxsw - before.ctxsw), volsw: float64(after.volsw - before.volsw)}
	return c.less(idle, true)
}

// runRefSampler runs the reference for n samples at hz over pids and
// returns what it used from its first sample to its last, read in /proc
// while it waits on its stdin before and after them.
func runRefSampler(b *testing.B, bin string, hz int, n uint64, pids []int) sampleCost {
	b.Helper()
	args := []string{strconv.Itoa(hz), strconv.FormatUint(n, 10)}
	for _, p := range pids {
		arg := strconv.Itoa(p)
		if dir := cgroupDir(p); dir != "" {
			arg += ":" + dir
		}
		args = append(args, arg)
	}
	cmd := exec.Command(bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()

	out := bufio.NewReader(stdout)
	files := expect(b, out, "ready")
	before, t0 := mustReadProc(b, cmd.Process.Pid), time.Now()
	io.WriteString(stdin, "go\n")
	expect(b, out, "done")
	after := mustReadProc(b, cmd.Process.Pid)
	return sampleCost{n: max(n, 1), secs: time.Since(t0).Seconds(), files: files,
		cpuNs: float64(after.runNs - before.runNs), ctxsw: float64(after.ctxsw - before.ctxsw),
		volsw: float64(after.volsw - before.volsw)}
}

// expect reads a line "WORD N" from the reference and returns N.
func expect(b *testing.B, r *bufio.Reader, word string) int {
	b.Helper()
	line, err := r.ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 2 || f[0] != word {
		b.Fatalf("refsampler: want %q, got %q (%v)", word, line, err)
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// cgroupDir returns the cgroup v2 directory of pid, or "" when it has
// none: tacetd reads the cgroup files of a started process in place of
// following its children, and so does the reference.
func cgroupDir(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	var rel string
	for _, ln := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(ln, "0::"); ok {
			rel = p
		}
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if rel == "" || rel == "/" || err != nil {
		return ""
	}
	for _, ln := range strings.Split(string(mi), "\n") {
		// "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE SOURCE ..."
		f := strings.Fields(ln)
		for i, x := range f {
			if x == "-" && i+1 < len(f) && f[i+1] == "cgroup2" && len(f) > 4 {
				return filepath.Join(f[4], rel)
			}
		}
	}
	return ""
}

// startSleepers starts n long sleeps through c and returns their PIDs;
// the daemon kills them when it stops.
func startSleepers(b *testing.B, c *client.Client, n int) []int {
	b.Helper()
	var pids []int
	for range n {
		p, err := c.Start(context.Background(), &codec.StartArgs{
			Argv: [][]byte{[]byte("sleep"), []byte("100000")}})
		if err != nil {
			b.Fatalf("start sleep: %v", err)
		}
		pids = append(pids, int(p.PID))
	}
	return pids
}
