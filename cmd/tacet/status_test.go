// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

var errHelpForTest = flag.ErrHelp

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name string
		ex   codec.Exit
		want int
	}{
		{"success", codec.Exit{}, 0},
		{"code", codec.Exit{Code: 3}, 3},
		{"code 255", codec.Exit{Code: 255}, 255},
		{"SIGTERM", codec.Exit{Signal: 15}, 143},
		{"SIGKILL by timeout", codec.Exit{Signal: 9, Why: "timeout"}, 137},
		{"unknown", codec.Exit{Unknown: true}, exitFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitStatus(&tt.ex); got != tt.want {
				t.Errorf("exitStatus(%+v) = %d, want %d", tt.ex, got, tt.want)
			}
		})
	}
}

func TestStatusFor(t *testing.T) {
	spawn := &client.Error{Code: codec.CodeSpawnFailed, Step: "chdir", Errno: syscall.ENOENT}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"usage", usagef("bad"), exitUsage},
		{"spawn", spawn, exitSpawn},
		{"spawn wrapped", fmt.Errorf("start: %w", spawn), exitSpawn},
		{"dial", &client.DialError{Addr: "h", Err: syscall.ECONNREFUSED}, exitUnreachable},
		{"refused key", &client.DialError{Addr: "h", Err: client.ErrUnauthenticated}, exitUnreachable},
		{"conn lost", &client.ConnError{Addr: "h", Err: errors.New("EOF")}, exitUnreachable},
		{"not found", &client.Error{Code: codec.CodeNotFound}, exitFailed},
		{"other", errors.New("x"), exitFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusFor(tt.err); got != tt.want {
				t.Errorf("statusFor(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestExitColumn(t *testing.T) {
	tests := []struct {
		p    codec.ProcInfo
		want string
	}{
		{codec.ProcInfo{State: "running"}, "-"},
		{codec.ProcInfo{State: "exited", Exit: codec.Exit{Code: 2}}, "2"},
		{codec.ProcInfo{State: "exited", Exit: codec.Exit{Signal: 9, Why: "timeout"}}, "SIGKILL (timeout)"},
		{codec.ProcInfo{State: "exited", Exit: codec.Exit{Signal: 11, Core: true}}, "SIGSEGV+core"},
		{codec.ProcInfo{State: "failed", Fail: codec.Failed{Step: "execve", Sys: "ENOENT"}}, "execve: ENOENT"},
	}
	for _, tt := range tests {
		if got := exitColumn(&tt.p); got != tt.want {
			t.Errorf("exitColumn(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestQuoteArgv(t *testing.T) {
	argv := [][]byte{[]byte("sh"), []byte("-c"), []byte("echo hi"), []byte(""), []byte("a\x01")}
	if got, want := quoteArgv(argv), `sh -c "echo hi" "" "a\x01"`; got != want {
		t.Errorf("quoteArgv = %s, want %s", got, want)
	}
}

// runTacet runs a command line and returns its status and outputs.
func runTacet(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	status := tacet(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return status, stdout.String(), stderr.String()
}

func TestCommandLineErrors(t *testing.T) {
	t.Setenv("TACET_KEY_FILE", "")
	sock := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	tests := []struct {
		name   string
		args   []string
		status int
		stderr string
	}{
		{"unknown command", []string{"frob"}, exitUsage, `unknown command "frob"`},
		{"no command", nil, exitUsage, "no command given"},
		{"kill bad id", []string{"kill", "zz"}, exitUsage, "bad process id"},
		{"kill bad signal", []string{"kill", "-s", "FOO", "1"}, exitUsage, "unknown signal"},
		{"wait two hosts", []string{"-w", "a,b", "wait", "1"}, exitUsage, "one host"},
		{"stdin two hosts", []string{"-w", "a,b", "run", "--stdin", "cat"}, exitUsage, "--stdin takes one host"},
		{"pty two hosts", []string{"-w", "a,b", "run", "--pty", "top"}, exitUsage, "--pty takes one host, without -b"},
		{"unreachable", []string{"-w", sock, "ps"}, exitUnreachable, "is tacetd running there?"},
		{"run unreachable", []string{"-w", sock, "run", "true"}, exitUnreachable, "none.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, stderr := runTacet(t, tt.args...)
			if status != tt.status || !strings.Contains(stderr, tt.stderr) || !strings.HasPrefix(stderr, "tacet: ") {
				t.Errorf("tacet %q: status %d, stderr %q; want %d and %q", tt.args, status, stderr, tt.status, tt.stderr)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
				t.Errorf("stderr has more than two lines: %q", stderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	status, stdout, _ := runTacet(t, "help")
	if status != 0 || !strings.Contains(stdout, "125") || !strings.Contains(stdout, "tacet run") {
		t.Errorf("help: status %d, output %q", status, stdout)
	}
	if status, stdout, _ := runTacet(t, "run", "-h"); status != 0 || !strings.Contains(stdout, "--cpus") &&
		!strings.Contains(stdout, "-cpus") {
		t.Errorf("run -h: status %d, output %q", status, stdout)
	}
}

func TestKeygen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "key")
	if status, stdout, stderr := runTacet(t, "keygen", path); status != 0 || !strings.Contains(stdout, path) {
		t.Fatalf("keygen: %d %q %q", status, stdout, stderr)
	}
	first, _ := os.ReadFile(path)
	if status, _, stderr := runTacet(t, "keygen", path); status != exitFailed || !strings.Contains(stderr, "--force") {
		t.Errorf("keygen over a key: status %d, stderr %q", status, stderr)
	}
	if status, _, stderr := runTacet(t, "keygen", "--force", path); status != 0 {
		t.Fatalf("keygen --force: %d %q", status, stderr)
	}
	second, _ := os.ReadFile(path)
	st, _ := os.Stat(path)
	if bytes.Equal(first, second) || st.Mode().Perm() != 0o600 {
		t.Errorf("key not replaced, or mode %v", st.Mode())
	}
}
