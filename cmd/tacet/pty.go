// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/term"

	"gitlab.com/tacet/tacet/client"
)

// localTerminal is tacet's own terminal while run --pty drives a remote
// one. When tacet's stdin is a terminal it goes into raw mode once the
// process has started, so that every key, Ctrl-C included, is typed at
// the remote terminal, whose line discipline turns it into SIGINT for
// the process there, as a local terminal would.
type localTerminal struct {
	inFd   int            // tacet's stdin when it is a terminal, else -1
	sizeFd int            // the terminal whose window the remote one follows: stdin's or stdout's; -1 for none
	saved  *term.State    // stdin's state while it is raw, else nil
	winch  chan os.Signal // SIGWINCH, heard from before the start on
	stderr *crlfWriter    // tacet's own messages, with \r\n while stdin is raw
	once   sync.Once      // restore's
}

// openTerminal finds tacet's terminal, without changing it yet, and
// makes tacet's messages fit for a raw terminal from then on.
func (t *cli) openTerminal() *localTerminal {
	lt := &localTerminal{inFd: -1, sizeFd: -1}
	if fd, ok := terminalFd(t.stdin); ok {
		lt.inFd, lt.sizeFd = fd, fd
	} else if fd, ok := terminalFd(t.stdout); ok {
		lt.sizeFd = fd
	}
	if lt.sizeFd >= 0 {
		// Heard from now, not from when followResize runs: a window
		// changed in between would otherwise be missed for good.
		lt.winch = make(chan os.Signal, 1)
		signal.Notify(lt.winch, syscall.SIGWINCH)
	}
	lt.stderr = &crlfWriter{w: t.stderr}
	t.stderr = lt.stderr
	return lt
}

// terminalFd returns the descriptor of v if it is a terminal.
func terminalFd(v any) (int, bool) {
	f, ok := v.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return -1, false
	}
	return int(f.Fd()), true
}

// size returns the local terminal's window size, or 0, 0 (the daemon's
// default, 24 by 80) without one.
func (lt *localTerminal) size() (rows, cols uint16) {
	if lt.sizeFd < 0 {
		return 0, 0
	}
	w, h, err := term.GetSize(lt.sizeFd)
	if err != nil || w <= 0 || h <= 0 || w > 0xffff || h > 0xffff {
		return 0, 0
	}
	return uint16(h), uint16(w)
}

// makeRaw puts tacet's stdin in raw mode if it is a terminal.
func (lt *localTerminal) makeRaw() error {
	if lt.inFd < 0 {
		return nil
	}
	saved, err := term.MakeRaw(lt.inFd)
	if err != nil {
		return err
	}
	lt.saved = saved
	lt.stderr.raw.Store(true)
	return nil
}

// restore gives the terminal back as it was; later calls do nothing.
func (lt *localTerminal) restore() {
	lt.once.Do(func() {
		if lt.winch != nil {
			signal.Stop(lt.winch)
		}
		if lt.saved != nil {
			term.Restore(lt.inFd, lt.saved)
			lt.stderr.raw.Store(false)
		}
	})
}

// followResize sends the local terminal's window size to process h each
// time it changes, until ctx ends.
func (lt *localTerminal) followResize(ctx context.Context, r *client.Redialer, h uint64) {
	if lt.winch == nil {
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

// crlfWriter writes tacet's own messages, which end lines with \n, as a
// terminal in raw mode needs them, with \r\n, while raw is set.
type crlfWriter struct {
	w   io.Writer
	raw atomic.Bool
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	if !c.raw.Load() {
		return c.w.Write(p)
	}
	if _, err := c.w.Write(bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}
