// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// Terminal control for top's in-place refresh: cursor home, then clear
// to the end of the screen, so that a frame overwrites the last one
// without flicker. Plain ANSI is all a live table needs.
const ansiHomeClear = "\x1b[H\x1b[J"

// topRecord is the JSON form of one process tree in one frame of top.
type topRecord struct {
	Host  string   `json:"host"`
	Real  uint64   `json:"real_ns"` // the daemon's clock at the sample
	ID    string   `json:"id"`
	PID   uint32   `json:"pid"`
	Procs int      `json:"procs"`   // the process and its descendants alive
	CPU   float64  `json:"cpu_pct"` // of one CPU since the previous sample; -1 first
	RSS   uint64   `json:"rss_bytes"`
	Argv  []string `json:"argv"`
}

// topTree is one started process and its descendants in one sample.
type topTree struct {
	handle uint64
	pid    uint32
	procs  int
	cpu    float64 // percent of one CPU, -1 unknown
	rss    uint64
}

// topHost is what top knows of one host.
type topHost struct {
	addr  string
	c     *client.Client
	sub   *client.Samples
	rows  hostRows
	row   *sampleRow // latest
	trees []topTree  // latest, by CPU
	argv  map[uint64][]string
	cpu   map[procKey]uint64 // CPU ns of each process at the previous sample
	fresh bool               // a sample came since the last frame
	err   error
}

func cmdTop(ctx context.Context, t *cli, args []string) int {
	fs := newFlags("top")
	interval := fs.Duration("interval", 2*time.Second, "refresh every `DUR`")
	count := fs.Int("count", 0, "stop after `N` frames; default until interrupted")
	if err := t.parseFlags(fs, args); err != nil {
		return helpOrFail(t, err)
	}
	if fs.NArg() != 0 {
		return t.fail(usagef("top takes no arguments"))
	}
	if *interval <= 0 || *count < 0 {
		return t.fail(usagef("top: --interval must be positive and --count not negative"))
	}

	g := client.DialGroup(ctx, t.opts.hosts, client.GroupConfig{Fanout: t.opts.fanout,
		Timeout: t.opts.connectTimeout, Options: t.dialOptions()})
	defer g.Close()
	hosts := make([]*topHost, g.Len())
	g.Each(ctx, func(ctx context.Context, i int, c *client.Client) error {
		h := &topHost{addr: g.Addr(i), c: c, rows: hostRows{host: hostName(g.Addr(i))},
			argv: map[uint64][]string{}}
		h.sub, h.err = c.SubscribeSamples(ctx, &codec.SampleArgs{Period: uint64(*interval),
			Sources: []string{codec.SourceCPU, codec.SourceMem, codec.SourceProc}})
		hosts[i] = h
		return nil
	})
	live := 0
	for i, h := range hosts {
		if h == nil {
			hosts[i] = &topHost{addr: g.Addr(i), err: g.Err(i)}
			continue
		}
		if h.sub != nil {
			defer h.sub.Close()
			live++
		}
	}
	if live == 0 {
		return t.fail(fmt.Errorf("no host could be sampled: %w", hosts[0].err))
	}
	return t.topLoop(ctx, hosts, *interval, *count)
}

// topLoop draws a frame once every live host has sent a sample since
// the last frame, or after two intervals at most, so that one slow host
// does not freeze the view.
func (t *cli) topLoop(ctx context.Context, hosts []*topHost, every time.Duration, count int) int {
	type arrival struct {
		i int
		s *codec.Sample
	}
	in, done := make(chan arrival), make(chan struct{})
	defer close(done)
	for i, h := range hosts {
		if h.sub == nil {
			continue
		}
		go func() {
			// A nil sample after the last says the subscription ended.
			for s := range h.sub.C() {
				select {
				case in <- arrival{i, s}:
				case <-done:
					return
				}
			}
			select {
			case in <- arrival{i, nil}:
			case <-done:
			}
		}()
	}

	term := isTerminal(t.stdout) && !t.opts.json
	late := time.NewTimer(2 * every)
	defer late.Stop()
	for frames := 0; count == 0 || frames < count; {
		select {
		case <-ctx.Done():
			return exitOK
		case a := <-in:
			if h := hosts[a.i]; a.s == nil {
				h.sub, h.trees = nil, nil
				if h.err = h.c.Err(); h.err == nil {
					h.err = errors.New("sampling ended")
				}
				if !anyLive(hosts) {
					t.topFrame(hosts, term, frames)
					return exitUnreachable
				}
			} else {
				t.topUpdate(ctx, h, a.s)
			}
			if !allFresh(hosts) {
				continue
			}
		case <-late.C:
		}
		t.topFrame(hosts, term, frames)
		frames++
		for _, h := range hosts {
			h.fresh = false
		}
		late.Reset(2 * every)
	}
	return exitOK
}

func anyLive(hosts []*topHost) bool {
	for _, h := range hosts {
		if h.sub != nil {
			return true
		}
	}
	return false
}

func allFresh(hosts []*topHost) bool {
	for _, h := range hosts {
		if h.sub != nil && !h.fresh {
			return false
		}
	}
	return true
}

