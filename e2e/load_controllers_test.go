// SPDX-License-Identifier: Apache-2.0

//go:build load

package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// TestLoadControllers connects 100 controllers at once, each of which
// starts 20 processes and waits for them, and checks that every one of
// the 2000 exit records arrives, both as an event and as the answer to
// proc.wait, with the process's output length, and that the daemon is
// left as it was once the controllers are gone: fds, threads, zombies,
// memory.
func TestLoadControllers(t *testing.T) {
	const controllers, each = 100, 20
	raiseNoFile(t, 8*controllers*each)
	d := startDaemon(t)
	warm := dial(t, d, d.tcp)
	warm.run(sh("echo warm"))
	controllersRound(t, d, controllers, each) // warms the daemon up
	fds, base := fdCount(t, d.PID()), settledRSS(d.PID())

	peak := controllersRound(t, d, controllers, each)
	if peak > maxDaemonThreads {
		t.Errorf("daemon threads peaked at %d, want at most %d", peak, maxDaemonThreads)
	}
	if after := waitFDs(t, d.PID(), fds); after > fds {
		t.Errorf("daemon has %d fds after the controllers left, %d before: %v", after, fds, fdList(d.PID()))
	}
	waitNoZombies(t, d.PID())
	waitRSS(t, d.PID(), base)
	var list codec.ListResult
	warm.mustCall(codec.MethodList, nil, &list)
	if len(list.Procs) != 1 {
		t.Errorf("the daemon still holds %d processes, want the warm-up's alone", len(list.Procs))
	}
}

// controllersRound connects the controllers, all before any starts, runs
// a batch on each at once, closes them, and returns the daemon's peak
// thread count.
func controllersRound(t *testing.T, d *daemon, controllers, each int) int {
	t.Helper()
	fds := fdCount(t, d.PID())
	cs := make([]*client, controllers)
	for i := range cs {
		c, err := tryDial(d, d.tcp)
		if err != nil {
			t.Fatalf("controller %d: %v", i, err)
		}
		cs[i] = c
	}
	if got := fdCount(t, d.PID()); got < fds+controllers {
		t.Fatalf("daemon has %d fds with %d controllers connected, %d before", got, controllers, fds)
	}

	began := time.Now()
	errs := make(chan error, controllers)
	var wg sync.WaitGroup
	var peak struct {
		sync.Mutex
		threads int
	}
	for i, c := range cs {
		wg.Go(func() {
			errs <- runBatch(c, i, each)
			peak.Lock()
			peak.threads = max(peak.threads, threads(d.PID()))
			peak.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d controllers ran %d processes each in %v; daemon threads peaked at %d",
		controllers, each, time.Since(began), peak.threads)
	for _, c := range cs {
		c.close()
	}
	return peak.threads
}

// runBatch starts n processes from c, all before waiting for any, then
// checks each one's exit event and proc.wait answer, and releases it. It
// returns the first thing wrong; it neither fails nor logs, since it runs
// in a goroutine.
func runBatch(c *client, id, n int) error {
	handles := make([]uint64, n)
	outs := make([]string, n)
	for i := range handles {
		outs[i] = fmt.Sprintf("controller %d process %d\n", id, i)
		var r codec.StartResult
		if cerr, err := c.roundTrip(codec.MethodStart, sh("printf '"+outs[i]+"'"), &r, callTimeout); err != nil || cerr != nil {
			return fmt.Errorf("controller %d: proc.start %d: %v %v", id, i, err, cerr)
		}
		handles[i] = r.Handle
	}
	for i, h := range handles {
		var ex codec.Exit
		if cerr, err := c.roundTrip(codec.MethodWait, &codec.HandleArgs{Handle: h}, &ex, time.Minute); err != nil || cerr != nil {
			return fmt.Errorf("controller %d: proc.wait %d: %v %v", id, i, err, cerr)
		}
		if err := checkExit(&ex, len(outs[i])); err != nil {
			return fmt.Errorf("controller %d: process %d: proc.wait: %v", id, i, err)
		}
		ev, err := nextExit(c, h)
		if err != nil {
			return fmt.Errorf("controller %d: process %d: %v", id, i, err)
		}
		if err := checkExit(ev, len(outs[i])); err != nil {
			return fmt.Errorf("controller %d: process %d: exit event: %v", id, i, err)
		}
		var rr codec.ReadResult
		args := &codec.ReadArgs{Handle: h, Stream: codec.Stdout}
		if cerr, err := c.roundTrip(codec.MethodRead, args, &rr, callTimeout); err != nil || cerr != nil {
			return fmt.Errorf("controller %d: out.read %d: %v %v", id, i, err, cerr)
		}
		if string(rr.Data) != outs[i] || !rr.EOF {
			return fmt.Errorf("controller %d: process %d wrote %q (eof %v), want %q", id, i, rr.Data, rr.EOF, outs[i])
		}
		if cerr, err := c.roundTrip(codec.MethodRelease, &codec.HandleArgs{Handle: h}, nil, callTimeout); err != nil || cerr != nil {
			return fmt.Errorf("controller %d: proc.release %d: %v %v", id, i, err, cerr)
		}
	}
	return nil
}

// nextExit returns the exit event of h, skipping its state events.
func nextExit(c *client, h uint64) (*codec.Exit, error) {
	for {
		ev, err := c.next(procBox(h), time.Minute)
		if err != nil {
			return nil, fmt.Errorf("no exit event: %v", err)
		}
		if ev.exit != nil {
			return ev.exit, nil
		}
		if ev.failed != nil {
			return nil, fmt.Errorf("failed: %+v", *ev.failed)
		}
	}
}

// checkExit checks the record of a process that exited 0 after writing
// n bytes to stdout.
func checkExit(ex *codec.Exit, n int) error {
	if ex.Code != 0 || ex.Signal != 0 || ex.Open || len(ex.Lengths) < 1 || ex.Lengths[0] != uint64(n) {
		return fmt.Errorf("exit code %d signal %d open %v lengths %v, want 0, 0, closed and %d bytes",
			ex.Code, ex.Signal, ex.Open, ex.Lengths, n)
	}
	return nil
}
