// SPDX-License-Identifier: Apache-2.0

package netns_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/netstack"
	"gitlab.com/tacet/tacet/netstack/netns"
)

// tacetdBin returns $TACETD_BIN, or a tacetd built for the test.
func tacetdBin(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("TACETD_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("TACETD_BIN: %v", err)
		}
		return bin
	}
	bin := filepath.Join(t.TempDir(), "tacetd")
	out, err := exec.Command("go", "build", "-o", bin, "gitlab.com/tacet/tacet/cmd/tacetd").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/tacetd: %v\n%s", err, out)
	}
	return bin
}

// startDaemon runs tacetd inside ns, listening on listen, and returns
// its key once it has logged that it started. Cleanup stops it with
// SIGTERM, then SIGKILL after 5 s.
func startDaemon(t testing.TB, ns *netns.NS, listen ...string) *netstack.Key {
	t.Helper()
	dir := t.TempDir()
	key, err := netstack.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key")
	if err := key.WriteFile(keyFile); err != nil {
		t.Fatal(err)
	}
	args := []string{"--key-file", keyFile, "--state-dir", filepath.Join(dir, "state")}
	for _, l := range listen {
		args = append(args, "--listen", l)
	}
	cmd := exec.Command(tacetdBin(t), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Start(cmd); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	t.Cleanup(func() { stopDaemon(t, cmd, waited) })

	started := make(chan string, 1)
	go func() {
		// Read to the end, so that the daemon never blocks on stderr; the
		// lines after the first are printed only if the test fails.
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if line := sc.Text(); strings.Contains(line, "tacetd started") {
				select {
				case started <- line:
				default:
				}
			} else {
				t.Log("tacetd:", line)
			}
		}
		waited <- cmd.Wait()
	}()
	select {
	case line := <-started:
		t.Log("tacetd:", line)
	case err := <-waited:
		waited <- err
		t.Fatalf("tacetd exited before it started: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("tacetd did not start within 10 s")
	}
	return key
}

func stopDaemon(t testing.TB, cmd *exec.Cmd, waited chan error) {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-waited:
		return
	case <-time.After(5 * time.Second):
	}
	t.Error("tacetd still running 5 s after SIGTERM; killing it")
	cmd.Process.Kill()
	<-waited
}
