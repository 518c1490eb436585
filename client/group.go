// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"syscall"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// Defaults of GroupConfig.
const (
	DefaultFanout         = 64
	DefaultConnectTimeout = 5 * time.Second
)

// ErrNoProcess is the error of a Group operation on a host that has no
// process to act on, because its start failed or was not asked for.
var ErrNoProcess = errors.New("no process on this host")

// GroupConfig configures DialGroup. The zero value is valid.
type GroupConfig struct {
	// Fanout bounds the hosts being dialled, and the calls of Each in
	// flight, at once; 0 means DefaultFanout.
	Fanout int

	// Timeout bounds the connect and handshake to each host; 0 means
	// DefaultConnectTimeout. It replaces a WithTimeout in Options.
	Timeout time.Duration

	// Options are given to every Dial, such as WithKeyFile.
	Options []Option

	// HostOptions, if set, returns more options for the daemon at addr,
	// given after Options, such as a WithDialer for that host alone.
	HostOptions func(addr string) []Option
}

// Group is one connection to each of many daemons, for doing the same
// thing on all of them at once. Every operation returns one result per
// host, in the order of the addresses given to DialGroup: a host that
// could not be reached or that failed is an error in its place, never a
// reason for the others to fail or to wait.
//
// A Group's methods may be called from any goroutine.
type Group struct {
	addrs   []string
	clients []*Client // nil where the dial failed
	errs    []error   // the dial errors
	fanout  int
}

