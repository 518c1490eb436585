// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/internal/testproc"
)

// The peer benchmarks put tacetd beside the tools researchers use today:
// ssh (plain and through a ControlMaster), pdsh and clush over it, and
// supervisord. Each runs as a private instance that the benchmark starts
// in a temporary directory, with its own keys, config and socket, on
// loopback. A tool that is missing fails the benchmark, so that a row of
// the report cannot vanish because a machine lacked a package: make deps
// installs them all (scripts/ci/deps.sh).

// peerTool returns the path of a program the benchmarks need, a peer
// they compare tacetd with or a tool such as gcc, or fails b naming the
// Debian package that provides it.
func peerTool(b testing.TB, name, pkg string) string {
	b.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/bin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	b.Fatalf("%s not found: the benchmarks need it; "+
		"run `make deps` as root, or apt-get install -y %s", name, pkg)
	return ""
}

// peerProc is a long-running peer (sshd, supervisord, an ssh master)
// that the benchmark started and stops, by its PID, when it ends.
type peerProc struct {
	*testproc.Proc
	name string
}

// startPeer starts argv with its output kept for error messages, and
// registers its stop: SIGTERM, then SIGKILL after stopTimeout.
func startPeer(b testing.TB, name string, argv ...string) *peerProc {
	b.Helper()
	tp, err := testproc.Start(argv[0], argv[1:], nil, nil)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	p := &peerProc{Proc: tp, name: name}
	b.Cleanup(p.stop)
	return p
}

func (p *peerProc) stop() {
	if p.Running() && !p.Term(stopTimeout) {
		p.Kill()
	}
}

// waitFor polls ready every 20 ms until it returns nil, the peer exits,
// or readyTimeout passes; then it fails b with the peer's output.
func (p *peerProc) waitFor(b testing.TB, what string, ready func() error) {
	b.Helper()
	deadline := time.Now().Add(2 * readyTimeout)
	for {
		err := ready()
		if err == nil {
			return
		}
		if !p.Running() || time.Now().After(deadline) {
			b.Fatalf("%s: not %s: %v\n%s", p.name, what, err, p.Out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runQuiet runs argv with env added, its output discarded unless it
// fails, and returns how long it took.
func runQuiet(env []string, argv ...string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var out testproc.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	dt := time.Since(t0)
	if err != nil {
		return dt, &runError{argv: argv, err: err, out: out.String()}
	}
	return dt, nil
}

// runError is a peer command that failed, with what it printed.
type runError struct {
	argv []string
	err  error
	out  string
}

func (e *runError) Error() string {
	out := e.out
	if len(out) > 2000 {
		out = out[:2000] + "..."
	}
	return strings.Join(e.argv, " ") + ": " + e.err.Error() + "\n" + out
}

func writeFile(b testing.TB, path, text string) {
	b.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
}
