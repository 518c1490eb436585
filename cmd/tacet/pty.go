// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"gitlab.com/tacet/tacet/client"
)

// localTerminal is tacet's own terminal while run --pty forwards to a
// remote one: in raw mode, so that every key, Ctrl-C included, goes to
// the remote terminal, whose line discipline turns it into SIGINT for
// the process there, as a local terminal would.
type localTerminal struct {
	fd    int
	saved *term.State    // nil: tacet's stdin is not a terminal
	winch chan os.Signal // SIGWINCH, heard from before the start on
}

// openTerminal puts tacet's stdin in raw mode if it is a terminal.
// Without one (a pipe, a file), input is forwarded as it comes and
// nothing changes locally.
func (t *cli) openTerminal() (*localTerminal, error) {
	f, ok := t.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &localTerminal{fd: -1}, nil
	}
	lt := &localTerminal{fd: int(f.Fd())}
	saved, err := term.MakeRaw(lt.fd)
	if err != nil {
		return nil, err
	}
	lt.saved = saved
	// Heard from now, not from when followResize runs: a window changed
	// in between would otherwise be missed for good.
	lt.winch = make(chan os.Signal, 1)
	signal.Notify(lt.winch, syscall.SIGWINCH)
	return lt, nil
}

// size returns the local terminal's window size, or 0, 0 (the daemon's
// default, 24 by 80) without one.
func (lt *localTerminal) size() (rows, cols uint16) {
	if lt.saved == nil {
		return 0, 0
	}
	w, h, err := term.GetSize(lt.fd)
	if err != nil || w <= 0 || h <= 0 || w > 0xffff || h > 0xffff {
		return 0, 0
	}
	return uint16(h), uint16(w)
}

// restore gives the terminal back as it was.
func (lt *localTerminal) restore() {
	if lt.saved != nil {
		signal.Stop(lt.winch)
		term.Restore(lt.fd, lt.saved)
	}
}

// followResize sends the local terminal's window size to process h each
// time it changes, until ctx ends.
func (lt *localTerminal) followResize(ctx context.Context, r *client.Redialer, h uint64) {
	if lt.saved == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-lt.winch:
		}
		rows, cols := lt.size()
		if rows == 0 {
			continue
		}
		// A lost resize is not worth an error: the next one sets the
		// size again, and the process's output says nothing of it.
		if c, err := r.Client(ctx); err == nil {
			c.Process(h).Resize(ctx, rows, cols)
		}
	}
}
