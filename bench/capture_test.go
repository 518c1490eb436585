// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// captureMemBudget is the --mem-budget of the daemon of
// BenchmarkCaptureCost: the default, given explicitly so that the report
// compares the daemon's peak RSS with the budget it really had.
const captureMemBudget = 256 << 20

// BenchmarkCaptureCost measures the run time of a child writing as fast
// as it can while no controller reads its output: captured by tacetd with
// a spool file, captured in memory only, and locally into a pipe drained
// by cat; and, to show what storage allows, into a pipe that
// testdata/spoolfloor.c drains into a file in its two ways (spoolFloor).
// The five run in turn in every iteration, in a rotating order. The
// daemon's times are from its exit record, execve to reaping; the local
// ones from fork to wait, which adds a fork to the baselines.
func BenchmarkCaptureCost(b *testing.B) {
	size := int64(1 << 30)
	if smoke() {
		size = 64 << 20
	}
	d := startDaemon(b, false, "--mem-budget", strconv.Itoa(captureMemBudget))
	ctx := context.Background()
	c := d.dial(d.unix)
	floorDir := b.TempDir() // on the file system of the daemon's state directory
	floor := buildC(b, "testdata/spoolfloor.c", "-pthread")
	names := []string{"local", "spool", "memonly", "floor", "direct"}
	subjects := []func() (time.Duration, error){
		func() (time.Duration, error) { return localWriter(size) },
		capturedWriter(ctx, c, size, false),
		capturedWriter(ctx, c, size, true),
		func() (time.Duration, error) { return spoolFloor(size, floor, "splice", floorDir) },
		func() (time.Duration, error) { return spoolFloor(size, floor, "direct", floorDir) },
	}

	took := make([]samples, len(subjects))
	for i := 0; b.Loop(); i++ {
		for _, k := range rotation(i, len(subjects)) {
			dt, err := subjects[k]()
			if err != nil {
				b.Fatalf("%s: %v", names[k], err)
			}
			took[k] = append(took[k], float64(dt)/1e6)
		}
	}
	b.StopTimer()

	for k, name := range names {
		b.ReportMetric(took[k].median(), name+"-ms")
	}
	for k := 1; k < len(names); k++ {
		r := ratios(took[k], took[0])
		b.ReportMetric(r.median(), names[k]+"/local")
		b.ReportMetric(r.min(), names[k]+"/local-min")
		b.ReportMetric(r.max(), names[k]+"/local-max")
	}
	r := ratios(took[1], took[3])
	b.ReportMetric(r.median(), "spool/floor")
	b.ReportMetric(r.min(), "spool/floor-min")
	b.ReportMetric(r.max(), "spool/floor-max")
	ps, err := readProc("/proc", d.PID())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(ps.hwmKiB)/1024, "tacetd-hwm-MiB")
	b.ReportMetric(captureMemBudget>>20, "mem-budget-MiB")
	b.ReportMetric(float64(ps.hwmKiB<<10)/captureMemBudget, "hwm/budget")
}

// writerArgv is the child of BenchmarkCaptureCost.
func writerArgv(size int64) []string {
	return []string{"head", "-c", strconv.FormatInt(size, 10), "/dev/zero"}
}

// localWriter runs the child here with its stdout a pipe that a local
// cat drains into /dev/null, and returns the child's run time.
func localWriter(size int64) (time.Duration, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		r.Close()
		w.Close()
		return 0, err
	}
	defer devnull.Close()
	cat := exec.Command("cat")
	cat.Stdin, cat.Stdout = r, devnull
	if err := cat.Start(); err != nil {
		r.Close()
		w.Close()
		return 0, err
	}
	r.Close()

	dt, err := runWriter(size, w)
	if cerr := cat.Wait(); err == nil {
		err = cerr
	}
	return dt, err
}

// runWriter runs the child here with w, which it closes, as its
// stdout, and returns the child's run time, from fork to wait.
func runWriter(size int64, w *os.File) (time.Duration, error) {
	argv := writerArgv(size)
	child := exec.Command(argv[0], argv[1:]...)
	child.Stdout = w
	t0 := time.Now()
	err := child.Run()
	dt := time.Since(t0)
	w.Close()
	return dt, err
}

// spoolFloor runs the child here with its stdout a pipe as large as
// tacetd makes its children's, which testdata/spoolfloor.c, built as bin,
// drains into a file in dir in the given mode, and returns the child's
// run time. Mode "splice" is the least that a capture costs when it puts
// every byte in a file before the child may reuse the byte's room in the
// pipe, as tacetd's spool does so that a daemon killed mid-read loses
// nothing. Mode "direct" is the least that a write-behind spool costs,
// holding bytes in memory between the read and an O_DIRECT write.
func spoolFloor(size int64, bin, mode, dir string) (time.Duration, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, err
	}
	unix.FcntlInt(uintptr(p[0]), unix.F_SETPIPE_SZ, 1<<20)
	r, w := os.NewFile(uintptr(p[0]), "stdin"), os.NewFile(uintptr(p[1]), "stdout")
	path := filepath.Join(dir, mode)
	defer os.Remove(path)
	var stderr bytes.Buffer
	drain := exec.Command(bin, mode, path)
	drain.Stdin, drain.Stderr = r, &stderr
	err := drain.Start()
	r.Close()
	if err != nil {
		w.Close()
		return 0, err
	}
	dt, err := runWriter(size, w)
	if derr := drain.Wait(); derr != nil {
		// The drain's failure first: it is why a writer fails too, of
		// SIGPIPE.
		err = fmt.Errorf("spoolfloor %s: %v: %s", mode, derr, stderr.Bytes())
	}
	if st, serr := os.Stat(path); err == nil && serr == nil && st.Size() != size {
		err = fmt.Errorf("spoolfloor %s wrote %d bytes of %d", mode, st.Size(), size)
	}
	return dt, err
}

// capturedWriter returns a subject that starts the child through c, its
// output kept by the daemon and read by nobody, and returns the run time
// from its exit record. The process is released afterwards, untimed, so
// that its spool does not pile up.
func capturedWriter(ctx context.Context, c *client.Client, size int64, memOnly bool) func() (time.Duration, error) {
	var args codec.StartArgs
	for _, a := range writerArgv(size) {
		args.Argv = append(args.Argv, []byte(a))
	}
	args.Output.MemOnly = memOnly
	return func() (time.Duration, error) {
		p, err := c.Start(ctx, &args)
		if err != nil {
			return 0, err
		}
		ex, err := p.Wait(ctx)
		if err != nil {
			return 0, err
		}
		if ex.Code != 0 || ex.Signal != 0 {
			return 0, fmt.Errorf("child exited with code %d, signal %d", ex.Code, ex.Signal)
		}
		if len(ex.Lengths) == 0 || ex.Lengths[0] != uint64(size) {
			return 0, fmt.Errorf("daemon read %v bytes of %d", ex.Lengths, size)
		}
		t := ex.Times
		if t.ExecMono == 0 || t.EndMono < t.ExecMono {
			return 0, fmt.Errorf("exit record has no exec or end time: %+v", t)
		}
		return time.Duration(t.EndMono - t.ExecMono), p.Release(ctx)
	}
}
