// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// GapWriter is implemented by a writer given to Follow that wants to hear
// of lost bytes; Follow otherwise skips them silently.
type GapWriter interface {
	WriteGap(g *GapError) error
}

// Follow copies stream of process handle to w from offset from until the
// end of the stream. When the connection drops it calls dial for a
// client, subscribes again from the first byte not yet written and goes
// on, so that w gets every byte once and in order. It returns nil at the
// end of the stream, the error of w, the error of dial, or an error from
// the daemon such as ErrNotFound.
//
// Follow does not close the clients dial returns, so dial may hand out
// one shared by other work: a Redialer's Client method is made for it.
func Follow(ctx context.Context, dial func() (*Client, error), handle uint64, stream uint8, from uint64, w io.Writer) error {
	off := from
	var prev *Client
	for {
		c, err := dial()
		if err != nil {
			return err
		}
		if c == prev {
			return c.Err() // dial could not replace a lost connection
		}
		prev = c

		err = follow(ctx, c, handle, stream, &off, w)
		if err == nil || ctx.Err() != nil || !errors.Is(err, ErrConnLost) {
			return err
		}
	}
}

// follow copies the stream from *off over one connection, advancing *off
// past every byte written and every gap.
func follow(ctx context.Context, c *Client, handle uint64, stream uint8, off *uint64, w io.Writer) error {
	s, err := c.Process(handle).Output(ctx, stream, *off)
	if err != nil {
		return err
	}
	defer s.Close()

	buf := make([]byte, 64<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return &writeError{werr}
			}
			*off += uint64(n)
		}
		var g *GapError
		switch {
		case err == io.EOF:
			return nil
		case errors.As(err, &g):
			*off = g.To
			if gw, ok := w.(GapWriter); ok {
				if werr := gw.WriteGap(g); werr != nil {
					return &writeError{werr}
				}
			}
		case err != nil:
			return err
		}
	}
}

// writeError keeps an error of the writer apart from the stream's, so
// that a writer that happens to return ErrConnLost does not cause a
// redial.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// Redialer hands out one Client shared by its callers and, when that
// connection is lost, dials a new one, retrying a bounded number of times
// within a bounded time. It is what Follow needs to outlive a daemon's
// network hiccup; a daemon that restarted has forgotten its processes, so
// Follow then ends with ErrNotFound.
type Redialer struct {
	// Dial makes a new connection, such as a call to client.Dial.
	Dial func(ctx context.Context) (*Client, error)

	// Attempts bounds the dials made to replace one lost connection;
	// 0 means 8. The first connection is dialled once.
	Attempts int

	// Within bounds the time spent replacing one lost connection;
	// 0 means 30 s.
	Within time.Duration

	mu  sync.Mutex // guards the fields below; held while dialling
	cur *Client
	all []*Client
}

// Client returns the current Client, dialling a new one first if there
// is none or its connection was lost.
func (r *Redialer) Client(ctx context.Context) (*Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil && r.cur.Err() == nil {
		return r.cur, nil
	}
	if r.cur == nil {
		return r.dialLocked(ctx)
	}
	return r.redialLocked(ctx)
}

func (r *Redialer) dialLocked(ctx context.Context) (*Client, error) {
	c, err := r.Dial(ctx)
	if err != nil {
		return nil, err
	}
	r.cur = c
	r.all = append(r.all, c)
	return c, nil
}

// redialLocked retries with a delay that doubles from 100 ms to 2 s.
func (r *Redialer) redialLocked(ctx context.Context) (*Client, error) {
	attempts, within := r.Attempts, r.Within
	if attempts <= 0 {
		attempts = 8
	}
	if within <= 0 {
		within = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()

	delay := 100 * time.Millisecond
	var err error
	for i := 0; i < attempts; i++ {
		var c *Client
		if c, err = r.dialLocked(ctx); err == nil {
			return c, nil
		}
		if errors.Is(err, ErrUnauthenticated) || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		delay = min(2*delay, 2*time.Second)
	}
	return nil, fmt.Errorf("%w; reconnecting failed: %v", r.cur.Err(), err)
}

// Close closes every Client the Redialer made.
func (r *Redialer) Close() error {
	r.mu.Lock()
	all := r.all
	r.all, r.cur = nil, nil
	r.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
	return nil
}
