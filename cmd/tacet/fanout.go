// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// Defaults of the global fan-out flags.
const (
	defaultConnectTimeout = client.DefaultConnectTimeout
	defaultFanout         = client.DefaultFanout
)

// fanFlags are the flags of run that only a fan-out uses.
type fanFlags struct {
	gather bool
	sync   bool
	at     string
	roles  roleList
}

// role is one --role SET=CMD: the hosts of SET run /bin/sh -c CMD.
type role struct {
	hosts []string
	cmd   string
}

// roleList collects repeated --role flags.
type roleList []role

func (r *roleList) String() string { return "" }

func (r *roleList) Set(s string) error {
	set, cmd, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(set) == "" || cmd == "" {
		return fmt.Errorf("%q is not SET=CMD", s)
	}
	hosts, err := expandNodeSet(set)
	if err != nil {
		return err
	}
	if err := checkAddrs(hosts); err != nil {
		return err
	}
	*r = append(*r, role{hosts: hosts, cmd: cmd})
	return nil
}

// wantsFanout reports whether run takes the fan-out path: several
// hosts, or a flag that only it knows.
func (f *fanFlags) wantsFanout(hosts []string) bool {
	return len(hosts) > 1 || f.gather || f.sync || len(f.roles) > 0
}

// fanPlan is what each host of a fan-out runs.
type fanPlan struct {
	hosts []string           // addresses as written, which are also the labels
	args  []*codec.StartArgs // per host, placeholders expanded
}

