// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// withProcess parses the ID of a command that names one process and runs
// fn on a connection to its host.
func (t *cli) withProcess(ctx context.Context, name string, args []string, fn func(*client.Process) error) int {
	h, err := idArg(name, args)
	if err != nil {
		return t.fail(err)
	}
	addr, err := t.oneHost()
	if err != nil {
		return t.fail(err)
	}
	c, err := t.dial(ctx, addr)
	if err != nil {
		return t.fail(err)
	}
	defer c.Close()
	if err := fn(c.Process(h)); err != nil {
		return t.fail(err)
	}
	return exitOK
}

func cmdRelease(ctx context.Context, t *cli, args []string) int {
	fs := newFlags("release")
	if err := t.parseFlags(fs, args); err != nil {
		return helpOrFail(t, err)
	}
	return t.withProcess(ctx, "release", fs.Args(), func(p *client.Process) error {
		return p.Release(ctx)
	})
}

func cmdLogs(ctx context.Context, t *cli, args []string) int {
	fs := newFlags("logs")
	follow := fs.Bool("f", false, "follow the output until the stream ends, across dropped connections")
	streamFlag := fs.String("stream", "", "`STREAM` to print: stdout, stderr or pty; default pty for a process on a terminal, else stdout")
	if err := t.parseFlags(fs, args); err != nil {
		return helpOrFail(t, err)
	}
	var s uint8 // told, or asked of the daemon below
	var err error
	if *streamFlag != "" {
		if s, err = parseStream(*streamFlag); err != nil {
			return t.fail(err)
		}
	}
	h, err := idArg("logs", fs.Args())
	if err != nil {
		return t.fail(err)
	}
	addr, err := t.oneHost()
	if err != nil {
		return t.fail(err)
	}
	// One connection, made again only when -f loses it, serves both the
	// question of which stream and the output.
	r := t.redialer(addr)
	defer r.Close()
	c, err := r.Client(ctx)
	if err != nil {
		return t.fail(err)
	}
	if *streamFlag == "" {
		if s, err = defaultStream(ctx, c.Process(h)); err != nil {
			return t.fail(err)
		}
	}

	w := t.outWriter(addr, h, s, t.stdout)
	if *follow {
		dial := func() (*client.Client, error) { return r.Client(ctx) }
		if err := client.Follow(ctx, dial, h, s, 0, w); err != nil {
			return t.fail(err)
		}
		return exitOK
	}
	if err := printRetained(ctx, c.Process(h), s, w); err != nil {
		return t.fail(err)
	}
	return exitOK
}

// defaultStream is the stream logs prints when not told: the terminal's
// of a process started on one, its only stream, else stdout.
func defaultStream(ctx context.Context, p *client.Process) (uint8, error) {
	info, err := p.Status(ctx)
	if err != nil {
		return 0, err
	}
	// Lengths has an element per stream the process has, element i for
	// stream i+1 (spec 11.10): a third one is the terminal's.
	if len(info.Lengths) >= codec.PTY {
		return codec.PTY, nil
	}
	return codec.Stdout, nil
}

// printRetained copies what the daemon holds of stream s now, with
// out.read, and stops at the end of it even if the process runs on.
func printRetained(ctx context.Context, p *client.Process, s uint8, w outputWriter) error {
	var off uint64
	for {
		r, err := p.Read(ctx, s, off, 256<<10)
		if err != nil {
			return err
		}
		if r.GapTo > off {
			if err := w.WriteGap(&client.GapError{From: off, To: r.GapTo, Why: r.Why}); err != nil {
				return err
			}
			off = r.GapTo
			continue
		}
		if len(r.Data) > 0 {
			if _, err := w.Write(r.Data); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			off += uint64(len(r.Data))
		}
		if r.EOF || len(r.Data) == 0 {
			return nil
		}
	}
}
