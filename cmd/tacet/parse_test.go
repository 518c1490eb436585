// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

func TestParseCPUs(t *testing.T) {
	tests := []struct {
		in      string
		want    []uint16
		wantErr bool
	}{
		{"", nil, false},
		{"0", []uint16{0}, false},
		{"0-3,6", []uint16{0, 1, 2, 3, 6}, false},
		{"6,0-2,1", []uint16{0, 1, 2, 6}, false},
		{"5-5", []uint16{5}, false},
		{"65535", []uint16{65535}, false},
		{"3-1", nil, true},
		{"0,,1", nil, true},
		{"0-", nil, true},
		{"-1", nil, true},
		{"+1", nil, true},
		{"a", nil, true},
		{"1-2-3", nil, true},
		{"65536", nil, true},
		{" 1", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseCPUs(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseCPUs(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && !slices.Equal(got, tt.want) {
				t.Errorf("parseCPUs(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if err != nil && statusFor(err) != exitUsage {
				t.Errorf("error %v is not a usage error", err)
			}
		})
	}
}

func TestParseHosts(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", []string{""}, false},
		{"node1", []string{"node1"}, false},
		{"node1,node2:7000, [::1]:7340", []string{"node1", "node2:7000", "[::1]:7340"}, false},
		{"unix:///run/tacet/tacetd.sock,kcp://h:1", []string{"unix:///run/tacet/tacetd.sock", "kcp://h:1"}, false},
		{"a,,b", nil, true},
		{"ftp://h", nil, true},
		{"h:99999", nil, true},
		{"unix://relative", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseHosts(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseHosts(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && !slices.Equal(got, tt.want) {
				t.Errorf("parseHosts(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal
	}{
		{"TERM", syscall.SIGTERM},
		{"SIGKILL", syscall.SIGKILL},
		{"int", syscall.SIGINT},
		{"sigusr1", syscall.SIGUSR1},
		{"9", syscall.SIGKILL},
		{"64", 64},
		{"0", 0},
		{"65", 0},
		{"NOPE", 0},
		{"", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSignal(tt.in)
			if tt.want == 0 {
				if err == nil {
					t.Fatalf("parseSignal(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseSignal(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseID(t *testing.T) {
	for _, h := range []uint64{0, 1, 0xabc, 1<<63 + 5} {
		got, err := parseID(formatID(h))
		if err != nil || got != h {
			t.Errorf("parseID(formatID(%#x)) = %#x, %v", h, got, err)
		}
	}
	if got, err := parseID("0xFF"); err != nil || got != 255 {
		t.Errorf("parseID(0xFF) = %d, %v", got, err)
	}
	for _, bad := range []string{"", "0x", "xyz", "-1", "1ffffffffffffffff"} {
		if _, err := parseID(bad); err == nil {
			t.Errorf("parseID(%q) gave no error", bad)
		}
	}
}

func TestStartArgs(t *testing.T) {
	fs, f := newStartFlags("run")
	args := []string{"--env", "A=1", "--env=B=x=y", "--cwd", "/tmp", "--timeout", "1.5s",
		"--cpus", "0-1", "--stdin", "--tag", "t1", "--mem-only", "--", "sh", "-c", "echo --env"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	a, err := f.startArgs(fs.Args())
	if err != nil {
		t.Fatal(err)
	}
	want := codec.StartArgs{
		Argv: [][]byte{[]byte("sh"), []byte("-c"), []byte("echo --env")},
		Env:  codec.EnvSpec{Set: [][]byte{[]byte("A=1"), []byte("B=x=y")}},
		Cwd:  []byte("/tmp"), CPUs: []uint16{0, 1}, Timeout: uint64(1500 * time.Millisecond),
		Stdin: codec.StdinSpec{Mode: "pipe"}, Tag: "t1", Output: codec.OutSpec{MemOnly: true},
	}
	if quoteArgv(a.Argv) != quoteArgv(want.Argv) || quoteArgv(a.Env.Set) != quoteArgv(want.Env.Set) ||
		string(a.Cwd) != "/tmp" || !slices.Equal(a.CPUs, want.CPUs) || a.Timeout != want.Timeout ||
		a.Stdin.Mode != "pipe" || a.Tag != "t1" || !a.Output.MemOnly {
		t.Errorf("startArgs = %+v\nwant %+v", a, want)
	}
}

func TestStartArgsPTY(t *testing.T) {
	fs, f := newStartFlags("run")
	if err := fs.Parse([]string{"--pty", "--", "top"}); err != nil {
		t.Fatal(err)
	}
	a, err := f.startArgs(fs.Args())
	if err != nil {
		t.Fatal(err)
	}
	// The terminal's input is tacet's stdin, so a pty implies the pipe.
	if !a.Output.PTY || a.Stdin.Mode != "pipe" {
		t.Errorf("--pty gave pty %v, stdin mode %q; want true, \"pipe\"", a.Output.PTY, a.Stdin.Mode)
	}
}

func TestStartArgsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no argv", []string{"--cwd", "/"}},
		{"no argv after dashes", []string{"--"}},
		{"bad env", []string{"--env", "NOEQUALS", "true"}},
		{"empty env key", []string{"--env", "=v", "true"}},
		{"bad cpus", []string{"--cpus", "2-1", "true"}},
		{"negative timeout", []string{"--timeout", "-1s", "true"}},
		{"bad timeout", []string{"--timeout", "soon", "true"}},
		{"unknown flag", []string{"--nope", "true"}},
		{"port out of range", []string{"--wait-port", "70000", "true"}},
		{"no wait timeout", []string{"--wait-port", "80", "--wait-timeout", "0s", "true"}},
		{"bad pattern", []string{"--wait-output", "(", "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Usage errors come before any daemon is dialled.
			var out, errOut strings.Builder
			args := append([]string{"-w", "127.0.0.1:1", "start"}, tt.args...)
			if status := tacet(t.Context(), args, nil, &out, &errOut); status != exitUsage {
				t.Errorf("tacet start %q = %d, want %d\n%s", tt.args, status, exitUsage, errOut.String())
			}
		})
	}
}

func TestParseGlobal(t *testing.T) {
	var o options
	name, rest, err := parseGlobal([]string{"-w", "a,b:1", "--key-file", "/k", "--json", "run", "--", "ls", "-l"}, &o)
	if err != nil {
		t.Fatal(err)
	}
	if name != "run" || !slices.Equal(rest, []string{"--", "ls", "-l"}) || o.keyFile != "/k" || !o.json ||
		!slices.Equal(o.hosts, []string{"a", "b:1"}) {
		t.Errorf("parseGlobal = %q %q %+v", name, rest, o)
	}

	for _, bad := range [][]string{{}, {"--json"}, {"-x", "ps"}, {"-w", "ftp://x", "ps"}} {
		if _, _, err := parseGlobal(bad, &options{}); statusFor(err) != exitUsage {
			t.Errorf("parseGlobal(%q) = %v, want a usage error", bad, err)
		}
	}
	if _, _, err := parseGlobal([]string{"-h"}, &options{}); !errors.Is(err, errHelpForTest) {
		t.Errorf("parseGlobal(-h) = %v, want flag.ErrHelp", err)
	}
}
