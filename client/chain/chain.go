// SPDX-License-Identifier: Apache-2.0

// Package chain puts one file to many daemons while the controller sends
// its bytes once, so that a broadcast is not held to the controller's
// uplink divided by the number of hosts (spec/PROTOCOL.md 11.18).
//
// Daemons never dial each other. Instead the controller starts a relay
// on the first host: the daemon's own binary, run with the single
// argument Arg as an ordinary process through proc.start. The relay
// reads a header and then the file's bytes on its standard input. It
// writes the bytes to its own daemon with file.put, so that the checksum,
// the part file and its rename, the mode and the time all apply as in
// any put, and at the same time forwards them to a relay it starts on
// the next host in the same way. The chain is a pipeline: every hop
// receives the bytes once and sends them once.
//
// The header carries the keys of the hops after the relay's own, so
// that it can dial them. It travels on the relay's standard input, never
// on its command line or in its environment, where other users of the
// machine could read it.
//
// Each relay reports, on its standard output, one line for its own host
// and then the lines of the relay after it; the controller reads the
// first relay's output once it has exited.
//
// A chain is as fast as its slowest hop, and a hop that fails in the
// middle stops the bytes for every hop after it; a hop that cannot be
// dialled or started at all is reported and skipped.
package chain

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/netstack"
)

// Arg is the argument with which the daemon's binary runs Run.
const Arg = "__tacet_relay"

// Limits of what a relay accepts and keeps.
const (
	maxHeader = 1 << 20 // bytes of the header line
	maxReport = 1 << 20 // bytes of a relay's report
	lease     = 30 * time.Second
	copyBuf   = 256 << 10
)

// Hop is one daemon of a chain, the key to dial it with, and the
// absolute path the file goes to there (most callers give every hop the
// same path).
type Hop struct {
	Addr string
	Key  *netstack.Key
	Path string
}

// Result is what became of the file on one hop.
type Result struct {
	Addr string
	Err  error // nil: the daemon verified the file and renamed it into place
}

// header is the first line of a relay's standard input, as JSON.
type header struct {
	Size  int64    `json:"size"`
	SHA   []byte   `json:"sha"`
	Mode  uint32   `json:"mode"`
	Mtime int64    `json:"mtime"`
	Sync  bool     `json:"sync,omitempty"`
	MAC   bool     `json:"mac,omitempty"` // ask every daemon for frame.mac
	Hops  []hopKey `json:"hops"`          // the relay's own host first
}

type hopKey struct {
	Addr string `json:"addr"`
	Key  string `json:"key"`  // as in a key file
	Path []byte `json:"path"` // where the file goes on this hop
}

// report is one line of a relay's standard output, as JSON.
type report struct {
	Addr string `json:"addr"`
	Err  string `json:"err,omitempty"`
}

// dialer dials one hop; the controller's passes its own options.
type dialer func(ctx context.Context, h hopKey, mac bool) (*client.Client, error)

func relayDial(ctx context.Context, h hopKey, mac bool) (*client.Client, error) {
	if strings.HasPrefix(h.Addr, "tls://") {
		// TODO: a relay has no CA or pin to check a tls:// daemon with;
		// the header would have to carry the controller's TLS settings.
		return nil, fmt.Errorf("%s: a relay cannot dial tls:// daemons", h.Addr)
	}
	k, err := netstack.ParseKey([]byte(h.Key))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", h.Addr, err)
	}
	return client.Dial(ctx, h.Addr, client.WithKey(k), client.WithWho("tacet relay"),
		client.WithTimeout(10*time.Second), client.WithFrameMAC(mac))
}

// forward starts a relay on hops[0] and streams the header, with hops as
// its hops, and then src to it. It returns the reports of hops, in
// order, and reports whether the relay started: before that, nothing
// was read from src and the caller may try the next hop.
func forward(ctx context.Context, dial dialer, h header, hops []hopKey, src io.Reader) ([]report, bool, error) {
	c, err := dial(ctx, hops[0], h.MAC)
	if err != nil {
		return nil, false, err
	}
	defer c.Close()
	hi, err := c.HostInfo(ctx)
	if err != nil {
		return nil, false, err
	}
	if len(hi.Exe) == 0 {
		return nil, false, fmt.Errorf("%s does not report its binary, to run as a relay", hops[0].Addr)
	}
	p, err := c.Start(ctx, &codec.StartArgs{Argv: [][]byte{hi.Exe, []byte(Arg)},
		Env: codec.EnvSpec{Mode: "clear"}, Cwd: []byte("/"), Stdin: codec.StdinSpec{Mode: "pipe"},
		Lease: uint64(lease)})
	if err != nil {
		return nil, false, fmt.Errorf("start a relay on %s: %w", hops[0].Addr, err)
	}
	defer p.Release(context.WithoutCancel(ctx))

	h.Hops = hops
	line, err := json.Marshal(&h)
	if err != nil {
		return nil, true, err
	}
	w := p.StdinWriter(ctx)
	_, err = w.Write(append(line, '\n'))
	if err == nil {
		_, err = io.CopyBuffer(w, src, make([]byte, copyBuf))
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// The relay may have died, and says why on stderr.
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, werr := collectReports(wctx, p, hops); werr != nil {
			err = fmt.Errorf("%w (%v)", err, werr)
		}
		return nil, true, fmt.Errorf("send to the relay on %s: %w", hops[0].Addr, err)
	}
	reps, err := collectReports(ctx, p, hops)
	return reps, true, err
}