// topUpdate folds one sample of h into its trees: CPU over the interval
// counts only the processes seen at both ends.
func (t *cli) topUpdate(ctx context.Context, h *topHost, s *codec.Sample) {
	prev := h.row
	h.row, h.fresh = h.rows.row(s), true
	secs := 0.0
	if prev != nil && h.row.mono > prev.mono {
		secs = float64(h.row.mono-prev.mono) / 1e9
	}

	now := make(map[procKey]uint64, len(s.Proc))
	byHandle := map[uint64]*topTree{}
	var order []uint64
	for _, p := range s.Proc {
		if p.Handle == 0 {
			continue
		}
		tr := byHandle[p.Handle]
		if tr == nil {
			// A handle's main process comes first (spec 12.5).
			tr = &topTree{handle: p.Handle, pid: p.PID, cpu: -1}
			byHandle[p.Handle] = tr
			order = append(order, p.Handle)
		}
		k, cpu := procKey{p.PID, p.Start}, p.UserNs+p.SysNs
		now[k] = cpu
		tr.procs++
		tr.rss += p.RSS
		if before, ok := h.cpu[k]; ok && secs > 0 && cpu >= before {
			tr.cpu = max(tr.cpu, 0) + 100*float64(cpu-before)/1e9/secs
		}
	}
	h.cpu = now

	h.trees = h.trees[:0]
	missing := false
	for _, hd := range order {
		h.trees = append(h.trees, *byHandle[hd])
		_, known := h.argv[hd]
		missing = missing || !known
	}
	slices.SortStableFunc(h.trees, func(a, b topTree) int { return cmp.Compare(b.cpu, a.cpu) })
	if missing {
		t.topArgv(ctx, h)
	}
}

// topArgv learns the command lines of h's processes from proc.list.
func (t *cli) topArgv(ctx context.Context, h *topHost) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	procs, err := h.c.List(ctx)
	if err != nil {
		return
	}
	for _, p := range procs {
		argv := make([]string, len(p.Argv))
		for i, a := range p.Argv {
			argv[i] = string(a)
		}
		h.argv[p.Handle] = argv
	}
	for _, tr := range h.trees {
		if _, ok := h.argv[tr.handle]; !ok {
			h.argv[tr.handle] = nil // not listed: do not ask again
		}
	}
}

// topFrame prints one frame: a line per host, then the process trees
// of every host, busiest first.
func (t *cli) topFrame(hosts []*topHost, term bool, n int) {
	if t.opts.json {
		for _, h := range hosts {
			if h.row == nil {
				continue
			}
			for _, tr := range h.trees {
				t.json.write(topRecord{Host: h.rows.host, Real: h.row.real, ID: formatID(tr.handle),
					PID: tr.pid, Procs: tr.procs, CPU: tr.cpu, RSS: tr.rss, Argv: h.argv[tr.handle]})
			}
		}
		return
	}

	var b bytes.Buffer
	if term {
		b.WriteString(ansiHomeClear)
	} else if n > 0 {
		b.WriteByte('\n')
	}
	noun := "hosts"
	if len(hosts) == 1 {
		noun = "host"
	}
	fmt.Fprintf(&b, "tacet top: %d %s, %s\n", len(hosts), noun, time.Now().Format("15:04:05"))
	tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tCPU%\tMEM USED\tMEM TOTAL\tTACETD")
	for _, h := range hosts {
		switch {
		case h.err != nil:
			fmt.Fprintf(tw, "%s\t%s\n", hostName(h.addr), shortError(h.err, hostName(h.addr)))
		case h.row == nil:
			fmt.Fprintf(tw, "%s\twaiting for a sample\n", hostName(h.addr))
		default:
			r := h.row
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.host, pct(100*r.cpuBusy), bytesHuman(float64(r.memTotal-r.memAvail)),
				bytesHuman(float64(r.memTotal)), pct(100*r.selfBusy))
		}
	}
	tw.Flush()

	b.WriteByte('\n')
	tw = tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tID\tPID\tPROCS\tCPU%\tRSS\tCOMMAND")
	for _, h := range hosts {
		for _, tr := range h.trees {
			cmd := strings.Join(h.argv[tr.handle], " ")
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", h.rows.host, formatID(tr.handle), tr.pid, tr.procs,
				pct(tr.cpu), bytesHuman(float64(tr.rss)), cmd)
		}
	}
	tw.Flush()
	out := b.Bytes()
	if width := termWidth(t.stdout); term && width > 0 {
		out = cutLines(out, width)
	}
	t.stdout.Write(out)
}

// cutLines cuts every line of b to width characters, as top does, so
// that a long command line does not wrap and scroll the frame away.
func cutLines(b []byte, width int) []byte {
	var out []byte
	for line := range bytes.Lines(b) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		if r := []rune(string(line)); len(r) > width {
			line = []byte(string(r[:width]))
		}
		out = append(append(out, line...), '\n')
	}
	return out
}

// pct formats a percentage, or "-" for an unknown (negative) one.
func pct(p float64) string {
	if p < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", p)
}

// termWidth returns the width of the terminal w is, or 0.
func termWidth(w any) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
