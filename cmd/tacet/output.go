// SPDX-License-Identifier: Apache-2.0

package main

import (
	"io"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// outputWriter takes the output of one stream and hears of its gaps.
type outputWriter interface {
	io.Writer
	client.GapWriter
}

// outWriter returns where the output of stream s of process h goes: to
// w byte for byte, or as JSON records on stdout with --json.
func (t *cli) outWriter(addr string, h uint64, s uint8, w io.Writer) outputWriter {
	if t.opts.json {
		return &jsonOut{t: t, host: hostName(addr), id: formatID(h), stream: streamName(s)}
	}
	return &rawOut{t: t, w: w, addr: addr, stream: streamName(s)}
}

// streamWriter is where run copies stream s: stdout and a terminal's
// stream to stdout, stderr to stderr.
func (t *cli) streamWriter(s uint8) io.Writer {
	if s == codec.Stdout || s == codec.PTY {
		return t.stdout
	}
	return t.stderr
}

// rawOut writes output unchanged and reports lost bytes on stderr.
type rawOut struct {
	t      *cli
	w      io.Writer
	addr   string
	stream string
}

func (o *rawOut) Write(p []byte) (int, error) { return o.w.Write(p) }

func (o *rawOut) WriteGap(g *client.GapError) error {
	o.t.warnf(o.addr, "%s: bytes %d to %d lost (%s)", o.stream, g.From, g.To, g.Why)
	return nil
}

// jsonOut writes each chunk of output as a record with its offset.
type jsonOut struct {
	t      *cli
	host   string
	id     string
	stream string
	off    uint64
}

type outRecord struct {
	Host   string `json:"host"`
	Event  string `json:"event"` // "out" or "gap"
	ID     string `json:"id"`
	Stream string `json:"stream"`
	Offset uint64 `json:"offset"`
	Data   []byte `json:"data,omitempty"` // base64, since output need not be UTF-8
	To     uint64 `json:"to,omitempty"`
	Why    string `json:"why,omitempty"`
}

func (o *jsonOut) Write(p []byte) (int, error) {
	r := outRecord{Host: o.host, Event: "out", ID: o.id, Stream: o.stream, Offset: o.off, Data: p}
	if err := o.t.json.write(r); err != nil {
		return 0, err
	}
	o.off += uint64(len(p))
	return len(p), nil
}

func (o *jsonOut) WriteGap(g *client.GapError) error {
	o.off = g.To
	return o.t.json.write(outRecord{Host: o.host, Event: "gap", ID: o.id, Stream: o.stream,
		Offset: g.From, To: g.To, Why: g.Why})
}
