// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"testing"
	"time"
)

// peerLatencyNames are the subjects of BenchmarkPeerLatency, in the
// order of its metrics; "local" is the baseline.
var peerLatencyNames = []string{"local", "unix", "tcp", "ssh", "ssh-mux", "supervisorctl", "xmlrpc"}

// BenchmarkPeerLatency measures the time to run /bin/true and learn that
// it exited, through tacetd and through the tools it replaces, beside a
// local fork, exec and wait: tacetd over its Unix socket and over TCP;
// `ssh h1 true` to a private sshd, with a full handshake each time, and
// through a ControlMaster already up; supervisord's XML-RPC startProcess
// and `supervisorctl start`, each followed by polling until the program
// is EXITED. All run in turn in every iteration, in a rotating order.
func BenchmarkPeerLatency(b *testing.B) {
	d := startDaemon(b, false)
	s := startSSHD(b)
	mux := s.startMaster(b)
	sv := startSupervisord(b)
	ctx := context.Background()
	ssh := s.argv("h1", "true")
	sshMux := s.argv("h1", "true", "-S", mux)
	subjects := []func() (time.Duration, error){
		localTrue,
		remoteTrue(ctx, d.dial(d.unix)),
		remoteTrue(ctx, d.dial(d.tcp)),
		func() (time.Duration, error) { return runQuiet(nil, ssh...) },
		func() (time.Duration, error) { return runQuiet(nil, sshMux...) },
		sv.ctlTrue,
		sv.xmlrpcTrue,
	}
	for range latencyWarmup {
		for k, f := range subjects {
			if _, err := f(); err != nil {
				b.Fatalf("%s: %v", peerLatencyNames[k], err)
			}
		}
	}

	took := make([]samples, len(subjects))
	for i := 0; b.Loop(); i++ {
		for _, k := range rotation(i, len(subjects)) {
			dt, err := subjects[k]()
			if err != nil {
				b.Fatalf("%s: %v", peerLatencyNames[k], err)
			}
			took[k] = append(took[k], float64(dt))
		}
	}
	b.StopTimer()

	for k, name := range peerLatencyNames {
		b.ReportMetric(took[k].median(), name+"-p50-ns")
		b.ReportMetric(took[k].quantile(0.9), name+"-p90-ns")
		if k == 0 {
			continue
		}
		r := ratios(took[k], took[0])
		b.ReportMetric(r.median(), name+"/local-p50")
		b.ReportMetric(r.quantile(0.1), name+"/local-p10")
		b.ReportMetric(r.quantile(0.9), name+"/local-p90")
		if k > 2 {
			// How much faster tacet over TCP is than this tool, paired.
			r := ratios(took[k], took[2])
			b.ReportMetric(r.median(), name+"/tcp-p50")
			b.ReportMetric(r.quantile(0.1), name+"/tcp-p10")
			b.ReportMetric(r.quantile(0.9), name+"/tcp-p90")
		}
	}
}
