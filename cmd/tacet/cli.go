// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/netstack"
)

// dialTimeout bounds the connect and handshake to one daemon when the
// options set no --connect-timeout, as in tests that build a cli.
const dialTimeout = 10 * time.Second

// cli is the state shared by the commands of one invocation.
type cli struct {
	opts   options
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	json   *jsonLines

	collectDir string // run --collect-dir
	keep       bool   // run --keep: leave the ended process's records on the daemon
	tagged     bool   // run --tag: the records stay, for retries with the tag
}

// dial connects to the daemon at addr.
func (t *cli) dial(ctx context.Context, addr string) (*client.Client, error) {
	return client.Dial(ctx, addr, append(t.dialOptions(), t.hostOptions(addr)...)...)
}

// hostOptions are the options of the connection to addr alone: ssh -W
// for a host of the deployment that is reached through ssh.
func (t *cli) hostOptions(addr string) []client.Option { return t.opts.viaSSH[addr] }

// dialOptions are the options of every connection tacet makes.
func (t *cli) dialOptions() []client.Option {
	timeout := t.opts.connectTimeout
	if timeout <= 0 {
		timeout = dialTimeout
	}
	opts := []client.Option{client.WithWho(who()), client.WithTimeout(timeout)}
	if t.opts.keyFile != "" {
		opts = append(opts, client.WithKeyFile(t.opts.keyFile))
	}
	if t.opts.frameMAC {
		opts = append(opts, client.WithFrameMAC(true))
	}
	if tc := t.opts.tls; tc != (netstack.TLSConfig{}) {
		opts = append(opts, client.WithTLS(&tc))
	}
	return opts
}

// redialer returns a Redialer for addr, for commands that outlive a
// dropped connection.
func (t *cli) redialer(addr string) *client.Redialer {
	return &client.Redialer{Dial: func(ctx context.Context) (*client.Client, error) { return t.dial(ctx, addr) }}
}

func who() string {
	host, _ := os.Hostname()
	return "tacet@" + host
}

// fail prints err as one line, with a hint when there is one, and
// returns the status it maps to.
func (t *cli) fail(err error) int {
	msg := err.Error()
	if h := hint(err); h != "" {
		msg += " (" + h + ")"
	}
	fmt.Fprintln(t.stderr, "tacet: "+msg)
	if statusFor(err) == exitUsage {
		fmt.Fprintln(t.stderr, "run 'tacet help' for usage")
	}
	return statusFor(err)
}

// warnf prints one line about host on stderr.
func (t *cli) warnf(host, format string, args ...any) {
	fmt.Fprintf(t.stderr, "tacet: %s: %s\n", hostName(host), fmt.Sprintf(format, args...))
}

// hostName is how messages name the daemon at addr, the way the client
// package's errors do: host:port, or the socket path.
func hostName(addr string) string {
	if addr == "" {
		return netstack.DefaultSocketPath()
	}
	a, err := netstack.ParseAddr(addr, 0)
	switch {
	case err != nil:
		return addr
	case a.Scheme == netstack.SchemeUnix:
		return a.Path
	}
	return a.Host
}

// eachHost runs fn on every host in turn and returns the first non-zero
// status. fn reports its own errors.
func (t *cli) eachHost(fn func(addr string) int) int {
	status := exitOK
	for _, h := range t.opts.hosts {
		if s := fn(h); status == exitOK {
			status = s
		}
	}
	return status
}

// oneHost returns the single host of -w, for commands that name a
// process: an id belongs to one daemon.
func (t *cli) oneHost() (string, error) {
	if len(t.opts.hosts) != 1 {
		return "", usagef("this command takes one host in -w, since a process id belongs to one daemon")
	}
	return t.opts.hosts[0], nil
}

// newFlags returns the flag set of command name.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses args with fs. It returns flag.ErrHelp after printing
// the command's help for -h.
func (t *cli) parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		cmd := commands[fs.Name()]
		fmt.Fprintf(t.stdout, "usage: tacet [-w HOSTS] [--key-file PATH] [--json] %s\n\n%s\n", cmd.usage, cmd.help)
		fs.SetOutput(t.stdout)
		fs.PrintDefaults()
		if details := commandDetails[fs.Name()]; details != nil {
			fmt.Fprint(t.stdout, "\n"+details())
		}
		return err
	}
	if err != nil {
		return usagef(fs.Name() + ": " + err.Error())
	}
	return nil
}

// idArg parses the one ID argument of a command.
func idArg(name string, args []string) (uint64, error) {
	if len(args) != 1 {
		return 0, usagef(name + ": want one process id, got " + fmt.Sprint(len(args)) + " arguments")
	}
	return parseID(args[0])
}

func defaultKeyPathText() string {
	if p := netstack.DefaultKeyPath(); p != "" {
		return p
	}
	return "$XDG_CONFIG_HOME/tacet/key"
}

// quoteArgv joins argv for display, quoting what a shell would split.
func quoteArgv(argv [][]byte) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		s := string(a)
		if s == "" || strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~") || !isPrint(s) {
			s = fmt.Sprintf("%q", s)
		}
		parts[i] = s
	}
	return strings.Join(parts, " ")
}

func isPrint(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}
