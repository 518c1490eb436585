// SPDX-License-Identifier: Apache-2.0

package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sync"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// ErrEnded is the cause of a NotReadyError when the process ended, or
// closed the output being watched, before it was ready.
var ErrEnded = errors.New("the process ended before it was ready")

// NotReadyError is returned by WaitOutput and WaitPort when the process
// did not become ready: Err is ErrEnded, or the context's error when the
// wait timed out or was cancelled.
type NotReadyError struct {
	Addr   string
	Handle uint64
	What   string // what was awaited, e.g. `a line matching "ready"`
	Last   string // the last thing seen instead, e.g. "ECONNREFUSED"; "" if none
	Err    error
}

func (e *NotReadyError) Error() string {
	s := fmt.Sprintf("%s: process %x not ready: waiting for %s: %v", e.Addr, e.Handle, e.What, e.Err)
	if e.Last != "" {
		s += " (last: " + e.Last + ")"
	}
	return s
}

func (e *NotReadyError) Unwrap() error { return e.Err }

// maxReadyLine bounds the line WaitOutput holds: a longer one is matched
// on its first 64 KiB.
const maxReadyLine = 64 << 10

// WaitOutput waits until a line of the process's output matches re and
// returns that line, without its newline. It reads streams (default
// stdout and stderr) from their start, so a line written before the call
// counts; a last line without a newline is matched too, as it grows.
// ctx bounds the wait: give it a deadline.
func (p *Process) WaitOutput(ctx context.Context, re *regexp.Regexp, streams ...uint8) ([]byte, error) {
	if len(streams) == 0 {
		streams = []uint8{codec.Stdout, codec.Stderr}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var mu sync.Mutex // guards match and ended
	var match []byte
	ended := 0
	var wg sync.WaitGroup
	for _, s := range streams {
		st, err := p.Output(ctx, s, 0)
		if err != nil {
			return nil, p.notReady(re, nil, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer st.Close()
			line, err := matchLine(st, re)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case line != nil && match == nil:
				match = line
				cancel()
			case errors.Is(err, io.EOF):
				ended++
			}
		}()
	}
	wg.Wait()

	switch {
	case match != nil:
		return match, nil
	case ended == len(streams):
		return nil, p.notReady(re, nil, ErrEnded)
	}
	return nil, p.notReady(re, nil, context.Cause(ctx))
}

func (p *Process) notReady(re *regexp.Regexp, last *codec.ProbeResult, err error) *NotReadyError {
	e := &NotReadyError{Addr: p.c.addr, Handle: p.Handle, Err: err}
	if re != nil {
		e.What = fmt.Sprintf("a line of output matching %q", re.String())
	}
	if last != nil {
		e.Last = last.Sys
		if e.Last == "" {
			e.Last = last.Why
		}
	}
	return e
}

// matchLine reads r until a line matches re, and returns it; else nil
// and the error that ended the reading. Lost bytes (a gap) end the line
// they cut.
func matchLine(r io.Reader, re *regexp.Regexp) ([]byte, error) {
	buf := make([]byte, 32<<10)
	var line []byte
	for {
		n, err := r.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				line = appendBounded(line, data)
				break
			}
			line = appendBounded(line, data[:i])
			if m := matches(re, line); m != nil {
				return m, nil
			}
			line, data = line[:0], data[i+1:]
		}
		if m := matches(re, line); m != nil {
			return m, nil
		}
		var gap *GapError
		switch {
		case errors.As(err, &gap):
			line = line[:0]
		case err != nil:
			return nil, err
		}
	}
}

func appendBounded(line, data []byte) []byte {
	return append(line, data[:min(len(data), maxReadyLine-len(line))]...)
}

// matches returns a copy of line without a final CR if re matches it.
func matches(re *regexp.Regexp, line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 || !re.Match(line) {
		return nil
	}
	return bytes.Clone(line)
}

// Probe asks the daemon to open a TCP connection to host:port from its
// own host, and close it at once (net.probe); host "" is localhost.
// A refused or timed-out connect is a result with OK false, not an
// error. timeout bounds the attempt at the daemon, at most 10 s; 0 is 1 s.
func (c *Client) Probe(ctx context.Context, host string, port uint16, timeout time.Duration) (*codec.ProbeResult, error) {
	r := new(codec.ProbeResult)
	a := codec.ProbeArgs{Port: port, Host: host, Timeout: uint64(max(timeout, 0))}
	if err := c.Call(ctx, codec.MethodProbe, &a, r); err != nil {
		return nil, err
	}
	return r, nil
}

// probeEvery is how often WaitPort asks again after a refusal.
const probeEvery = 50 * time.Millisecond

// WaitPort waits until port accepts TCP connections on the process's
// host, as the daemon there sees it (Probe to localhost), and fails
// early when the process ends first, if this connection hears of its
// end. ctx bounds the wait: give it a deadline.
func (p *Process) WaitPort(ctx context.Context, port uint16) error {
	what := fmt.Sprintf("port %d to accept connections", port)
	var last *codec.ProbeResult
	for {
		r, err := p.c.Probe(ctx, "", port, time.Second)
		switch {
		case err != nil && ctx.Err() != nil:
			e := p.notReady(nil, last, context.Cause(ctx))
			e.What = what
			return e
		case err != nil:
			return err
		case r.OK:
			return nil
		}
		last = r

		select {
		case <-p.ended:
			e := p.notReady(nil, last, ErrEnded)
			e.What = what
			return e
		case <-ctx.Done():
			e := p.notReady(nil, last, context.Cause(ctx))
			e.What = what
			return e
		case <-time.After(probeEvery):
		}
	}
}
