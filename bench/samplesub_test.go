// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinylib/msgp/msgp"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/netstack"
)

// sampleConn is a controller that subscribes to samples and counts the
// sample events it reads, without decoding them. It speaks the protocol
// through netstack directly rather than through client.SubscribeSamples,
// which decodes every sample: the controller shares the machine with the
// daemon it measures, and the less it does the less it disturbs it.
type sampleConn struct {
	conn    *netstack.Conn
	samples atomic.Uint64
	wmu     sync.Mutex
	nextID  uint32
	mu      sync.Mutex
	waiting map[uint32]chan []byte // request id → its response body
	done    chan struct{}
	err     error // why the reader ended, once done is closed
}

// dialSamples connects a sampleConn to d at addr; the benchmark's
// cleanup closes it.
func dialSamples(d *daemon, addr string) *sampleConn {
	d.b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	conn, err := netstack.Dial(ctx, addr, &netstack.ClientConfig{Key: d.key, Who: "bench sampler"})
	if err != nil {
		d.b.Fatalf("dial %s: %v", addr, err)
	}
	sc := &sampleConn{conn: conn, waiting: map[uint32]chan []byte{}, done: make(chan struct{})}
	go sc.readLoop()
	d.b.Cleanup(func() { conn.Close(); <-sc.done })
	return sc
}

func (sc *sampleConn) readLoop() {
	defer close(sc.done)
	for {
		p, err := sc.conn.ReadFrame()
		if err != nil {
			sc.err = err
			return
		}
		kind, id, body, err := codec.ParseEnvelope(p)
		if err != nil {
			continue
		}
		switch kind {
		case codec.KindEvent:
			if name, err := codec.EventName(body); err == nil && string(name) == codec.EventSample {
				sc.samples.Add(1)
			}
		case codec.KindResponse:
			sc.mu.Lock()
			ch := sc.waiting[id]
			delete(sc.waiting, id)
			sc.mu.Unlock()
			if ch != nil {
				ch <- append([]byte(nil), body...)
			}
		}
	}
}

// call sends a request and decodes its result into result (nil: ignore).
func (sc *sampleConn) call(method string, args msgp.Marshaler, result msgp.Unmarshaler) error {
	ch := make(chan []byte, 1)
	sc.wmu.Lock()
	sc.nextID++
	id := sc.nextID
	sc.mu.Lock()
	sc.waiting[id] = ch
	sc.mu.Unlock()
	b, err := codec.AppendRequest(sc.conn.Begin(), id, method, args)
	if err == nil {
		err = sc.conn.End(b)
	}
	sc.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}

	var body []byte
	select {
	case body = <-ch:
	case <-sc.done:
		return fmt.Errorf("%s: connection ended: %v", method, sc.err)
	case <-time.After(readyTimeout):
		return fmt.Errorf("%s: no response within %v", method, readyTimeout)
	}
	res, rerr, err := codec.ParseResponse(body)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", method, err)
	case rerr != nil:
		return fmt.Errorf("%s: %w", method, rerr)
	case result != nil:
		return codec.Unmarshal(res, result, method+" result")
	}
	return nil
}

// subscribe subscribes to every source and every started process at hz,
// and waits for the first sample, so that what the subscription itself
// cost is over before the caller measures.
func (sc *sampleConn) subscribe(hz int) (uint32, error) {
	var r codec.SampleSubResult
	if err := sc.call(codec.MethodSampleSub, &codec.SampleArgs{Period: uint64(time.Second) / uint64(hz)}, &r); err != nil {
		return 0, err
	}
	if want := uint64(time.Second) / uint64(hz); r.Period != want {
		return r.Sub, fmt.Errorf("sample.subscribe at %d Hz: the daemon gave a period of %v", hz, time.Duration(r.Period))
	}
	n, wait := sc.samples.Load(), readyTimeout+time.Duration(r.Period)
	for deadline := time.Now().Add(wait); sc.samples.Load() == n; {
		if time.Now().After(deadline) {
			return r.Sub, errors.New("sample.subscribe: no sample within " + wait.String())
		}
		time.Sleep(time.Millisecond)
	}
	return r.Sub, nil
}

func (sc *sampleConn) unsubscribe(sub uint32) error {
	return sc.call(codec.MethodSampleUnsub, &codec.UnsubscribeArgs{Sub: sub}, nil)
}