// plan decides the hosts and their commands: the hosts of -w run argv,
// those of a --role its command; a host in both takes its first role.
// Without -w only the roles' hosts run.
func (f *fanFlags) plan(t *cli, sf *startFlags, argv []string) (*fanPlan, error) {
	hosts := t.opts.hosts
	if len(hosts) == 1 && hosts[0] == "" && len(f.roles) > 0 {
		hosts = nil
	}
	cmds := make(map[string][]string)
	for _, r := range f.roles {
		for _, h := range r.hosts {
			if _, ok := cmds[h]; ok {
				continue
			}
			cmds[h] = []string{"/bin/sh", "-c", r.cmd}
			if !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}

	p := &fanPlan{hosts: hosts}
	for i, h := range hosts {
		hv := argv
		if c, ok := cmds[h]; ok {
			hv = c
		}
		if len(hv) == 0 {
			return nil, usagef(fmt.Sprintf("host %s has no command: give -- ARGV or a --role for it", hostName(h)))
		}
		a, err := sf.startArgs(expandVars(hv, h, i, len(hosts)))
		if err != nil {
			return nil, err
		}
		a.Cwd = []byte(expandVar(string(a.Cwd), h, i, len(hosts)))
		for j, kv := range a.Env.Set {
			a.Env.Set[j] = []byte(expandVar(string(kv), h, i, len(hosts)))
		}
		a.Env.Set = append(a.Env.Set, []byte("TACET_HOST="+hostVar(h)),
			[]byte("TACET_INDEX="+strconv.Itoa(i)), []byte("TACET_COUNT="+strconv.Itoa(len(hosts))))
		a.Stage = f.sync
		p.args = append(p.args, a)
	}
	return p, nil
}

// expandVars returns argv with the placeholders of host i of n replaced.
func expandVars(argv []string, addr string, i, n int) []string {
	out := make([]string, len(argv))
	for j, s := range argv {
		out[j] = expandVar(s, addr, i, n)
	}
	return out
}

// expandVar replaces {host} (the host name, without port), {addr} (the
// address as given), {index} (from 0) and {count} in s.
func expandVar(s, addr string, i, n int) string {
	if !strings.Contains(s, "{") {
		return s
	}
	return strings.NewReplacer("{host}", hostVar(addr), "{addr}", hostName(addr),
		"{index}", strconv.Itoa(i), "{count}", strconv.Itoa(n)).Replace(s)
}

// hostVar is {host}: the host without port, or this machine's name for
// the local daemon.
func hostVar(addr string) string {
	if addr == "" || strings.HasPrefix(addr, "unix:") || strings.HasPrefix(addr, "/") {
		h, _ := os.Hostname()
		return h
	}
	return hostPart(addr)
}

// hostResult is how one host of a fan-out ended.
type hostResult struct {
	status int
	what   string // for the summary: "exit 0", "SIGKILL", the error
	dur    time.Duration
	exit   *codec.Exit
	out    [2]*gatherWriter // with -b: stdout and stderr
	exec   time.Time        // with --sync: the exec instant, in our clock
}

// fanRun is one run over many hosts.
type fanRun struct {
	t       *cli
	f       *fanFlags
	plan    *fanPlan
	g       *client.Group
	sink    *sink
	prog    *progress
	sem     chan struct{} // bounds the starts in flight
	begin   time.Time
	results []hostResult

	mu    sync.Mutex // guards procs
	procs []*client.Process

	// --sync only, set before the triggers are sent.
	syncAt time.Time
	ests   []client.ClockEstimate
}

func (t *cli) runMany(ctx context.Context, f *fanFlags, p *fanPlan) int {
	at, err := parseAt(f.at, time.Now())
	if err != nil {
		return t.fail(err)
	}
	r := &fanRun{t: t, f: f, plan: p, sink: &sink{stderr: t.stderr},
		prog: &progress{total: len(p.hosts)}, sem: make(chan struct{}, t.opts.fanout),
		results: make([]hostResult, len(p.hosts)), procs: make([]*client.Process, len(p.hosts)),
		begin: time.Now()}

	stop, shown := make(chan struct{}), make(chan struct{})
	if isTerminal(t.stderr) && !t.opts.json {
		go r.prog.show(r.sink, stop, shown)
	} else {
		close(shown)
	}

	r.g = client.DialGroup(ctx, p.hosts, client.GroupConfig{Fanout: t.opts.fanout,
		Timeout: t.opts.connectTimeout, Options: t.dialOptions(), HostOptions: t.hostOptions})
	defer r.g.Close()
	if f.sync {
		r.runSync(ctx, at)
	} else {
		r.parallel(func(i int) { r.host(ctx, i, nil) })
	}
	close(stop)
	<-shown

	if ctx.Err() != nil {
		r.interrupt()
	}
	return r.report(ctx)
}

// parallel runs fn for every host at once and waits for them.
func (r *fanRun) parallel(fn func(i int)) {
	var wg sync.WaitGroup
	for i := range r.plan.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	wg.Wait()
}

// host runs the process of host i from its start, or from the staged
// process p, to its end, copying its output.
func (r *fanRun) host(ctx context.Context, i int, p *client.Process) {
	res := &r.results[i]
	begin := time.Now()
	c := r.g.Client(i)
	if c == nil {
		r.failed(i, r.g.Err(i))
		return
	}
	if p == nil {
		var err error
		r.sem <- struct{}{}
		p, err = c.Start(ctx, r.plan.args[i])
		<-r.sem
		if err != nil {
			r.failed(i, err)
			return
		}
		r.started(i, p)
	}

	var wg sync.WaitGroup
	var copied atomic.Int32
	writers := r.writers(i, p.Handle)
	for s, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dial := func() (*client.Client, error) { return c, nil }
			err := client.Follow(ctx, dial, p.Handle, uint8(s+1), 0, w)
			if err != nil && ctx.Err() == nil {
				r.sink.emit(r.t.stderr, fmt.Appendf(nil, "tacet: %s: %s: %v\n", hostName(r.plan.hosts[i]),
					streamName(uint8(s+1)), err))
			}
			if err == nil {
				copied.Add(1)
			}
			w.flush()
		}()
	}
	ex, err := p.Wait(ctx)
	wg.Wait()
	if err != nil {
		r.failed(i, err)
		return
	}
	if copied.Load() == int32(len(writers)) && r.t.releases() {
		// As tacet run on one host: nothing is left on the daemon that
		// no one will read. A failed release only leaves the records.
		if err := p.Release(ctx); err != nil && ctx.Err() == nil {
			r.sink.emit(r.t.stderr, fmt.Appendf(nil, "tacet: %s: release process %s: %v\n",
				hostName(r.plan.hosts[i]), formatID(p.Handle), err))
		}
	}
	res.exit, res.status, res.what = ex, exitStatus(ex), exitText(ex)
	res.dur = time.Since(begin)
	if ex.Times.ExecMono != 0 && ex.Times.EndMono > ex.Times.ExecMono {
		res.dur = time.Duration(ex.Times.EndMono - ex.Times.ExecMono)
	}
	if r.t.opts.json {
		r.t.json.write(newExitRecord(r.plan.hosts[i], ex))
	}
	r.prog.finished.Add(1)
	if res.status != exitOK {
		r.prog.failed.Add(1)
	}
}

// flushWriter is an output writer that holds a last partial line.
type flushWriter interface {
	outputWriter
	flush()
}

