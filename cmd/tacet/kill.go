// SPDX-License-Identifier: Apache-2.0

package main

import (
	"cmp"
	"context"
	"fmt"
	"syscall"
	"text/tabwriter"
	"time"

	"gitlab.com/tacet/tacet/client"
)

// killRecord is the JSON form of one host's signal.
type killRecord struct {
	Host   string `json:"host"`
	ID     string `json:"id,omitempty"`
	Signal string `json:"signal"`
	At     int64  `json:"at_ns,omitempty"`   // the instant asked for, our clock
	Sent   int64  `json:"sent_ns,omitempty"` // when the daemon sent it, our clock
	Error  string `json:"error,omitempty"`
}

func cmdKill(ctx context.Context, t *cli, args []string) int {
	fs := newFlags("kill")
	sigName := fs.String("s", "TERM", "`SIGNAL` by name (TERM, SIGKILL, int) or number")
	atFlag := fs.String("at", "", "send at this instant on every host: RFC 3339 `TIME` or +DUR from now, each daemon's clock offset accounted for")
	tag := fs.String("tag", "", "signal the live process started with `TAG` on every host, instead of one ID")
	if err := t.parseFlags(fs, args); err != nil {
		return helpOrFail(t, err)
	}
	sig, err := parseSignal(*sigName)
	if err != nil {
		return t.fail(err)
	}
	if *tag == "" && *atFlag == "" {
		return t.withProcess(ctx, "kill", fs.Args(), func(p *client.Process) error {
			return p.Signal(ctx, sig, true)
		})
	}

	var id uint64
	switch {
	case *tag != "" && fs.NArg() > 0:
		return t.fail(usagef("kill: give an ID or --tag, not both"))
	case *tag == "":
		if id, err = idArg("kill", fs.Args()); err != nil {
			return t.fail(err)
		}
		if _, err := t.oneHost(); err != nil {
			return t.fail(err)
		}
	}
	at, err := parseAt(*atFlag, time.Now())
	if err != nil {
		return t.fail(err)
	}
	return t.killMany(ctx, sig, at, id, *tag)
}

// killMany signals, on every host, process id or the live process
// tagged tag, at the instant at (now when zero) by this machine's clock,
// and prints when each daemon sent it.
func (t *cli) killMany(ctx context.Context, sig syscall.Signal, at time.Time, id uint64, tag string) int {
	g := client.DialGroup(ctx, t.opts.hosts, client.GroupConfig{Fanout: t.opts.fanout,
		Timeout: t.opts.connectTimeout, Options: t.dialOptions()})
	defer g.Close()

	procs := make([]*client.Process, g.Len())
	errs := g.Each(ctx, func(ctx context.Context, i int, c *client.Client) error {
		if tag == "" {
			procs[i] = c.Process(id)
			return nil
		}
		var err error
		procs[i], err = findTagged(ctx, c, tag)
		return err
	})

	// Offsets measured last, so that they are as fresh as the instant
	// allows.
	var ests []client.ClockEstimate
	if !at.IsZero() {
		ests, _ = g.EstimateClocks(ctx, client.Burst{})
		if d := time.Until(at); d < 50*time.Millisecond {
			fmt.Fprintf(t.stderr, "tacet: --at is %v away; the signals will be late\n", d.Round(time.Millisecond))
		}
	}
	sent, serrs := g.SignalAt(ctx, procs, sig, true, at, ests)
	for i, err := range serrs {
		if errs[i] == nil {
			errs[i] = err
		}
	}
	return t.reportKill(g, procs, sig, at, sent, errs)
}

// findTagged returns the staged or running process that was started
// with tag.
func findTagged(ctx context.Context, c *client.Client, tag string) (*client.Process, error) {
	procs, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range procs {
		if p.Tag == tag && (p.State == "running" || p.State == "staged") {
			return c.Process(p.Handle), nil
		}
	}
	return nil, fmt.Errorf("no live process tagged %q", tag)
}

// reportKill prints one row per host, with when its signal was sent
// relative to at, and returns 0 when every host's signal was sent.
func (t *cli) reportKill(g *client.Group, procs []*client.Process, sig syscall.Signal,
	at time.Time, sent []time.Time, errs []error) int {
	tw := tabwriter.NewWriter(t.stdout, 2, 8, 2, ' ', 0)
	if !t.opts.json {
		fmt.Fprintln(tw, "HOST\tID\tSENT")
	}
	failed := 0
	var first, last time.Time
	for i := range g.Len() {
		host := hostName(g.Addr(i))
		r := killRecord{Host: host, Signal: signalName(uint8(sig))}
		if procs[i] != nil {
			r.ID = formatID(procs[i].Handle)
		}
		what := "sent"
		switch {
		case errs[i] != nil:
			failed++
			r.Error = shortError(errs[i], host)
			what = r.Error
		case !sent[i].IsZero():
			r.Sent = sent[i].UnixNano()
			if first.IsZero() || sent[i].Before(first) {
				first = sent[i]
			}
			if sent[i].After(last) {
				last = sent[i]
			}
			if !at.IsZero() {
				what = fmt.Sprintf("%+.1fµs", float64(sent[i].Sub(at))/1e3)
			}
		}
		if !at.IsZero() {
			r.At = at.UnixNano()
		}
		if t.opts.json {
			t.json.write(r)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", host, cmp.Or(r.ID, "-"), what)
	}
	tw.Flush()
	if !at.IsZero() && !first.IsZero() && !t.opts.json {
		fmt.Fprintf(t.stderr, "tacet: %s at %s on %d hosts: spread %.1fµs (first %+.1fµs, last %+.1fµs)\n",
			signalName(uint8(sig)), at.UTC().Format("15:04:05.000000"), g.Len()-failed,
			float64(last.Sub(first))/1e3, float64(first.Sub(at))/1e3, float64(last.Sub(at))/1e3)
	}
	if failed > 0 {
		return exitFailed
	}
	return exitOK
}
