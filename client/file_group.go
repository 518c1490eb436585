// SPDX-License-Identifier: Apache-2.0

package client

import "context"

// Put copies local, a file or a tree, to remote(i) on every connected
// host i (most callers return the same path for every host),
// all hosts at once, at most Fanout of them. The files are hashed once
// for all hosts. Progress callbacks get the host's index in
// Progress.Host, and may be called from several goroutines at once.
//
// Each host is sent the bytes by this controller: a broadcast costs the
// controller's uplink once per host.
func (g *Group) Put(ctx context.Context, local string, remote func(i int) string, opts ...FileOption) ([]TransferResult, []error) {
	res := make([]TransferResult, len(g.addrs))
	plan, err := planPut(local)
	if err != nil {
		errs := make([]error, len(g.addrs))
		for i := range errs {
			errs[i] = err
		}
		return res, errs
	}
	errs := g.Each(ctx, func(ctx context.Context, i int, c *Client) error {
		var err error
		res[i], err = c.putPlan(ctx, plan, remote(i), append(opts[:len(opts):len(opts)], withHost(i)))
		return err
	})
	return res, errs
}

// Get copies remote, a file or a tree, from every connected host into
// the directory dir(i) of host i, all hosts at once, at most Fanout of
// them.
func (g *Group) Get(ctx context.Context, remote string, dir func(i int) string, opts ...FileOption) ([]TransferResult, []error) {
	res := make([]TransferResult, len(g.addrs))
	errs := g.Each(ctx, func(ctx context.Context, i int, c *Client) error {
		var err error
		res[i], err = c.Get(ctx, remote, dir(i), append(opts[:len(opts):len(opts)], withHost(i))...)
		return err
	})
	return res, errs
}
