// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"syscall"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// defaultWaitTimeout bounds a readiness wait when --wait-timeout is not
// given.
const defaultWaitTimeout = 30 * time.Second

// readyFlags are start's readiness flags: what to wait for after the
// start, and for how long.
type readyFlags struct {
	output  string
	port    int
	timeout time.Duration
	pty     bool // the process is on a terminal: its output is one stream

	re *regexp.Regexp
}

// wants reports whether any readiness flag was given.
func (f *readyFlags) wants() bool { return f.output != "" || f.port != 0 }

func (f *readyFlags) check() error {
	if f.port < 0 || f.port > 65535 {
		return usagef(fmt.Sprintf("--wait-port %d: want a TCP port, 1 to 65535", f.port))
	}
	if f.timeout <= 0 {
		return usagef("--wait-timeout must be positive")
	}
	if f.output != "" {
		re, err := regexp.Compile(f.output)
		if err != nil {
			return usagef(fmt.Sprintf("--wait-output: %v", err))
		}
		f.re = re
	}
	return nil
}

// wait waits until p is ready as the flags say: its output matched,
// then its port accepts connections on its host.
func (f *readyFlags) wait(ctx context.Context, p *client.Process) error {
	ctx, cancel := context.WithTimeoutCause(ctx, f.timeout,
		fmt.Errorf("--wait-timeout %v passed", f.timeout))
	defer cancel()
	if f.re != nil {
		var streams []uint8 // WaitOutput's default: stdout and stderr
		if f.pty {
			streams = []uint8{codec.PTY}
		}
		if _, err := p.WaitOutput(ctx, f.re, streams...); err != nil {
			return err
		}
	}
	if f.port != 0 {
		return p.WaitPort(ctx, uint16(f.port))
	}
	return nil
}

func cmdStart(ctx context.Context, t *cli, args []string) int {
	fs, sf := newStartFlags("start")
	var rf readyFlags
	fs.StringVar(&rf.output, "wait-output", "", "return once a line of the process's stdout or stderr (or terminal, with --pty) matches `REGEX`")
	fs.IntVar(&rf.port, "wait-port", 0, "return once TCP `PORT` accepts connections on the process's host, as its daemon sees it")
	fs.DurationVar(&rf.timeout, "wait-timeout", defaultWaitTimeout, "bound on the --wait-output and --wait-port waits; past it the process tree gets SIGTERM")
	if err := t.parseFlags(fs, args); err != nil {
		return helpOrFail(t, err)
	}
	rf.pty = sf.pty
	a, err := sf.startArgs(fs.Args())
	if err == nil && sf.stdin && len(t.opts.hosts) > 1 {
		err = usagef("--stdin takes one host: tacet's stdin can be read once")
	}
	if err == nil {
		err = rf.check()
	}
	if err != nil {
		return t.fail(err)
	}

	// Started in turn, then awaited together, so that hosts' readiness
	// waits overlap.
	procs := make([]*client.Process, len(t.opts.hosts))
	status := exitOK
	for i, addr := range t.opts.hosts {
		c, err := t.dial(ctx, addr)
		if err != nil {
			status = max(status, t.fail(err))
			continue
		}
		defer c.Close()
		if procs[i], err = c.Start(ctx, a); err != nil {
			status = max(status, t.fail(err))
		}
	}
	if rf.wants() {
		status = max(status, t.waitReady(ctx, &rf, procs))
	}
	for i, p := range procs {
		if p != nil {
			t.printStarted(t.opts.hosts[i], p)
		}
	}
	return status
}

// waitReady waits for every process of procs at once. One that is not
// ready in time gets SIGTERM to its tree, is reported and dropped from
// procs.
func (t *cli) waitReady(ctx context.Context, rf *readyFlags, procs []*client.Process) int {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = rf.wait(ctx, p)
		}()
	}
	wg.Wait()

	status := exitOK
	for i, err := range errs {
		if err == nil {
			continue
		}
		p := procs[i]
		procs[i] = nil
		var nr *client.NotReadyError
		if !errors.As(err, &nr) || errors.Is(err, client.ErrEnded) {
			t.warnf(t.opts.hosts[i], "%v", stripAddr(err, t.opts.hosts[i]))
			status = exitFailed
			continue
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		serr := p.Signal(sctx, syscall.SIGTERM, true)
		cancel()
		what := "sent SIGTERM to its tree"
		if serr != nil {
			what = "could not stop it: " + serr.Error()
		}
		t.warnf(t.opts.hosts[i], "%v; %s", stripAddr(err, t.opts.hosts[i]), what)
		status = exitFailed
	}
	return status
}

// stripAddr is err's message without the address that warnf prints.
func stripAddr(err error, addr string) string {
	s := err.Error()
	if p := hostName(addr) + ": "; len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

func (t *cli) printStarted(addr string, p *client.Process) {
	switch {
	case t.opts.json:
		t.json.write(startRecord{Host: hostName(addr), Event: "start", ID: formatID(p.Handle), PID: p.PID})
	case len(t.opts.hosts) > 1:
		fmt.Fprintf(t.stdout, "%s %s\n", hostName(addr), formatID(p.Handle))
	default:
		fmt.Fprintln(t.stdout, formatID(p.Handle))
	}
}
