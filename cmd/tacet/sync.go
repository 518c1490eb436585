// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"time"

	"gitlab.com/tacet/tacet/client"
)

// syncLead is how far ahead of now a --sync start is when --at is not
// given: time to send every trigger before the instant comes.
const syncLead = 500 * time.Millisecond

// parseAt reads --at: an RFC 3339 instant, "+DUR" from now, or "" for
// none.
func parseAt(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "":
		return time.Time{}, nil
	case strings.HasPrefix(s, "+"):
		d, err := time.ParseDuration(s[1:])
		if err != nil || d < 0 {
			return time.Time{}, usagef(fmt.Sprintf("--at %q: want +DURATION such as +2s", s))
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, usagef(fmt.Sprintf("--at %q: want an RFC 3339 time such as 2026-01-02T15:04:05.5Z, or +DURATION", s))
	}
	return t, nil
}

// runSync stages the process on every host, measures each daemon's
// clock just before, and releases all at the one instant at (now plus
// syncLead when zero), converted to each daemon's clock.
func (r *fanRun) runSync(ctx context.Context, at time.Time) {
	staged := make([]*client.Process, len(r.plan.hosts))
	r.g.Each(ctx, func(ctx context.Context, i int, c *client.Client) error {
		p, err := c.Start(ctx, r.plan.args[i])
		if err != nil {
			r.failed(i, err)
			return nil
		}
		staged[i] = p
		r.started(i, p)
		return nil
	})
	for i := range r.plan.hosts {
		if r.g.Client(i) == nil {
			r.failed(i, r.g.Err(i))
		}
	}

	// Offsets measured after staging, so that they are as fresh as the
	// trigger allows.
	r.ests, _ = r.g.EstimateClocks(ctx, client.Burst{})
	if at.IsZero() {
		at = time.Now().Add(syncLead)
	} else if d := time.Until(at); d < 50*time.Millisecond {
		fmt.Fprintf(r.t.stderr, "tacet: --at is %v away; the starts will be late\n", d.Round(time.Millisecond))
	}
	r.syncAt = at

	r.parallel(func(i int) {
		p := staged[i]
		if p == nil {
			return
		}
		c := r.g.Client(i)
		if err := c.Trigger(ctx, r.ests[i].ToDaemon(at), p.Handle); err != nil {
			// A staged process signalled never runs its program.
			p.Signal(context.WithoutCancel(ctx), syscall.SIGKILL, true)
			r.failed(i, err)
			return
		}
		r.host(ctx, i, p)
		if ex := r.results[i].exit; ex != nil && ex.Times.ExecReal != 0 {
			r.results[i].exec = r.ests[i].FromDaemon(time.Unix(0, int64(ex.Times.ExecReal)))
		}
	})
}

// startText is the START column of --sync: when host's program began,
// from the common instant, and the error bound of its clock offset.
func (r *fanRun) startText(res *hostResult) string {
	if res.exec.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%+.1fµs", float64(res.exec.Sub(r.syncAt))/1e3)
}

// reportSpread prints how far apart the synchronized starts were.
func (r *fanRun) reportSpread() {
	var first, last time.Time
	n := 0
	var bound time.Duration
	for i := range r.results {
		e := r.results[i].exec
		if e.IsZero() {
			continue
		}
		if n == 0 || e.Before(first) {
			first = e
		}
		if n == 0 || e.After(last) {
			last = e
		}
		bound = max(bound, r.ests[i].ErrorBound())
		n++
	}
	if n == 0 {
		return
	}
	fmt.Fprintf(r.t.stderr, "tacet: synchronized start at %s on %d hosts: spread %.1fµs "+
		"(first %+.1fµs, last %+.1fµs; clock offsets known to ±%.1fµs)\n",
		r.syncAt.UTC().Format("15:04:05.000000"), n, float64(last.Sub(first))/1e3,
		float64(first.Sub(r.syncAt))/1e3, float64(last.Sub(r.syncAt))/1e3, float64(bound)/1e3)
}
