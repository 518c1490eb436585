// SPDX-License-Identifier: Apache-2.0

package client

import (
	"io"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
)

// chunks is a reader that returns its chunks one per Read, then err.
type chunks struct {
	parts []string
	err   error
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, c.err
	}
	n := copy(p, c.parts[0])
	c.parts = c.parts[1:]
	return n, nil
}

func TestMatchLine(t *testing.T) {
	re := regexp.MustCompile(`^listening on :(\d+)$`)
	for _, tc := range []struct {
		name  string
		parts []string
		err   error
		want  string // "" for no match
	}{
		{"one line", []string{"listening on :80\n"}, io.EOF, "listening on :80"},
		{"after other lines", []string{"start\nloading\n", "listening on :8080\nmore\n"}, io.EOF, "listening on :8080"},
		{"split across reads", []string{"liste", "ning on", " :1\n"}, io.EOF, "listening on :1"},
		{"CRLF", []string{"listening on :2\r\n"}, io.EOF, "listening on :2"},
		{"last line without newline", []string{"boot\nlistening on :3"}, io.EOF, "listening on :3"},
		{"no match before the end", []string{"listening on :x\n", "bye\n"}, io.EOF, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := matchLine(&chunks{parts: tc.parts, err: tc.err}, re)
			if string(got) != tc.want {
				t.Errorf("matchLine = %q, %v; want %q", got, err, tc.want)
			}
			if tc.want == "" && err == nil {
				t.Errorf("no match and no error")
			}
		})
	}

	// A gap ends the line it cuts: the bytes after it start a new one.
	r := &gapThen{first: "listening", then: "listening on :4\n"}
	if got, err := matchLine(r, re); string(got) != "listening on :4" {
		t.Errorf("after a gap: %q, %v", got, err)
	}

	// A line longer than the bound is matched on its first part only.
	in := &chunks{parts: []string{strings.Repeat("x", maxReadyLine+10) + "z\n"}, err: io.EOF}
	if got, err := matchLine(iotest.HalfReader(in), regexp.MustCompile(`^x+z`)); got != nil || err != io.EOF {
		t.Errorf("long line: matched %d bytes, %v; want no match past %d bytes", len(got), err, maxReadyLine)
	}
}

// gapThen returns first, then a gap, then then, then EOF.
type gapThen struct {
	first, then string
	step        int
}

func (g *gapThen) Read(p []byte) (int, error) {
	g.step++
	switch g.step {
	case 1:
		return copy(p, g.first), nil
	case 2:
		return 0, &GapError{From: 9, To: 20}
	case 3:
		return copy(p, g.then), nil
	}
	return 0, io.EOF
}
