// SPDX-License-Identifier: Apache-2.0

package core

import (
	"errors"
	"os"
	"sync"
)

// maxStdinBacklog bounds the bytes queued for a child that is slow to
// read its stdin; beyond it proc.stdin is refused with LIMIT.
const maxStdinBacklog = 16 << 20

var errStdinBacklog = errors.New("stdin backlog full")

// stdinPipe writes to a child's stdin from its own goroutine, so that a
// child that does not read never blocks the loop. Data is written in the
// order it was queued; close happens after the last byte.
type stdinPipe struct {
	f *os.File

	mu      sync.Mutex
	queue   [][]byte
	queued  int
	closing bool
	running bool
}

func newStdinPipe(f *os.File) *stdinPipe { return &stdinPipe{f: f} }

// write queues data, and with eof a close after it.
func (p *stdinPipe) write(data []byte, eof bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return os.ErrClosed
	}
	if p.queued+len(data) > maxStdinBacklog {
		return errStdinBacklog
	}
	if len(data) > 0 {
		p.queue = append(p.queue, append([]byte(nil), data...))
		p.queued += len(data)
	}
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
				p.f.Close()
			}
			return
		}
		data := p.queue[0]
		p.queue = p.queue[1:]
		p.mu.Unlock()

		_, err := p.f.Write(data)
		p.mu.Lock()
		p.queued -= len(data)
		if err != nil {
			// The child closed its end: drop what is queued.
			p.queue, p.queued, p.closing = nil, 0, true
		}
		p.mu.Unlock()
	}
}

// abandon closes the pipe whatever is queued, when the process is gone.
func (p *stdinPipe) abandon() {
	p.mu.Lock()
	p.queue, p.queued = nil, 0
	wasClosing := p.closing
	p.closing = true
	running := p.running
	p.mu.Unlock()
	if !running && !wasClosing {
		p.f.Close()
	}
}
