// SPDX-License-Identifier: Apache-2.0

// Command tacet controls processes through tacetd, the per-machine
// daemon: it starts them on one or more hosts, streams their output,
// waits for them, signals them and shows what the daemon knows. Run
// `tacet help` for the commands and the exit statuses.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// options are the flags before the command.
type options struct {
	hosts   []string // addresses; "" is the local daemon
	keyFile string
	json    bool
}

// command is one subcommand: it parses its own flags from args and
// returns the status to exit with.
type command struct {
	run   func(ctx context.Context, t *cli, args []string) int
	usage string // the synopsis after "tacet"
	help  string // one line
}

var commands map[string]command // filled in init: run refers to it through help

func init() {
	commands = map[string]command{
		"run":     {cmdRun, "run [--env K=V]... [--cwd DIR] [--timeout DUR] [--cpus LIST] [--stdin] [--tag T] -- ARGV...", "start a process, stream its output, exit with its status"},
		"start":   {cmdStart, "start [same flags as run] -- ARGV...", "start a process in the background and print its id"},
		"ps":      {cmdPs, "ps", "list the processes the daemon keeps records of"},
		"wait":    {cmdWait, "wait ID", "wait for a process and exit with its status"},
		"kill":    {cmdKill, "kill [-s SIGNAL] ID", "signal a process and all its descendants (default TERM)"},
		"logs":    {cmdLogs, "logs [-f] [--stream stdout|stderr] ID", "print a process's output; -f follows it to the end"},
		"release": {cmdRelease, "release ID", "make the daemon forget an ended process and its output"},
		"info":    {cmdInfo, "info", "show the daemon's host"},
		"ping":    {cmdPing, "ping [-c N]", "measure round-trip time and clock offset to the daemon"},
		"keygen":  {cmdKeygen, "keygen [--force] [PATH]", "write a new key (default " + defaultKeyPathText() + ")"},
		"help":    {cmdHelp, "help", "show this help"},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	status := tacet(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(status)
}

// tacet runs one command line and returns the exit status.
func tacet(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	t := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	name, rest, err := parseGlobal(args, &t.opts)
	if errors.Is(err, flag.ErrHelp) {
		writeHelp(stdout)
		return exitOK
	}
	if err != nil {
		return t.fail(err)
	}
	cmd, ok := commands[name]
	if !ok {
		return t.fail(usagef(fmt.Sprintf("unknown command %q", name)))
	}
	t.json = newJSONLines(stdout)
	return cmd.run(ctx, t, rest)
}

// parseGlobal parses the flags before the command into o and returns the
// command and its arguments.
func parseGlobal(args []string, o *options) (string, []string, error) {
	fs := flag.NewFlagSet("tacet", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	hosts := fs.String("w", "", "hosts: `HOST[,HOST...]`, each host, host:port or a tcp://, unix://, kcp:// URL; default the local daemon's Unix socket")
	fs.StringVar(&o.keyFile, "key-file", "", "key `PATH`; default $TACET_KEY_FILE, else "+defaultKeyPathText())
	fs.BoolVar(&o.json, "json", false, "print one JSON object per line")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", nil, err
		}
		return "", nil, usagef(err.Error())
	}
	if fs.NArg() == 0 {
		return "", nil, usagef("no command given")
	}
	var err error
	if o.hosts, err = parseHosts(*hosts); err != nil {
		return "", nil, err
	}
	return fs.Arg(0), fs.Args()[1:], nil
}
