// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/internal/testproc"
)

// TestRunPTYTerminal runs tacet run --pty on a local terminal, as a user
// at a shell would: the remote terminal gets the local window's size,
// and its new size when the window changes; Ctrl-C typed locally reaches
// the remote process as SIGINT from its terminal; and tacet gives the
// local terminal back as it found it.
func TestRunPTYTerminal(t *testing.T) {
	f := startFleet(t, 1)
	master, slave := openPTY(t)
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 41, Col: 103}); err != nil {
		t.Fatal(err)
	}
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	script := `stty size; trap 'stty size' WINCH; trap 'echo got-INT; exit 7' INT; echo ready; while :; do sleep 0.05; done`
	cmd := tacetCommand(ctx, f.keyFile, "-w", f.addr(0), "run", "--pty", "--", "sh", "-c", script)
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := readMaster(master)
	waitFor(t, out, "ready", 20*time.Second)
	if !strings.Contains(out.String(), "41 103") {
		t.Errorf("remote stty size printed %q, want the local window's 41 103", out.String())
	}
	// The window changes: tacet hears of it by SIGWINCH, which a shell
	// whose terminal this were would get from the kernel.
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 52, Col: 121}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(unix.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "52 121", 20*time.Second)
	if _, err := master.Write([]byte{0x03}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("tacet run --pty: %v, want exit status 7 from the remote trap; stderr %q", err, stderr.String())
	}
	waitFor(t, out, "got-INT", 5*time.Second)
	if stderr.Len() != 0 {
		t.Errorf("tacet printed on stderr: %q", stderr.String())
	}

	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("local terminal not restored: lflag %#x iflag %#x oflag %#x, were %#x %#x %#x",
			after.Lflag, after.Iflag, after.Oflag, before.Lflag, before.Iflag, before.Oflag)
	}
}

// TestRunPTYPipedInput runs tacet run --pty with its stdin a pipe: the
// input reaches the remote terminal, its end is the terminal's EOF, and
// the process sees a terminal of the default size.
func TestRunPTYPipedInput(t *testing.T) {
	f := startFleet(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	script := `test -t 0 && test -t 1 && echo on-a-tty; stty size; read x; echo got-$x; cat; echo after-eof`
	cmd := tacetCommand(ctx, f.keyFile, "-w", f.addr(0), "run", "--pty", "--", "sh", "-c", script)
	cmd.Stdin = strings.NewReader("hello\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tacet run --pty: %v; stderr %q", err, stderr.String())
	}
	for _, want := range []string{"on-a-tty", "24 80", "got-hello", "after-eof"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output %q lacks %q", stdout.String(), want)
		}
	}

	// Input that ends in the middle of a line: the first EOF character
	// only hands the line to the reader, so the daemon types a second.
	cmd = tacetCommand(ctx, f.keyFile, "-w", f.addr(0), "run", "--pty", "--", "sh", "-c", "cat; echo after-eof")
	cmd.Stdin = strings.NewReader("no-newline")
	stdout.Reset()
	stderr.Reset()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tacet run --pty, input without a newline: %v; stderr %q", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "after-eof") {
		t.Errorf("output %q: cat did not see the end of its input", stdout.String())
	}
}

// TestStartPTYWaitOutput checks that tacet start --pty --wait-output
// watches the terminal, the process's only stream.
func TestStartPTYWaitOutput(t *testing.T) {
	f := startFleet(t, 1)
	r := runTacet(t, f.keyFile, "-w", f.addr(0), "start", "--pty", "--wait-output", "^listening", "--",
		"sh", "-c", "echo listening; sleep 30")
	if r.status != 0 {
		t.Fatalf("start --pty --wait-output: status %d, stderr %q", r.status, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if r := runTacet(t, f.keyFile, "-w", f.addr(0), "kill", "-s", "KILL", id); r.status != 0 {
		t.Errorf("kill %s: status %d, stderr %q", id, r.status, r.stderr)
	}
}

// openPTY returns both ends of a new pseudo-terminal, closed at the end
// of the test.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	master = os.NewFile(uintptr(m), "ptmx")
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(m, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// readMaster copies what the terminal's master reads into a buffer, until
// the master is closed at the end of the test.
func readMaster(master *os.File) *testproc.Buffer {
	out := &testproc.Buffer{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	return out
}

// waitFor waits until out holds want, or fails the test after timeout.
func waitFor(t *testing.T, out *testproc.Buffer, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v; got %q", want, timeout, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLogsPTY checks that tacet logs, told no stream, prints the
// terminal's of a process started on one, which has no stdout.
func TestLogsPTY(t *testing.T) {
	f := startFleet(t, 1)
	r := runTacet(t, f.keyFile, "-w", f.addr(0), "start", "--pty", "--", "sh", "-c", "echo on-the-pty")
	if r.status != 0 {
		t.Fatalf("start --pty: status %d, stderr %q", r.status, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if r := runTacet(t, f.keyFile, "-w", f.addr(0), "wait", id); r.status != 0 {
		t.Fatalf("wait %s: status %d, stderr %q", id, r.status, r.stderr)
	}
	for _, args := range [][]string{{"logs", id}, {"logs", "-f", id}, {"logs", "--stream", "pty", id}} {
		r := runTacet(t, f.keyFile, append([]string{"-w", f.addr(0)}, args...)...)
		if r.status != 0 || !strings.Contains(r.stdout, "on-the-pty") {
			t.Errorf("tacet %v: status %d, stdout %q, stderr %q", args, r.status, r.stdout, r.stderr)
		}
	}
}

// TestRunPTYSizeFromStdout runs tacet run --pty with its stdin not a
// terminal but its stdout one: the remote terminal takes that window's
// size, and tacet's stdin is forwarded as it comes.
func TestRunPTYSizeFromStdout(t *testing.T) {
	f := startFleet(t, 1)
	master, slave := openPTY(t)
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 77}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := tacetCommand(ctx, f.keyFile, "-w", f.addr(0), "run", "--pty", "--", "stty", "size")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = slave, &stderr // stdin: /dev/null
	out := readMaster(master)
	if err := cmd.Run(); err != nil {
		t.Fatalf("tacet run --pty: %v; stderr %q", err, stderr.String())
	}
	waitFor(t, out, "33 77", 5*time.Second)
}
