// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"sync"
	"text/tabwriter"
)

// What deploy and undeploy report for a host.
const (
	statusDeployed = "deployed"        // the daemon was started and answers
	statusRunning  = "already running" // it ran and answered before deploy
	statusRemoved  = "removed"         // undeploy stopped it and removed its files
	statusAbsent   = "absent"          // undeploy found nothing of the deployment
	statusKept     = "kept"            // --keep-running left it running
	statusFailed   = "failed"
)

// hostReport is how deploy or undeploy ended on one host; it is also the
// JSON form, one per line.
type hostReport struct {
	Host   string `json:"host"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	Addr   string `json:"addr,omitempty"`
	PID    int    `json:"pid,omitempty"`
}

// eachParallel runs fn for 0..n-1, at most --fanout at once, with a
// progress line on a terminal. fn reports whether it succeeded.
func (t *cli) eachParallel(n int, fn func(i int) bool) {
	pr := &progress{total: n}
	s := &sink{stderr: t.stderr}
	stop, shown := make(chan struct{}), make(chan struct{})
	if isTerminal(t.stderr) && !t.opts.json {
		go pr.show(s, stop, shown)
	} else {
		close(shown)
	}

	sem := make(chan struct{}, max(t.opts.fanout, 1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			pr.started.Add(1)
			if !fn(i) {
				pr.failed.Add(1)
			}
			pr.finished.Add(1)
		}()
	}
	wg.Wait()
	close(stop)
	<-shown
}

// writeReports prints one line per host and a count, and returns 0 when
// no host failed, else 1.
func (t *cli) writeReports(reps []hostReport) int {
	failed := 0
	for _, r := range reps {
		if r.Status == statusFailed {
			failed++
		}
	}
	if t.opts.json {
		for _, r := range reps {
			t.json.write(r)
		}
	} else {
		tw := tabwriter.NewWriter(t.stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "HOST\tSTATUS\tPID\tDETAIL")
		for _, r := range reps {
			pid, detail := "-", r.Detail
			if r.PID != 0 {
				pid = fmt.Sprint(r.PID)
			}
			if detail == "" {
				detail = r.Addr
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Host, r.Status, pid, detail)
		}
		tw.Flush()
		fmt.Fprintf(t.stdout, "%d hosts: %d ok, %d failed\n", len(reps), len(reps)-failed, failed)
	}
	if failed > 0 {
		return exitFailed
	}
	return exitOK
}
