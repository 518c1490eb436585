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
HOSTS is a comma-separated list of host, host:port ([::1]:7340 for IPv6)
or tcp://, kcp://, unix:///path URLs; the default port is 7340. Without
-w, tacet talks to the local daemon's Unix socket. run, start, ps, info
and ping go through the hosts one after the other; wait, kill, logs and
release take one host, since a process ID belongs to one daemon.

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
record; ps prints one object per process, info one per host.
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
