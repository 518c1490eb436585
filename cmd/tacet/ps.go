// SPDX-License-Identifier: Apache-2.0

package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"text/tabwriter"

	"gitlab.com/tacet/tacet/codec"
)

// procRecord is the JSON form of one line of ps.
type procRecord struct {
	Host    string   `json:"host"`
	ID      string   `json:"id"`
	PID     uint32   `json:"pid"`
	Tag     string   `json:"tag,omitempty"`
	State   string   `json:"state"`
	Exit    string   `json:"exit"`
	Argv    []string `json:"argv"`
	Lengths []uint64 `json:"lengths"`
	Real    uint64   `json:"start_real_ns"`
}

func cmdPs(ctx context.Context, t *cli, args []string) int {
	fs := newFlags("ps")
	if err := t.parseFlags(fs, args); err != nil {
		return helpOrFail(t, err)
	}
	if fs.NArg() != 0 {
		return t.fail(usagef("ps takes no arguments"))
	}

	tw := tabwriter.NewWriter(t.stdout, 2, 8, 2, ' ', 0)
	many := len(t.opts.hosts) > 1
	header := !t.opts.json // printed once a host has answered
	status := t.eachHost(func(addr string) int {
		c, err := t.dial(ctx, addr)
		if err != nil {
			return t.fail(err)
		}
		defer c.Close()
		procs, err := c.List(ctx)
		if err != nil {
			return t.fail(err)
		}
		if header {
			if many {
				fmt.Fprint(tw, "HOST\t")
			}
			fmt.Fprintln(tw, "ID\tPID\tSTATE\tEXIT\tARGV")
			header = false
		}
		slices.SortFunc(procs, func(a, b codec.ProcInfo) int {
			return cmp.Or(cmp.Compare(a.Real, b.Real), cmp.Compare(a.Handle, b.Handle))
		})
		for i := range procs {
			t.psLine(tw, addr, many, &procs[i])
		}
		return exitOK
	})
	tw.Flush()
	return status
}

func (t *cli) psLine(tw *tabwriter.Writer, addr string, many bool, p *codec.ProcInfo) {
	if t.opts.json {
		argv := make([]string, len(p.Argv))
		for i, a := range p.Argv {
			argv[i] = string(a)
		}
		t.json.write(procRecord{Host: hostName(addr), ID: formatID(p.Handle), PID: p.PID, Tag: p.Tag,
			State: p.State, Exit: exitColumn(p), Argv: argv, Lengths: p.Lengths, Real: p.Real})
		return
	}
	if many {
		fmt.Fprintf(tw, "%s\t", hostName(addr))
	}
	fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", formatID(p.Handle), p.PID, p.State, exitColumn(p), quoteArgv(p.Argv))
}

// exitColumn says how a process ended: its code, the signal, or the step
// of a failed start; "-" while it runs.
func exitColumn(p *codec.ProcInfo) string {
	switch p.State {
	case "exited":
		ex := &p.Exit
		s := fmt.Sprint(ex.Code)
		switch {
		case ex.Unknown:
			s = "unknown"
		case ex.Signal != 0:
			s = signalName(ex.Signal)
			if ex.Core {
				s += "+core"
			}
		}
		if ex.Why != "" {
			s += " (" + ex.Why + ")"
		}
		return s
	case "failed":
		return p.Fail.Step + ": " + p.Fail.Sys
	}
	return "-"
}
