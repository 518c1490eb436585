// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/client"
)

// maxLine is the most bytes a prefixed line holds before it is written
// anyway, so that a process printing no newline cannot grow tacet.
const maxLine = 64 << 10

// sink serialises the output of every host of a fan-out, so that lines
// never mix, and keeps the progress line out of their way.
type sink struct {
	mu       sync.Mutex // guards the fields below and every write to stdout and stderr
	stderr   io.Writer
	progress bool // a progress line is on the terminal now
}

// emit writes data, whole lines each already prefixed, to w.
func (s *sink) emit(w io.Writer, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clearLocked()
	w.Write(data)
}

func (s *sink) clearLocked() {
	if s.progress {
		io.WriteString(s.stderr, "\r\x1b[K")
		s.progress = false
	}
}

// prefixWriter writes every line of one stream of one host as
// "label: line", a line at a time; a last line without a newline waits
// for flush.
type prefixWriter struct {
	s     *sink
	w     io.Writer
	label string
	buf   []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	end := bytes.LastIndexByte(p.buf, '\n') + 1
	if end == 0 && len(p.buf) < maxLine {
		return len(b), nil
	}
	if end == 0 {
		end = len(p.buf)
	}
	p.s.emit(p.w, p.prefixed(p.buf[:end]))
	p.buf = append(p.buf[:0], p.buf[end:]...)
	return len(b), nil
}

// prefixed returns lines with the label before each; a last line
// without a newline gets one.
func (p *prefixWriter) prefixed(lines []byte) []byte {
	var out []byte
	for len(lines) > 0 {
		line, rest, _ := bytes.Cut(lines, []byte{'\n'})
		out = append(out, p.label...)
		out = append(out, ": "...)
		out = append(out, line...)
		out = append(out, '\n')
		lines = rest
	}
	return out
}

func (p *prefixWriter) WriteGap(g *client.GapError) error {
	msg := fmt.Sprintf("tacet: %s: bytes %d to %d lost (%s)\n", p.label, g.From, g.To, g.Why)
	p.s.emit(p.s.stderr, []byte(msg))
	return nil
}

// flush writes the last line, even without its newline.
func (p *prefixWriter) flush() {
	if len(p.buf) > 0 {
		p.s.emit(p.w, p.prefixed(p.buf))
		p.buf = nil
	}
}

// gatherWriter keeps one stream of one host for -b.
type gatherWriter struct {
	bytes.Buffer
	stream string
}

func (g *gatherWriter) WriteGap(e *client.GapError) error {
	fmt.Fprintf(&g.Buffer, "[tacet: %s bytes %d to %d lost (%s)]\n", g.stream, e.From, e.To, e.Why)
	return nil
}

func (g *gatherWriter) flush() {}

// writeGathered prints one block per distinct output, headed by the
// hosts that printed it in node-set notation, as clush -b does. Blocks
// come in the order of the first host of each.
func writeGathered(w io.Writer, labels []string, outs [][]byte) {
	var order []string
	hosts := make(map[string][]string)
	for i, out := range outs {
		if len(out) == 0 {
			continue
		}
		k := string(out)
		if hosts[k] == nil {
			order = append(order, k)
		}
		hosts[k] = append(hosts[k], labels[i])
	}
	for _, k := range order {
		head := fmt.Sprintf("%s (%d)", foldNodeSet(hosts[k]), len(hosts[k]))
		rule := strings.Repeat("-", min(len(head), 72))
		fmt.Fprintf(w, "%s\n%s\n%s\n%s", rule, head, rule, k)
		if !strings.HasSuffix(k, "\n") {
			fmt.Fprintln(w)
		}
	}
}

// progress counts the hosts of a fan-out for the progress line.
type progress struct {
	total                     int
	started, finished, failed atomic.Int64
}

// show redraws the progress line every interval until stop is closed,
// then erases it. It is for a terminal only.
func (pr *progress) show(s *sink, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			s.mu.Lock()
			s.clearLocked()
			s.mu.Unlock()
			return
		case <-tick.C:
		}
		s.mu.Lock()
		fmt.Fprintf(s.stderr, "\r\x1b[K%d hosts: %d started, %d finished, %d failed",
			pr.total, pr.started.Load(), pr.finished.Load(), pr.failed.Load())
		s.progress = true
		s.mu.Unlock()
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
