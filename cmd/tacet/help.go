// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
)

func cmdHelp(ctx context.Context, t *cli, args []string) int {
	writeHelp(t.stdout)
	return exitOK
}

const helpTail = `
HOSTS is a node set: a comma-separated list of host, host:port ([::1]:7340
for IPv6) or tcp://, kcp://, unix:///path URLs, where brackets expand to
ranges as in ClusterShell and Slurm: node[1-32,40], node[01-10] (padded),
r[1-2]n[1-3], 10.0.0.[1-8]:7340. @oar names the hosts of $OAR_NODEFILE,
@slurm those of $SLURM_JOB_NODELIST; neither is read unless named.
--hostfile adds a file of node sets, one per line; -x removes hosts. The
default port is 7340. Without -w, tacet talks to the local daemon's Unix
socket. wait, kill ID, logs and release take one host, since a process ID
belongs to one daemon; start, ps and info go through the hosts in turn.

run and ping reach every host at once: at most --fanout (64) connecting
or starting together, each connect bounded by --connect-timeout (5s); a
host that does not answer is a failure in the summary, not a hang. run
prefixes each line of output with its host ("host: line"), or with -b
prints one block per distinct output after the end; then a summary of
every host (status, time) on stderr, and on a terminal a progress line.
In ARGV, --env and --cwd, {host}, {addr}, {index} and {count} are
replaced per host; the process also gets TACET_HOST, TACET_INDEX and
TACET_COUNT. --role SET=CMD (repeatable) makes the hosts of SET run
/bin/sh -c CMD instead of ARGV. --sync stages the process on every host,
measures each daemon's clock, and releases all at one instant (--at, or
500ms after staging); the summary shows when each program began and the
spread. With several hosts, run exits 0 if every host succeeded, with
the status all hosts share if they ended alike, else 1.

start --wait-output REGEX returns once a line of the process's stdout or
stderr matches; --wait-port PORT once PORT accepts TCP connections on the
process's host, probed by that host's daemon (so a server bound to its
loopback counts); both within --wait-timeout (30s), past which the tree
gets SIGTERM and start exits 1. With several hosts all are awaited at
once. kill --tag TAG signals the live process started with --tag TAG on
every host; --at TIME (RFC 3339 or +DUR) sends it at one instant, each
daemon's clock offset measured first and accounted for, and prints how
long after the instant each daemon sent it.

top shows every host's CPU and memory and each process tree tacet
started there with its CPU (100 = one CPU) and RSS, redrawn in place on
a terminal, else printed frame after frame (--count N stops). record
writes one row per host per sample to CSV or JSON Lines (tacet record -h
lists the columns); plot draws CPU and memory per host from such a file
into SVG or PNG.

A process ID is the hexadecimal handle that start and ps print.

The key is read from --key-file, else $TACET_KEY_FILE, else the default
path if it exists; a local daemon without a key needs none.

Exit status:
  0        success
  1        the daemon refused the request, or the exit status is unknown
  2        bad command line
  125      run, start: the process could not be started (the message
           names the step that failed and its errno)
  126      the daemon could not be reached, refused the key, or the
           connection was lost and could not be made again
  N        run, wait: the process exited with status N
  128+S    run, wait: the process was ended by signal S; when the daemon
           ended it (timeout, OOM kill, lease) tacet prints "killed: WHY"
  130      run: interrupted; tacet sent SIGTERM to the process tree
A process may itself exit with 1, 2 or 125 to 127: use --json to tell
those apart from tacet's own statuses.

With --json every line of stdout is one JSON object: run prints a start
record, one record per output chunk (data in base64) or gap, and the exit
record; ps prints one object per process, info one per host, kill one per
host, top one per process tree and frame.
`

func writeHelp(w io.Writer) {
	fmt.Fprintln(w, "usage: tacet [-w HOSTS] [--key-file PATH] [--json] COMMAND [ARGS]")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(w, "  %-8s %s\n           tacet %s\n", n, c.help, c.usage)
	}
	fmt.Fprint(w, strings.Replace(helpTail, "\n", "", 1))
}
