// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// sampleBuffer is how many samples a Samples holds for a caller that
// does not read them; beyond it the oldest is dropped, as the daemon
// itself replaces a sample it could not send in time.
const sampleBuffer = 16

// SampleOnce reads the sources of a once, at the daemon, and returns
// the sample.
func (c *Client) SampleOnce(ctx context.Context, a *codec.SampleArgs) (*codec.Sample, error) {
	s := new(codec.Sample)
	if err := c.Call(ctx, codec.MethodSampleOnce, a, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Samples is a sample subscription: one sample per period on C, on the
// daemon's schedule, until Close or the end of the connection.
type Samples struct {
	c  *Client
	ch chan *codec.Sample // closed, under c.mu, by Close or the end of the connection

	// Guarded by c.mu; set by the reader when the response is read.
	sub       uint32
	period    time.Duration
	abandoned bool // SubscribeSamples returned before the response

	dropped atomic.Uint64
	once    sync.Once
}

// SubscribeSamples asks the daemon for a sample of a's sources every
// a.Period (rounded up by the daemon to a multiple of 1 ms; Period says
// what it chose). Close it when done: the daemon's timer goes away with
// its last subscription.
func (c *Client) SubscribeSamples(ctx context.Context, a *codec.SampleArgs) (*Samples, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &Samples{c: c, ch: make(chan *codec.Sample, sampleBuffer)}
	r := new(codec.SampleSubResult)

	// Registered by the reader as the response is read, before any
	// sample event behind it.
	cl, err := c.begin(codec.MethodSampleSub, a, r, func(err error) {
		if err != nil {
			return
		}
		c.mu.Lock()
		s.sub, s.period = r.Sub, time.Duration(r.Period)
		abandoned := s.abandoned || c.err != nil
		if abandoned {
			s.closeLocked()
		} else {
			c.samples[r.Sub] = s
		}
		c.mu.Unlock()
		if abandoned {
			c.begin(codec.MethodSampleUnsub, &codec.UnsubscribeArgs{Sub: r.Sub}, nil, nil)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := c.await(ctx, cl); err != nil {
		c.mu.Lock()
		s.abandoned = true
		c.mu.Unlock()
		s.Close()
		return nil, err
	}
	return s, nil
}

// C returns the channel of samples, closed after Close or when the
// connection ends.
func (s *Samples) C() <-chan *codec.Sample { return s.ch }

// Period returns the period the daemon chose.
func (s *Samples) Period() time.Duration {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.period
}

// Dropped returns how many samples were dropped because C was full.
func (s *Samples) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes C. It may be called more than
// once.
func (s *Samples) Close() error {
	c := s.c
	c.mu.Lock()
	registered := s.sub != 0 && c.samples[s.sub] == s
	if registered {
		delete(c.samples, s.sub)
	}
	s.closeLocked()
	sub := s.sub
	c.mu.Unlock()
	if registered {
		// Not waited for, as for output: the daemon drops the
		// subscription whether or not we hear its answer.
		c.begin(codec.MethodSampleUnsub, &codec.UnsubscribeArgs{Sub: sub}, nil, nil)
	}
	return nil
}

// closeLocked closes C once; c.mu is held, so the reader is not sending.
func (s *Samples) closeLocked() { s.once.Do(func() { close(s.ch) }) }

// onSampleEvent hands a sample event to its subscription, dropping the
// oldest sample waiting when the caller does not keep up. An event of a
// subscription this Client does not know, such as one just closed, is
// dropped.
func (c *Client) onSampleEvent(sub uint32, body []byte) {
	smp := new(codec.Sample)
	if codec.Unmarshal(body, smp, "sample event") != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.samples[sub]
	if s == nil {
		return
	}
	for {
		select {
		case s.ch <- smp:
			return
		default:
		}
		select {
		case <-s.ch:
			s.dropped.Add(1)
		default:
		}
	}
}

// endSamplesLocked closes every subscription's channel when the
// connection ends.
func (c *Client) endSamplesLocked() {
	for id, s := range c.samples {
		s.closeLocked()
		delete(c.samples, id)
	}
}