// DialGroup dials every address in parallel, at most cfg.Fanout at once,
// each bounded by cfg.Timeout. It returns when every dial has succeeded
// or failed; Err says which failed and why.
func DialGroup(ctx context.Context, addrs []string, cfg GroupConfig) *Group {
	g := &Group{
		addrs:   addrs,
		clients: make([]*Client, len(addrs)),
		errs:    make([]error, len(addrs)),
		fanout:  cfg.Fanout,
	}
	if g.fanout <= 0 {
		g.fanout = DefaultFanout
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	opts := append(cfg.Options[:len(cfg.Options):len(cfg.Options)], WithTimeout(timeout))

	g.parallel(g.fanout, func(i int) {
		// The context bounds a dial whose transport ignores WithTimeout.
		dctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		o := opts
		if cfg.HostOptions != nil {
			o = append(opts[:len(opts):len(opts)], cfg.HostOptions(addrs[i])...)
		}
		g.clients[i], g.errs[i] = Dial(dctx, addrs[i], o...)
	})
	return g
}

// parallel runs fn(i) for every host, at most limit at once (no bound
// when limit is 0), and returns when all have returned.
func (g *Group) parallel(limit int, fn func(i int)) {
	var sem chan struct{}
	if limit > 0 {
		sem = make(chan struct{}, limit)
	}
	var wg sync.WaitGroup
	for i := range g.addrs {
		if sem != nil {
			sem <- struct{}{}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if sem != nil {
				defer func() { <-sem }()
			}
			fn(i)
		}()
	}
	wg.Wait()
}

// Len returns the number of hosts.
func (g *Group) Len() int { return len(g.addrs) }

// Addr returns the address of host i as given to DialGroup.
func (g *Group) Addr(i int) string { return g.addrs[i] }

// Client returns the connection to host i, or nil if it failed.
func (g *Group) Client(i int) *Client { return g.clients[i] }

// Err returns why host i could not be dialled, a *DialError, or nil.
func (g *Group) Err(i int) error { return g.errs[i] }

// Connected returns how many hosts were dialled.
func (g *Group) Connected() int {
	n := 0
	for _, c := range g.clients {
		if c != nil {
			n++
		}
	}
	return n
}

// Each runs fn on every connected host in parallel, at most Fanout at
// once, and returns its error per host; a host that could not be
// dialled gets its dial error, and fn is not called for it.
func (g *Group) Each(ctx context.Context, fn func(ctx context.Context, i int, c *Client) error) []error {
	errs := make([]error, len(g.addrs))
	g.parallel(g.fanout, func(i int) {
		if c := g.clients[i]; c != nil {
			errs[i] = fn(ctx, i, c)
		} else {
			errs[i] = g.errs[i]
		}
	})
	return errs
}

// Start starts a process on every connected host, args(i) saying what
// host i starts; args may return the same value for every host.
func (g *Group) Start(ctx context.Context, args func(i int) *codec.StartArgs) ([]*Process, []error) {
	procs := make([]*Process, len(g.addrs))
	errs := g.Each(ctx, func(ctx context.Context, i int, c *Client) error {
		var err error
		procs[i], err = c.Start(ctx, args(i))
		return err
	})
	return procs, errs
}

// onProcs runs fn for every process of procs, which is indexed by host,
// all at once: waiting costs the daemons nothing, so it is not bounded
// by Fanout. A nil process gives its host's dial error or ErrNoProcess.
func (g *Group) onProcs(procs []*Process, fn func(i int, p *Process) error) []error {
	errs := make([]error, len(g.addrs))
	g.parallel(0, func(i int) {
		switch {
		case i < len(procs) && procs[i] != nil:
			errs[i] = fn(i, procs[i])
		case g.errs[i] != nil:
			errs[i] = g.errs[i]
		default:
			errs[i] = ErrNoProcess
		}
	})
	return errs
}

// Wait waits for every process of procs, indexed by host as Start
// returns them, and returns how each ended.
func (g *Group) Wait(ctx context.Context, procs []*Process) ([]*codec.Exit, []error) {
	exits := make([]*codec.Exit, len(g.addrs))
	errs := g.onProcs(procs, func(i int, p *Process) error {
		var err error
		exits[i], err = p.Wait(ctx)
		return err
	})
	return exits, errs
}

// Signal sends sig to every process of procs, with tree to their
// descendants too.
func (g *Group) Signal(ctx context.Context, procs []*Process, sig syscall.Signal, tree bool) []error {
	return g.onProcs(procs, func(i int, p *Process) error {
		return p.Signal(ctx, sig, tree)
	})
}

// SignalAt sends sig to every process of procs at one instant: at, by
// this machine's clock (zero: now), converted to each daemon's with ests
// (indexed by host, as EstimateClocks returns them; nil or a zero
// estimate converts nothing). It returns, per host, when the daemon sent
// the signal, converted back to this machine's clock. Every request is
// sent at once and answered at the instant, so the hosts' waits overlap.
func (g *Group) SignalAt(ctx context.Context, procs []*Process, sig syscall.Signal, tree bool,
	at time.Time, ests []ClockEstimate) ([]time.Time, []error) {
	sent := make([]time.Time, len(g.addrs))
	errs := g.onProcs(procs, func(i int, p *Process) error {
		var est ClockEstimate
		if i < len(ests) {
			est = ests[i]
		}
		dat := at
		if !at.IsZero() {
			dat = est.ToDaemon(at)
		}
		t, err := p.SignalAt(ctx, sig, tree, dat)
		if err == nil && !t.IsZero() {
			sent[i] = est.FromDaemon(t)
		}
		return err
	})
	return sent, errs
}

// WaitOutput waits, on every host at once, until a line of the output
// of its process matches re (Process.WaitOutput), and returns the lines.
func (g *Group) WaitOutput(ctx context.Context, procs []*Process, re *regexp.Regexp) ([][]byte, []error) {
	lines := make([][]byte, len(g.addrs))
	errs := g.onProcs(procs, func(i int, p *Process) error {
		var err error
		lines[i], err = p.WaitOutput(ctx, re)
		return err
	})
	return lines, errs
}

// WaitPort waits, on every host at once, until port accepts connections
// there (Process.WaitPort).
func (g *Group) WaitPort(ctx context.Context, procs []*Process, port uint16) []error {
	return g.onProcs(procs, func(i int, p *Process) error { return p.WaitPort(ctx, port) })
}

// Output subscribes to stream of every process of procs from offset
// from. The caller closes the Streams.
func (g *Group) Output(ctx context.Context, procs []*Process, stream uint8, from uint64) ([]*Stream, []error) {
	streams := make([]*Stream, len(g.addrs))
	errs := g.onProcs(procs, func(i int, p *Process) error {
		var err error
		streams[i], err = p.Output(ctx, stream, from)
		return err
	})
	return streams, errs
}

// EstimateClocks measures every connected daemon's clock offset with a
// burst of pings each, the hosts in parallel.
func (g *Group) EstimateClocks(ctx context.Context, b Burst) ([]ClockEstimate, []error) {
	ests := make([]ClockEstimate, len(g.addrs))
	errs := g.Each(ctx, func(ctx context.Context, i int, c *Client) error {
		var err error
		ests[i], err = c.EstimateClock(ctx, b)
		return err
	})
	return ests, errs
}

// Close closes every connection. Processes go on in their daemons,
// except those started with a lease.
func (g *Group) Close() error {
	g.parallel(0, func(i int) {
		if c := g.clients[i]; c != nil {
			c.Close()
		}
	})
	return nil
}
