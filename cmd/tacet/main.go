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
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/netstack"
)

// options are the flags before the command.
type options struct {
	hosts   []string // addresses; "" is the local daemon
	keyFile string
	json    bool

	// Transport security beyond the key: per-frame MACs on tcp://, and
	// how a tls:// daemon is verified.
	frameMAC bool
	tls      netstack.TLSConfig

	// Fan-out to many hosts (fanout.go).
	connectTimeout time.Duration // connect and handshake, per host
	fanout         int           // connects and starts in flight at once

	// -d: a deployment whose hosts and key stand for -w and --key-file
	// (deploy_record.go), and the dial options of its hosts that tacet
	// reaches through ssh, by address (deploy_tunnel.go).
	deployment string
	viaSSH     map[string][]client.Option
}

// command is one subcommand: it parses its own flags from args and
// returns the status to exit with.
type command struct {
	run   func(ctx context.Context, t *cli, args []string) int
	usage string // the synopsis after "tacet"
	help  string // one line
}

// commandDetails give more text for "tacet COMMAND -h", after the flags.
var commandDetails = map[string]func() string{"record": recordDetails}

var commands map[string]command // filled in init: run refers to it through help

func init() {
	commands = map[string]command{
		"run":     {cmdRun, "run [--env K=V]... [--cwd DIR] [--timeout DUR] [--cpus LIST] [--stdin] [--pty] [--mem-only] [--tag T] [--keep] [-b] [--sync [--at TIME]] [--role SET=CMD]... -- ARGV...", "start a process on each host, stream its output, exit with its status"},
		"start":   {cmdStart, "start [--env K=V]... [--cwd DIR] [--timeout DUR] [--cpus LIST] [--pty] [--mem-only] [--tag T] [--wait-output REGEX] [--wait-port PORT] [--wait-timeout DUR] -- ARGV...", "start a process in the background and print its id, once it is ready with --wait-*"},
		"ps":      {cmdPs, "ps", "list the processes the daemon keeps records of"},
		"wait":    {cmdWait, "wait ID", "wait for a process and exit with its status"},
		"kill":    {cmdKill, "kill [-s SIGNAL] [--at TIME] ID | --tag TAG", "signal a process tree (default TERM), on every host with --tag, at one instant with --at"},
		"logs":    {cmdLogs, "logs [-f] [--stream stdout|stderr|pty] ID", "print a process's output; -f follows it to the end"},
		"release": {cmdRelease, "release ID", "make the daemon forget an ended process and its output"},
		"info":    {cmdInfo, "info", "show the daemon's host"},
		"ping":    {cmdPing, "ping [-c N] [-i DUR]", "measure round-trip time and clock offset to each daemon"},
		"stats":   {cmdStats, "stats [--interval DUR] [--count N] [--json]", "show host counters and the daemon's own cost from each daemon"},
		"top":     {cmdTop, "top [--interval DUR] [--count N]", "show the processes tacet started on every host, with their CPU and memory, refreshed"},
		"record":  {cmdRecord, "record [--interval DUR] [--duration DUR | --count N] [--format csv|jsonl] -o FILE", "write samples of every host to CSV or JSON Lines, one row per host per sample"},
		"plot":    {cmdPlot, "plot [--width CM] [--height CM] FILE -o OUT.svg|OUT.png", "draw CPU and memory over time per host from a record file"},
		"certgen": {cmdCertgen, "certgen [--hosts H1,H2] [DIR]", "write a self-signed certificate for a tls:// tacetd and print its pin"},
		"keygen":  {cmdKeygen, "keygen [--force] [PATH]", "write a new key (default " + defaultKeyPathText() + ")"},
		"help":    {cmdHelp, "help", "show this help"},
		"put":     {cmdPut, "put [--sync] [--chain] LOCAL REMOTE", "copy a file or tree to REMOTE on every host, resuming an interrupted copy"},
		"get":     {cmdGet, "get REMOTE LOCALDIR", "copy a file or tree from every host into LOCALDIR/HOST/"},

		// Putting tacetd on hosts over ssh (deploy.go, undeploy.go).
		"deploy":   {cmdDeploy, "deploy -w HOSTS [--name NAME] [--port P] [--transport tcp|kcp] [--ssh-tunnel auto|yes|no] [--key-file K] [--ssh-option OPT]...", "start tacetd on hosts over ssh, copying it there if needed"},
		"undeploy": {cmdUndeploy, "undeploy [-w HOSTS] [--name NAME] [--keep-state] [--keep-running]", "stop a deployment's tacetd and remove what deploy put there"},
	}
}

func main() {
	// SIGHUP too: a terminal closed under tacet run --pty, or an ssh
	// session dropped, ends the remote process as Ctrl-C would.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
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
	if err := t.opts.applyDeployment(name); err != nil {
		return t.fail(err)
	}
	t.json = newJSONLines(stdout)
	return cmd.run(ctx, t, rest)
}

// parseGlobal parses the flags before the command into o and returns the
// command and its arguments.
func parseGlobal(args []string, o *options) (string, []string, error) {
	fs := flag.NewFlagSet("tacet", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	hosts := fs.String("w", "", "hosts: a node set such as `node[1-8],10.0.0.[1-4]:7340`, @oar or @slurm; each host, host:port or a tcp://, unix://, kcp:// URL; default the local daemon's Unix socket")
	exclude := fs.String("x", "", "`HOSTS` to leave out of -w and --hostfile, a node set")
	hostFile := fs.String("hostfile", "", "read hosts from `FILE`, one node set per line, repeats dropped; added to -w")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", defaultConnectTimeout, "bound on the connect and handshake to each host")
	fs.IntVar(&o.fanout, "fanout", defaultFanout, "at most `N` hosts connecting or starting at once")
	fs.StringVar(&o.keyFile, "key-file", "", "key `PATH`; default $TACET_KEY_FILE, else "+defaultKeyPathText())
	fs.BoolVar(&o.json, "json", false, "print one JSON object per line")
	fs.BoolVar(&o.frameMAC, "frame-mac", false, "on tcp://, ask for an HMAC on every frame, so that no one on the path can alter or inject frames")
	fs.StringVar(&o.tls.CAFile, "tls-ca", "", "for tls://, verify the daemon's certificate against the CA in `FILE`")
	fs.StringVar(&o.tls.Pin, "tls-pin", "", "for tls://, accept only a daemon whose key has this SHA-256 `PIN` (hex, as tacetd prints it)")
	fs.StringVar(&o.tls.CertFile, "tls-cert", "", "for tls://, present the client certificate in `FILE`")
	fs.StringVar(&o.tls.KeyFile, "tls-key", "", "for tls://, the private key of --tls-cert, in `FILE`")
	fs.StringVar(&o.deployment, "d", "", "deployment `NAME` saved by tacet deploy: its hosts and key stand for -w and --key-file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", nil, err
		}
		return "", nil, usagef(err.Error())
	}
	if fs.NArg() == 0 {
		return "", nil, usagef("no command given")
	}
	if o.connectTimeout <= 0 || o.fanout < 1 {
		return "", nil, usagef("--connect-timeout must be positive and --fanout at least 1")
	}
	var err error
	if o.hosts, err = selectHosts(*hosts, *exclude, *hostFile); err != nil {
		return "", nil, err
	}
	return fs.Arg(0), fs.Args()[1:], nil
}
