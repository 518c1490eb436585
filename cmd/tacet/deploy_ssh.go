// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// sshConfigEnv names an ssh client config file that deploy and undeploy
// pass as ssh -F when --ssh-config is not given.
const sshConfigEnv = "TACET_SSH_CONFIG"

// sshRunner runs shell scripts on hosts through the system's ssh client,
// so that the user's ssh config, agent, keys and jump hosts all apply:
// deploy needs nothing on a host but sshd, sh and coreutils.
type sshRunner struct {
	config  string   // ssh -F file, or "" for the user's own
	options []string // the -o values given with --ssh-option
}

// baseOptions follow the user's: ssh keeps the first value it sees for
// each setting, so a --ssh-option overrides these.
var baseOptions = []string{"BatchMode=yes", "ConnectTimeout=10", "LogLevel=ERROR"}

// sshError is an ssh run that failed: ssh could not reach the host, or
// the script exited non-zero. Line is the last line of stderr, which is
// where both ssh and the scripts say what went wrong.
type sshError struct {
	Status int
	Line   string
}

func (e *sshError) Error() string {
	if e.Line != "" {
		return e.Line
	}
	return fmt.Sprintf("ssh exited with status %d", e.Status)
}

// optionArgs are the ssh flags before the destination.
func (s *sshRunner) optionArgs() []string {
	var argv []string
	if s.config != "" {
		argv = append(argv, "-F", s.config)
	}
	for _, o := range append(append([]string(nil), s.options...), baseOptions...) {
		argv = append(argv, "-o", o)
	}
	return argv
}

// command returns the ssh command line that runs script on dest with
// args as its $1, $2, ... The login shell there only sees one quoted
// sh -c, so the script runs under sh whatever that shell is.
func (s *sshRunner) command(ctx context.Context, dest, script string, args ...string) *exec.Cmd {
	remote := []string{"sh", "-c", shellQuote(script), "sh"}
	for _, a := range args {
		remote = append(remote, shellQuote(a))
	}
	argv := append(s.optionArgs(), "--", dest, strings.Join(remote, " "))
	cmd := exec.CommandContext(ctx, "ssh", argv...)
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// run runs script on dest with stdin and returns the key=value lines it
// printed on stdout.
func (s *sshRunner) run(ctx context.Context, dest string, stdin io.Reader, script string, args ...string) (map[string]string, error) {
	cmd := s.command(ctx, dest, script, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return nil, &sshError{Status: ee.ExitCode(), Line: lastLine(stderr.Bytes())}
	}
	if err != nil {
		return nil, fmt.Errorf("run ssh: %w", err)
	}
	return keyValues(stdout.Bytes()), nil
}

// sshTarget is what ssh's config makes of a destination (ssh -G).
type sshTarget struct {
	host string // the host name ssh connects to, which is what tacet dials
	via  string // "ProxyJump J" or "ProxyCommand C" when ssh goes through another host
}

// resolve returns what ssh connects to for dest, after its config has
// mapped aliases and chosen jump hosts.
func (s *sshRunner) resolve(ctx context.Context, dest string) (sshTarget, error) {
	cmd := exec.CommandContext(ctx, "ssh", append(append([]string{"-G"}, s.optionArgs()...), "--", dest)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if line := lastLine(stderr.Bytes()); line != "" {
			return sshTarget{}, &sshError{Status: cmd.ProcessState.ExitCode(), Line: line}
		}
		return sshTarget{}, fmt.Errorf("ssh -G %s: %w", dest, err)
	}
	var tg sshTarget
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		v = strings.TrimSpace(v)
		switch {
		case k == "hostname":
			tg.host = v
		case k == "proxyjump" && v != "none":
			tg.via = "ProxyJump " + v
		case k == "proxycommand" && v != "none" && tg.via == "":
			tg.via = "ProxyCommand " + v
		}
	}
	if tg.host == "" {
		return tg, fmt.Errorf("ssh -G %s printed no hostname", dest)
	}
	return tg, nil
}

// unreachable adds to err, a daemon that does not answer, why that may
// be when ssh reaches its host through another and tacet was told not
// to.
func (tg sshTarget) unreachable(err error) error {
	if tg.via == "" {
		return err
	}
	return fmt.Errorf("%w (ssh reaches the host with %s, but --ssh-tunnel no makes tacet dial its daemon directly: "+
		"the controller needs a route to %s)", err, tg.via, tg.host)
}

// lastLine returns the last non-blank line of b, skipping ssh's warnings
// about known_hosts, which say nothing about why a command failed.
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "Warning: Permanently added") {
			return l
		}
	}
	return ""
}

// keyValues parses the key=value lines of a script's output; other
// lines are ignored.
func keyValues(b []byte) map[string]string {
	m := make(map[string]string)
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
