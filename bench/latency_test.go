// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"io"
	"os/exec"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// latencyWarmup is how many untimed rounds run before the first timed
// one, so that the first iteration does not pay for cold caches and
// lazily set up state in the daemon and the client.
const latencyWarmup = 3

// BenchmarkControlLatency measures the time from the start request of
// /bin/true to its exit record, through the client over the Unix socket,
// TCP and KCP, beside a local fork, exec and wait of /bin/true with both
// output pipes read to EOF, which is what the daemon does for it. The
// four run in turn in every iteration, in a rotating order. With
// TACET_BENCH_SAMPLES set to a directory, every iteration's times are
// written there too, for the report's plots.
func BenchmarkControlLatency(b *testing.B) {
	d := startDaemon(b, true)
	ctx := context.Background()
	names := []string{"local", "unix", "tcp", "kcp"}
	subjects := []func() (time.Duration, error){
		localTrue,
		remoteTrue(ctx, d.dial(d.unix)),
		remoteTrue(ctx, d.dial(d.tcp)),
		remoteTrue(ctx, d.dial(d.kcp)),
	}
	for range latencyWarmup {
		for _, f := range subjects {
			if _, err := f(); err != nil {
				b.Fatal(err)
			}
		}
	}

	took := make([]samples, len(subjects))
	for i := 0; b.Loop(); i++ {
		for _, k := range rotation(i, len(subjects)) {
			dt, err := subjects[k]()
			if err != nil {
				b.Fatal(err)
			}
			took[k] = append(took[k], float64(dt))
		}
	}

	for k, name := range names {
		b.ReportMetric(took[k].median(), name+"-p50-ns")
		b.ReportMetric(took[k].quantile(0.9), name+"-p90-ns")
		b.ReportMetric(took[k].quantile(0.99), name+"-p99-ns")
		b.ReportMetric(float64(len(took[k])), name+"-n")
		writeSamples(b, "ControlLatency-"+name, took[k])
	}
	for k, name := range names[1:] {
		r := ratios(took[k+1], took[0])
		b.ReportMetric(r.median(), name+"/local-p50")
		b.ReportMetric(r.quantile(0.9), name+"/local-p90")
	}
}

// localTrue runs /bin/true here and reads its stdout and stderr to EOF.
func localTrue() (time.Duration, error) {
	t0 := time.Now()
	cmd := exec.Command("/bin/true")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	// /bin/true writes nothing, so reading one pipe after the other cannot
	// leave the child blocked on the other.
	io.Copy(io.Discard, stdout)
	io.Copy(io.Discard, stderr)
	err = cmd.Wait()
	return time.Since(t0), err
}

// remoteTrue returns a subject that starts /bin/true through c and waits
// for its exit record; the release that follows is not timed.
func remoteTrue(ctx context.Context, c *client.Client) func() (time.Duration, error) {
	args := &codec.StartArgs{Argv: [][]byte{[]byte("/bin/true")}}
	return func() (time.Duration, error) {
		t0 := time.Now()
		p, err := c.Start(ctx, args)
		if err != nil {
			return 0, err
		}
		_, err = p.Wait(ctx)
		dt := time.Since(t0)
		if err != nil {
			return 0, err
		}
		return dt, p.Release(ctx)
	}
}
