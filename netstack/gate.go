// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"sync"
	"time"
)

// DefaultGateMax is the number of unauthenticated connections a daemon
// holds at once.
const DefaultGateMax = 16

// Gate caps the connections whose handshake is in progress, so that
// silent or slow peers cannot hold an unbounded number of sockets and
// goroutines for the length of the handshake deadline. The zero value
// admits DefaultGateMax; Max must not change once the Gate is in use.
type Gate struct {
	Max int

	mu sync.Mutex
	n  int // handshakes in progress; guarded by mu
}

// Acquire reports whether one more handshake may start; if so, the
// caller must call Release when it ends, whatever its outcome.
func (g *Gate) Acquire() bool {
	limit := g.Max
	if limit <= 0 {
		limit = DefaultGateMax
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n >= limit {
		return false
	}
	g.n++
	return true
}

// Release ends a handshake admitted by Acquire.
func (g *Gate) Release() {
	g.mu.Lock()
	if g.n > 0 {
		g.n--
	}
	g.mu.Unlock()
}

// FailureLog folds repeated failures, such as handshakes of a scanner,
// into at most one report per reason every 10 s. It starts no timer:
// each call looks at the clock, and failures suppressed since the last
// report are counted in the next one for that reason, which comes only
// when that reason happens again. It is safe for concurrent use.
type FailureLog struct {
	log func(msg string, n int)
	now func() time.Time // time.Now; replaced in tests

	mu      sync.Mutex
	reasons map[string]*failureCount // guarded by mu
}

type failureCount struct {
	last time.Time // when the reason was last reported
	n    int       // failures since then, not yet reported
}

const (
	failureEvery      = 10 * time.Second
	failureMaxReasons = 64 // reasons beyond these share one entry
)

// NewFailureLog returns a FailureLog that calls log with the message of
// the failure that triggers a report and the number of failures the
// report stands for, that one included.
func NewFailureLog(log func(msg string, n int)) *FailureLog {
	return &FailureLog{log: log, now: time.Now, reasons: make(map[string]*failureCount)}
}

// Report records one failure. A *HandshakeError is grouped by its code;
// any other error by "other".
func (f *FailureLog) Report(err error) {
	if err == nil {
		return
	}
	reason := "other"
	if he, ok := err.(*HandshakeError); ok {
		reason = he.codeKey()
	}
	f.ReportReason(reason, err.Error())
}

// ReportReason records one failure of reason, described by msg.
func (f *FailureLog) ReportReason(reason, msg string) {
	now := f.now()
	f.mu.Lock()
	fc := f.reasons[reason]
	if fc == nil {
		if len(f.reasons) >= failureMaxReasons {
			reason = "other"
		}
		if fc = f.reasons[reason]; fc == nil {
			fc = &failureCount{}
			f.reasons[reason] = fc
		}
	}
	fc.n++
	n := 0
	if fc.last.IsZero() || now.Sub(fc.last) >= failureEvery {
		n, fc.n, fc.last = fc.n, 0, now
	}
	f.mu.Unlock()

	if n > 0 {
		f.log(msg, n)
	}
}