// collectReports waits for a relay to exit and reads its report.
func collectReports(ctx context.Context, p *client.Process, hops []hopKey) ([]report, error) {
	ex, err := p.Wait(ctx)
	if err != nil {
		return nil, err
	}
	out, err := readAll(ctx, p, codec.Stdout)
	if err != nil {
		return nil, err
	}
	if ex.Code != 0 || ex.Signal != 0 {
		msg, _ := readAll(ctx, p, codec.Stderr)
		return nil, fmt.Errorf("the relay on %s failed (exit %d, signal %d): %s", hops[0].Addr,
			ex.Code, ex.Signal, bytes.TrimSpace(msg))
	}
	var reps []report
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var r report
		if err := json.Unmarshal(l, &r); err != nil {
			return nil, fmt.Errorf("the relay on %s reported %q: %v", hops[0].Addr, l, err)
		}
		reps = append(reps, r)
	}
	return reps, nil
}

// readAll reads what a process left on one of its streams, up to
// maxReport bytes.
func readAll(ctx context.Context, p *client.Process, stream uint8) ([]byte, error) {
	var b []byte
	for len(b) < maxReport {
		r, err := p.Read(ctx, stream, uint64(len(b)), 64<<10)
		if err != nil {
			return b, err
		}
		b = append(b, r.Data...)
		if r.EOF || (len(r.Data) == 0 && r.GapTo == 0) {
			return b, nil
		}
		if r.GapTo != 0 {
			return b, fmt.Errorf("the relay's output was lost: %s", r.Why)
		}
	}
	return b, errors.New("the relay's report is too long")
}

// forwardAll forwards src along hops, skipping the hops at the head of
// the chain that cannot be dialled or started, and returns one report
// per hop. It reads src to its end whatever happens, so that a tee that
// writes into it never blocks.
func forwardAll(ctx context.Context, dial dialer, h header, hops []hopKey, src io.Reader) []report {
	var reps []report
	for len(hops) > 0 {
		got, started, err := forward(ctx, dial, h, hops, src)
		if !started {
			reps = append(reps, report{Addr: hops[0].Addr, Err: err.Error()})
			hops = hops[1:]
			continue
		}
		reps = append(reps, match(got, hops, err)...)
		break
	}
	io.Copy(io.Discard, src)
	return reps
}

// match lines up the reports of a relay with the hops it was given: a
// hop the relay did not report on gets err, or a note that it is
// missing.
func match(got []report, hops []hopKey, err error) []report {
	byAddr := make(map[string]report, len(got))
	for _, r := range got {
		byAddr[r.Addr] = r
	}
	out := make([]report, len(hops))
	for i, hk := range hops {
		r, ok := byAddr[hk.Addr]
		switch {
		case ok:
		case err != nil:
			r = report{Addr: hk.Addr, Err: err.Error()}
		default:
			r = report{Addr: hk.Addr, Err: "no report from the chain"}
		}
		out[i] = r
	}
	return out
}

// Run is the relay: it reads the header and the file's bytes from stdin,
// puts them to its own daemon while it forwards them to the next hop,
// and writes one report line per hop to stdout. It returns an error
// only when it cannot read its header; a hop that fails is reported.
func Run(stdin io.Reader, stdout io.Writer) error {
	br := bufio.NewReaderSize(stdin, copyBuf)
	line, err := br.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("relay: read header: %w", err)
	}
	var h header
	if err := json.Unmarshal(line, &h); err != nil || len(h.Hops) == 0 || h.Size < 0 {
		return fmt.Errorf("relay: bad header: %v", err)
	}
	ctx := context.Background() // the daemon's lease ends a relay left behind
	body := io.LimitReader(br, h.Size)

	var down chan []report
	src := body
	var pw *io.PipeWriter
	if len(h.Hops) > 1 {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		down = make(chan []report, 1)
		go func() { down <- forwardAll(ctx, relayDial, h, h.Hops[1:], pr) }()
		src = io.TeeReader(body, pw)
	}
	err = putLocal(ctx, h, src)
	io.Copy(io.Discard, src) // what the local put left, for the hops after
	// Wait for the end of input: a relay that exited before it would
	// fail the write of the end by its starter.
	io.Copy(io.Discard, br)
	reps := []report{{Addr: h.Hops[0].Addr}}
	if err != nil {
		reps[0].Err = err.Error()
	}
	if pw != nil {
		pw.Close()
		reps = append(reps, <-down...)
	}
	enc := json.NewEncoder(stdout)
	for i := range reps {
		if err := enc.Encode(&reps[i]); err != nil {
			return err
		}
	}
	return nil
}

// putLocal puts the bytes of src to the relay's own daemon.
func putLocal(ctx context.Context, h header, src io.Reader) error {
	c, err := relayDial(ctx, h.Hops[0], h.MAC)
	if err != nil {
		return err
	}
	defer c.Close()
	m := client.FileMeta{Size: h.Size, SHA: h.SHA, Mode: h.Mode, Mtime: h.Mtime}
	_, err = c.PutReader(ctx, src, m, string(h.Hops[0].Path), client.WithSync(h.Sync))
	return err
}
