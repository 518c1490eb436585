// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"slices"
	"time"
)

// Burst says how EstimateClock samples a daemon's clock: Count pings,
// Spacing apart. The zero value means 16 pings 2 ms apart.
type Burst struct {
	Count   int           // 0: 16; at most 256
	Spacing time.Duration // 0: 2 ms
}

// maxBurst bounds a Burst, so that a mistaken count cannot keep a
// controller pinging for minutes.
const maxBurst = 256

// ClockEstimate is what a burst of pings says about a daemon's clock.
type ClockEstimate struct {
	// Best is the sample of least delay: the one whose two legs had the
	// least room to differ, and so the best offset.
	Best Sample

	MinRTT    time.Duration // least Delay of the burst, Best's
	MedianRTT time.Duration
	Samples   int // pings answered
}

// Offset is the daemon's CLOCK_REALTIME minus ours.
func (e ClockEstimate) Offset() time.Duration { return e.Best.Offset }

// ErrorBound is the most the true offset can differ from Offset if the
// clocks did not drift during the burst: half the best round trip.
func (e ClockEstimate) ErrorBound() time.Duration { return e.Best.Delay / 2 }

// ToDaemon converts an instant of this machine's clock to the daemon's.
func (e ClockEstimate) ToDaemon(t time.Time) time.Time { return t.Add(e.Best.Offset) }

// FromDaemon converts an instant of the daemon's clock to ours.
func (e ClockEstimate) FromDaemon(t time.Time) time.Time { return t.Add(-e.Best.Offset) }

// EstimateClock pings the daemon as b says and keeps the sample of least
// delay. It fails only when no ping was answered.
func (c *Client) EstimateClock(ctx context.Context, b Burst) (ClockEstimate, error) {
	n, gap := b.Count, b.Spacing
	if n <= 0 {
		n = 16
	}
	n = min(n, maxBurst)
	if gap <= 0 {
		gap = 2 * time.Millisecond
	}

	var est ClockEstimate
	rtts := make([]time.Duration, 0, n)
	var err error
	for i := range n {
		if i > 0 {
			select {
			case <-time.After(gap):
			case <-ctx.Done():
				err = context.Cause(ctx)
			}
		}
		if err != nil {
			break
		}
		var s Sample
		if s, err = c.Ping(ctx); err != nil {
			break
		}
		if len(rtts) == 0 || s.Delay < est.Best.Delay {
			est.Best = s
		}
		rtts = append(rtts, s.Delay)
	}
	if len(rtts) == 0 {
		return est, err
	}
	slices.Sort(rtts)
	est.MinRTT, est.MedianRTT, est.Samples = rtts[0], rtts[len(rtts)/2], len(rtts)
	return est, nil
}
