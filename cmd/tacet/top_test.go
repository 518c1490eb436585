// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"strings"
	"testing"

	"gitlab.com/tacet/tacet/codec"
)

// TestTopFrame draws frames from two samples of one host: on a terminal
// the frame starts by homing the cursor and clearing, elsewhere it is
// plain text, and the CPU of the tree is its time over the interval.
func TestTopFrame(t *testing.T) {
	h := &topHost{addr: "127.0.0.1:7340", rows: hostRows{host: "127.0.0.1:7340"},
		argv: map[uint64][]string{0x2a: {"sh", "-c", "spin"}}}
	sample := func(mono, cpu uint64) *codec.Sample {
		return &codec.Sample{Mono: mono, Mem: []codec.Mem{{Total: 8 << 30, Avail: 6 << 30}},
			Proc: []codec.ProcSample{{Handle: 0x2a, PID: 100, Start: 5, UserNs: cpu, RSS: 3 << 20},
				{Handle: 0x2a, PID: 101, Start: 6, SysNs: cpu / 2, RSS: 1 << 20}}}
	}
	var out bytes.Buffer
	tc := &cli{stdout: &out}
	tc.topUpdate(t.Context(), h, sample(1e9, 1e8))
	tc.topUpdate(t.Context(), h, sample(2e9, 6e8)) // +0.5 s and +0.25 s over 1 s

	tc.topFrame([]*topHost{h}, true, 0)
	frame := out.String()
	if !strings.HasPrefix(frame, ansiHomeClear) {
		t.Errorf("terminal frame does not start with %q: %q", ansiHomeClear, frame)
	}
	if !strings.Contains(frame, "2a  100  2      75.0  4.0MiB  sh -c spin") {
		t.Errorf("no row for the tree at 75%% CPU and 4 MiB:\n%s", frame)
	}
	out.Reset()
	tc.topFrame([]*topHost{h}, false, 1)
	if strings.Contains(out.String(), "\x1b") || !strings.HasPrefix(out.String(), "\ntacet top:") {
		t.Errorf("plain frame: %q", out.String())
	}
}

func TestCutLines(t *testing.T) {
	got := string(cutLines([]byte("abcdef\nµµµµ\nab\n"), 3))
	if got != "abc\nµµµ\nab\n" {
		t.Errorf("cutLines = %q", got)
	}
}