// writers returns where host i's stdout and stderr go.
func (r *fanRun) writers(i int, h uint64) [2]flushWriter {
	addr := r.plan.hosts[i]
	if r.t.opts.json {
		return [2]flushWriter{
			noFlush{r.t.outWriter(addr, h, codec.Stdout, nil)},
			noFlush{r.t.outWriter(addr, h, codec.Stderr, nil)},
		}
	}
	if r.f.gather {
		res := &r.results[i]
		res.out = [2]*gatherWriter{{stream: "stdout"}, {stream: "stderr"}}
		return [2]flushWriter{res.out[0], res.out[1]}
	}
	label := hostName(addr)
	return [2]flushWriter{
		&prefixWriter{s: r.sink, w: r.t.stdout, label: label},
		&prefixWriter{s: r.sink, w: r.t.stderr, label: label},
	}
}

type noFlush struct{ outputWriter }

func (noFlush) flush() {}

func (r *fanRun) started(i int, p *client.Process) {
	r.mu.Lock()
	r.procs[i] = p
	r.mu.Unlock()
	r.prog.started.Add(1)
	if r.t.opts.json {
		r.t.json.write(startRecord{Host: hostName(r.plan.hosts[i]), Event: "start",
			ID: formatID(p.Handle), PID: p.PID})
	}
}

// failed records that host i could not run its process.
func (r *fanRun) failed(i int, err error) {
	res := &r.results[i]
	res.status = statusFor(err)
	res.what = shortError(err, hostName(r.plan.hosts[i]))
	res.dur = time.Since(r.begin)
	r.prog.finished.Add(1)
	r.prog.failed.Add(1)
}

// interrupt ends every process tree started, as Ctrl-C on run does for
// one host.
func (r *fanRun) interrupt() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.mu.Lock()
	procs := slices.Clone(r.procs)
	r.mu.Unlock()
	errs := r.g.Signal(ctx, procs, syscall.SIGTERM, true)
	n := 0
	for i, err := range errs {
		if procs[i] != nil && err == nil {
			n++
		}
	}
	fmt.Fprintf(r.t.stderr, "tacet: interrupted; sent SIGTERM to %d process trees\n", n)
}

// shortError is err for the summary: without the host, which the row
// names, and the usual dial failures in a few words.
func shortError(err error, host string) string {
	var de *client.DialError
	switch {
	case !errors.As(err, &de):
	case errors.Is(err, syscall.ECONNREFUSED):
		return "unreachable: connection refused"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "unreachable: no handshake within the connect timeout"
	}
	return strings.TrimPrefix(err.Error(), host+": ")
}

// exitText says how a process ended, for the summary.
func exitText(ex *codec.Exit) string {
	s := "exit " + strconv.Itoa(int(ex.Code))
	switch {
	case ex.Unknown:
		s = "unknown"
	case ex.Signal != 0:
		s = signalName(ex.Signal)
	}
	if ex.Why != "" {
		s += " (" + ex.Why + ")"
	}
	return s
}

// report prints the gathered output and the summary and returns run's
// status: 0 when every host succeeded, the status they share when all
// ended alike, else 1.
func (r *fanRun) report(ctx context.Context) int {
	labels := make([]string, len(r.plan.hosts))
	for i, h := range r.plan.hosts {
		labels[i] = hostName(h)
	}
	if r.f.gather {
		for s, w := range []io.Writer{r.t.stdout, r.t.stderr} {
			outs := make([][]byte, len(r.results))
			for i := range r.results {
				if g := r.results[i].out[s]; g != nil {
					outs[i] = g.Bytes()
				}
			}
			writeGathered(w, labels, outs)
		}
	}

	tw := tabwriter.NewWriter(r.t.stderr, 2, 8, 2, ' ', 0)
	fmt.Fprint(tw, "HOST\tSTATUS\tTIME")
	if r.f.sync {
		fmt.Fprint(tw, "\tSTART")
	}
	fmt.Fprintln(tw)
	failed := 0
	for i := range r.results {
		res := &r.results[i]
		if res.status != exitOK {
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s", labels[i], res.what, res.dur.Round(time.Microsecond))
		if r.f.sync {
			fmt.Fprintf(tw, "\t%s", r.startText(res))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if r.f.sync {
		r.reportSpread()
	}
	fmt.Fprintf(r.t.stderr, "tacet: %d hosts: %d succeeded, %d failed\n", len(r.results),
		len(r.results)-failed, failed)
	if ctx.Err() != nil {
		return exitInterrupted
	}
	return commonStatus(r.results)
}

// commonStatus is 0 when all succeeded, the status all share, else 1.
func commonStatus(results []hostResult) int {
	if len(results) == 0 {
		return exitOK
	}
	s := results[0].status
	for _, res := range results[1:] {
		if res.status != s {
			return exitFailed
		}
	}
	return s
}
