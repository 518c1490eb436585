// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// HostInfo asks the daemon about its machine: kernel, CPUs, memory,
// containment, clock state and the methods it serves.
func (c *Client) HostInfo(ctx context.Context) (*codec.HostInfo, error) {
	h := new(codec.HostInfo)
	if err := c.Call(ctx, codec.MethodHostInfo, nil, h); err != nil {
		return nil, err
	}
	return h, nil
}

// Sample is one exchange of clocks with the daemon, as in NTP. T1 and T4
// are this machine's CLOCK_REALTIME when the ping was sent and the pong
// read; T2 and T3 the daemon's when it read the ping and wrote the pong.
// All are ns since the Unix epoch.
type Sample struct {
	T1, T2, T3, T4 int64
	M2, M3         uint64 // the daemon's CLOCK_MONOTONIC at T2 and T3

	// Offset is the daemon's clock minus ours, ((T2-T1)+(T3-T4))/2,
	// exact when the two directions take equal time; the error is at
	// most Delay/2.
	Offset time.Duration

	// Delay is the round trip less the daemon's own time,
	// (T4-T1)-(T3-T2).
	Delay time.Duration
}

// pong is a Pong with the instant it was read.
type pong struct {
	codec.Pong
	at time.Time
}

// Ping exchanges clocks with the daemon once. For a good offset take
// several samples and keep the one of least Delay.
func (c *Client) Ping(ctx context.Context) (Sample, error) {
	ch := make(chan pong, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return Sample{}, c.err
	}
	id := c.newIDLocked(func(id uint32) bool { return c.pings[id] != nil })
	c.pings[id] = ch
	c.mu.Unlock()

	sent := time.Now()
	ping := codec.Ping{T1: uint64(sent.UnixNano())}
	err := c.send(func(b []byte) ([]byte, error) {
		return ping.MarshalMsg(codec.AppendEnvelope(b, codec.KindPing, id))
	})
	if err != nil {
		c.forgetPing(id)
		return Sample{}, err
	}

	select {
	case p, ok := <-ch:
		if !ok {
			return Sample{}, c.Err()
		}
		return newSample(sent, p), nil
	case <-ctx.Done():
		c.forgetPing(id)
		return Sample{}, context.Cause(ctx)
	}
}

func (c *Client) forgetPing(id uint32) {
	c.mu.Lock()
	delete(c.pings, id)
	c.mu.Unlock()
}

// newSample computes offset and delay. T4 is T1 plus the time elapsed on
// the monotonic clock, so that a step of the wall clock during the
// exchange does not show up as delay.
func newSample(sent time.Time, p pong) Sample {
	s := Sample{T1: sent.UnixNano(), T2: int64(p.T2), T3: int64(p.T3), M2: p.M2, M3: p.M3}
	s.T4 = s.T1 + int64(p.at.Sub(sent))
	s.Offset = time.Duration(((s.T2 - s.T1) + (s.T3 - s.T4)) / 2)
	s.Delay = time.Duration((s.T4 - s.T1) - (s.T3 - s.T2))
	return s
}
