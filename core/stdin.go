// SPDX-License-Identifier: Apache-2.0

package core

import (
	"bytes"
	"errors"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// maxStdinBacklog bounds the bytes queued for a child that is slow to
// read its stdin; beyond it proc.stdin is refused with LIMIT.
const maxStdinBacklog = 16 << 20

var errStdinBacklog = errors.New("stdin backlog full")

// errStdinGone answers the writes still queued when the process is gone.
var errStdinGone = errors.New("the process is gone")

// stdinPipe writes to a child's stdin from its own goroutine, so that a
// child that does not read never blocks the loop. Data is written in the
// order it was queued; close happens after the last byte. Each write is
// answered once its bytes are in the pipe, which is the flow control of
// proc.stdin.
type stdinPipe struct {
	f   *os.File
	tty bool // f is a pseudo-terminal's master: its end is the EOF character

	mu      sync.Mutex
	queue   []stdinChunk
	queued  int
	closing bool
	running bool
	last    int // the last byte written, -1 before the first
}

// stdinChunk is one queued write and how to answer it: done is called
// once, from the pipe's goroutine, with nil when the bytes are in the
// pipe or with why they never will be.
type stdinChunk struct {
	data []byte
	done func(error)
}

func newStdinPipe(f *os.File) *stdinPipe { return &stdinPipe{f: f, last: -1} }

// write queues data, and with eof a close after it; done answers it.
func (p *stdinPipe) write(data []byte, eof bool, done func(error)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return os.ErrClosed
	}
	if p.queued+len(data) > maxStdinBacklog {
		return errStdinBacklog
	}
	p.queue = append(p.queue, stdinChunk{data: bytes.Clone(data), done: done})
	p.queued += len(data)
	p.closing = eof
	if !p.running {
		p.running = true
		go p.run()
	}
	return nil
}

// run drains the queue; it exits when the queue is empty and is started
// again by the next write, so an idle stdin has no goroutine.
func (p *stdinPipe) run() {
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.running = false
			closing := p.closing
			p.mu.Unlock()
			if closing {
				p.end()
			}
			return
		}
		c := p.queue[0]
		p.queue = p.queue[1:]
		p.mu.Unlock()

		var err error
		if len(c.data) > 0 {
			if _, err = p.f.Write(c.data); err == nil {
				p.last = int(c.data[len(c.data)-1]) // only this goroutine reads it
			}
		}
		var dropped []stdinChunk
		p.mu.Lock()
		p.queued -= len(c.data)
		if err != nil {
			// The child closed its end: drop what is queued.
			dropped = p.queue
			p.queue, p.queued, p.closing = nil, 0, true
		}
		p.mu.Unlock()
		answer(c, err)
		for _, d := range dropped {
			answer(d, err)
		}
	}
}

func answer(c stdinChunk, err error) {
	if c.done != nil {
		c.done(err)
	}
}

// abandon closes the pipe whatever is queued, when the process is gone.
func (p *stdinPipe) abandon() {
	p.mu.Lock()
	dropped := p.queue
	p.queue, p.queued = nil, 0
	wasClosing := p.closing
	p.closing = true
	running := p.running
	p.mu.Unlock()
	for _, d := range dropped {
		answer(d, errStdinGone)
	}
	if !running && !wasClosing {
		p.f.Close()
	}
}

// end ends the child's input after the last queued byte, from the pipe's
// goroutine. A pipe is closed. A terminal cannot be, since the pump
// reads the same master: it gets its EOF character instead (VEOF of its
// termios, Ctrl-D unless the child changed it), which ends a read at the
// start of a line in canonical mode as the key would at a local
// terminal. After a partial line the first VEOF only hands that line to
// the reader, as at a terminal, so a second one follows. The stdin
// pipe's own descriptor of the master is closed either way.
func (p *stdinPipe) end() {
	if p.tty {
		p.f.Write(ttyEOF(p.f, p.last))
	}
	p.f.Close()
}

// ttyEOF returns the bytes that end the input of the terminal whose
// master is f, after last, the last byte written to it (-1 for none).
func ttyEOF(f *os.File, last int) []byte {
	var tio *unix.Termios
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { tio, _ = unix.IoctlGetTermios(int(fd), unix.TCGETS) })
	}
	if tio == nil {
		return []byte{4}
	}
	eof := tio.Cc[unix.VEOF]
	if eof == 0 {
		eof = 4
	}
	if tio.Lflag&unix.ICANON == 0 || last < 0 {
		return []byte{eof}
	}
	switch b := byte(last); {
	case b == '\n', b == eof, b != 0 && (b == tio.Cc[unix.VEOL] || b == tio.Cc[unix.VEOL2]):
		return []byte{eof}
	}
	return []byte{eof, eof}
}
