// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// exitInterrupted is run's status when tacet itself was interrupted, as
// a shell reports SIGINT.
const exitInterrupted = 130

// startFlags are the flags of run and start.
type startFlags struct {
	env     envList
	cwd     string
	timeout time.Duration
	cpus    string
	stdin   bool
	tag     string
	memOnly bool
	pty     bool
	collect pathList // paths to collect when the process exits
	into    string   // where run puts what it collected
}

func newStartFlags(name string) (*flag.FlagSet, *startFlags) {
	fs := newFlags(name)
	f := new(startFlags)
	fs.Var(&f.env, "env", "set `K=V` in the environment, which is otherwise the daemon's; repeatable")
	fs.StringVar(&f.cwd, "cwd", "", "working `DIR` on the host; default the daemon's")
	fs.DurationVar(&f.timeout, "timeout", 0, "send SIGTERM to the tree after `DUR`, SIGKILL 2s later; default none")
	fs.StringVar(&f.cpus, "cpus", "", "CPU affinity `LIST`, e.g. 0-3,6; default the daemon's")
	fs.BoolVar(&f.stdin, "stdin", false, "forward tacet's stdin to the process; default /dev/null")
	fs.StringVar(&f.tag, "tag", "", "idempotency `TAG`: a retry with the same tag and argv starts nothing new")
	fs.BoolVar(&f.memOnly, "mem-only", false, "keep the output in the daemon's memory only, the newest 8 MiB of each stream, with no spool file: "+
		"a child that writes fast is then slowed by its output no more than by a pipe that a reader drains, but what no reader takes in time is lost, "+
		"reported as a gap, and the daemon's death loses it all")
	fs.BoolVar(&f.pty, "pty", false, "run on a pseudo-terminal on the host, stdout and stderr merged on it; run forwards its stdin to it, "+
		"in raw mode when that is a terminal, so that every key, Ctrl-C included, reaches the process as at a local terminal, and follows the window's size. "+
		"To leave a process that ignores its keys, close the terminal or signal tacet from another: its tree gets SIGTERM. "+
		"Piped input is echoed by the remote terminal, as typed input would be")
	fs.Var(&f.collect, "collect", "`PATH` on the host to keep when the process exits; run fetches it into --collect-dir; repeatable")
	fs.StringVar(&f.into, "collect-dir", "collected", "local `DIR` for the files of --collect, one subdirectory per host")
	return fs, f
}

// startArgs builds proc.start's arguments from the flags and argv.
func (f *startFlags) startArgs(argv []string) (*codec.StartArgs, error) {
	if len(argv) == 0 {
		return nil, usagef("no command given after the flags (tacet run [FLAGS] -- ARGV...)")
	}
	if f.timeout < 0 {
		return nil, usagef("--timeout must not be negative")
	}
	cpus, err := parseCPUs(f.cpus)
	if err != nil {
		return nil, err
	}
	a := &codec.StartArgs{Cwd: []byte(f.cwd), CPUs: cpus, Timeout: uint64(f.timeout), Tag: f.tag}
	a.Output.MemOnly = f.memOnly
	for _, s := range argv {
		a.Argv = append(a.Argv, []byte(s))
	}
	for _, kv := range f.env {
		a.Env.Set = append(a.Env.Set, []byte(kv))
	}
	for _, path := range f.collect {
		a.Collect = append(a.Collect, []byte(path))
	}
	if f.stdin || f.pty {
		a.Stdin.Mode = "pipe"
	}
	a.Output.PTY = f.pty
	return a, nil
}

func cmdRun(ctx context.Context, t *cli, args []string) int {
	fs, sf := newStartFlags("run")
	var ff fanFlags
	fs.BoolVar(&ff.gather, "b", false, "gather output: one block per distinct output, headed by its hosts, after all have ended")
	fs.BoolVar(&ff.sync, "sync", false, "stage on every host, then release all at one instant (--at), each daemon's clock offset accounted for")
	fs.StringVar(&ff.at, "at", "", "with --sync, the instant: RFC 3339 `TIME` or +DUR from now; default 500ms after staging")
	fs.Var(&ff.roles, "role", "`SET=CMD`: the hosts of node set SET run /bin/sh -c CMD instead of ARGV; repeatable")
	fs.BoolVar(&t.keep, "keep", false, "keep the ended process's output and exit record on the daemon (tacet logs ID, then tacet release ID); by default run releases them once it has copied everything, which ends whatever the process left running in its cgroup, unless --tag is given")
	if err := t.parseFlags(fs, args); err != nil {
		return helpOrFail(t, err)
	}
	if ff.at != "" && !ff.sync {
		return t.fail(usagef("--at needs --sync"))
	}
	t.collectDir = sf.into
	t.tagged = sf.tag != ""
	if ff.wantsFanout(t.opts.hosts) {
		if len(sf.collect) > 0 {
			return t.fail(usagef("--collect takes one host for now; use tacet get for many"))
		}
		if sf.stdin {
			return t.fail(usagef("--stdin takes one host: tacet's stdin can be read once"))
		}
		if sf.pty {
			return t.fail(usagef("--pty takes one host, without -b, --sync or --role: tacet has one terminal"))
		}
		p, err := ff.plan(t, sf, fs.Args())
		if err != nil {
			return t.fail(err)
		}
		return t.runMany(ctx, &ff, p)
	}
	a, err := sf.startArgs(fs.Args())
	if err != nil {
		return t.fail(err)
	}
	return t.runOn(ctx, t.opts.hosts[0], a)
}

// runOn starts a on one host, copies its output until the end of both
// streams, and returns its exit status. A dropped connection is made
// again, and output resumes from the last byte written.
func (t *cli) runOn(ctx context.Context, addr string, a *codec.StartArgs) int {
	r := t.redialer(addr)
	defer r.Close()
	c, err := r.Client(ctx)
	if err != nil {
		return t.fail(err)
	}
	streams := []uint8{codec.Stdout, codec.Stderr}
	var lt *localTerminal
	if a.Output.PTY {
		streams = []uint8{codec.PTY}
		lt = t.openTerminal()
		defer lt.restore()
		a.Output.Rows, a.Output.Cols = lt.size()
	}
	p, err := c.Start(ctx, a)
	if err != nil {
		return t.fail(err)
	}
	if lt != nil {
		// Raw only now, so that a start that fails is reported on the
		// terminal as it was.
		if err := lt.makeRaw(); err != nil {
			t.warnf(addr, "terminal: %v; keys are not forwarded one by one", err)
		}
	}
	if t.opts.json {
		t.json.write(startRecord{Host: hostName(addr), Event: "start", ID: formatID(p.Handle), PID: p.PID})
	}

	outCtx, stopOut := context.WithCancel(ctx)
	defer stopOut()
	var wg sync.WaitGroup
	outErr := make([]error, len(streams))
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dial := func() (*client.Client, error) { return r.Client(outCtx) }
			outErr[i] = client.Follow(outCtx, dial, p.Handle, s, 0, t.outWriter(addr, p.Handle, s, t.streamWriter(s)))
		}()
	}
	if a.Stdin.Mode == "pipe" {
		// Not waited for: a read of the terminal cannot be interrupted,
		// and the process may end without reading its input.
		go t.forwardStdin(ctx, addr, r, p.Handle)
	}
	var resizing sync.WaitGroup
	if lt != nil {
		resizing.Add(1)
		go func() {
			defer resizing.Done()
			lt.followResize(outCtx, r, p.Handle)
		}()
	}
	// endOutput waits for the output copies, then stops following the
	// window and gives the terminal back, before anything else is said.
	endOutput := func() {
		wg.Wait()
		stopOut()
		resizing.Wait()
		if lt != nil {
			lt.restore()
		}
	}

	ex, err := waitExit(ctx, r, p.Handle)
	if err != nil {
		stopOut()
		endOutput()
		if ctx.Err() != nil {
			t.interrupt(addr, r, p.Handle)
			return exitInterrupted
		}
		return t.fail(err)
	}
	endOutput()
	for _, err := range outErr {
		if err != nil && ctx.Err() == nil {
			return t.fail(err)
		}
	}
	collected := true
	if len(a.Collect) > 0 {
		if err := t.fetchCollected(ctx, addr, r, p.Handle); err != nil {
			t.warnf(addr, "collect: %v", err)
			collected = false
		}
	}
	if collected {
		t.release(ctx, addr, r, p.Handle)
	}
	return t.reportExit(addr, ex)
}

// releases reports whether run makes the daemon forget its processes once
// it has copied them (see release).
func (t *cli) releases() bool { return !t.keep && !t.tagged }

// release makes the daemon forget process h once run has copied all its
// output and its exit record, unless --keep was given. Without it, every
// run would leave its output spooled on the daemon until someone
// released it, and a few large runs would use up the daemon's disk
// budget, after which later processes' output could be dropped. Like
// the end of a systemd unit, the release ends what the process left
// running in its cgroup: a daemon started for later is for tacet start.
//
// A run with --tag keeps the records: a retry with the tag must find the
// process rather than start it again, and the process may be another
// run's, one this run only attached to.
func (t *cli) release(ctx context.Context, addr string, r *client.Redialer, h uint64) {
	if !t.releases() {
		return
	}
	c, err := r.Client(ctx)
	if err == nil {
		err = c.Process(h).Release(ctx)
	}
	if err != nil && ctx.Err() == nil {
		t.warnf(addr, "release process %s: %v (its output stays on the daemon: tacet release %s)", formatID(h), err, formatID(h))
	}
}

// fetchCollected gets the files a process's start named for collection
// into --collect-dir/HOST.
func (t *cli) fetchCollected(ctx context.Context, addr string, r *client.Redialer, h uint64) error {
	c, err := r.Client(ctx)
	if err != nil {
		return err
	}
	dir := filepath.Join(t.collectDir, hostName(addr))
	files, _, err := c.Process(h).CollectTo(ctx, dir)
	if err != nil {
		return err
	}
	for _, f := range files {
		if f.Errno != 0 {
			t.warnf(addr, "collect %s: %s", f.Path, f.Sys)
		}
	}
	return nil
}

// waitExit waits for process h, again on a new connection when one drops.
func waitExit(ctx context.Context, r *client.Redialer, h uint64) (*codec.Exit, error) {
	for {
		c, err := r.Client(ctx)
		if err != nil {
			return nil, err
		}
		ex, err := c.Process(h).Wait(ctx)
		if err == nil || ctx.Err() != nil || !errors.Is(err, client.ErrConnLost) {
			return ex, err
		}
	}
}

// interrupt ends the tree of h gracefully when tacet run is interrupted,
// so that Ctrl-C stops the remote process as it would a local one.
func (t *cli) interrupt(addr string, r *client.Redialer, h uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := r.Client(ctx)
	if err == nil {
		err = c.Process(h).Signal(ctx, syscall.SIGTERM, true)
	}
	if err != nil {
		t.warnf(addr, "interrupted; could not stop process %s: %v", formatID(h), err)
		return
	}
	t.warnf(addr, "interrupted; sent SIGTERM to process %s and its descendants", formatID(h))
}

// forwardStdin copies tacet's stdin to process h, then closes its stdin.
func (t *cli) forwardStdin(ctx context.Context, addr string, r *client.Redialer, h uint64) {
	buf := make([]byte, 64<<10)
	for {
		n, rerr := t.stdin.Read(buf)
		c, err := r.Client(ctx)
		if err == nil && (n > 0 || rerr != nil) {
			err = c.Process(h).Stdin(ctx, buf[:n], rerr != nil)
		}
		// Ended, or ended and released: the rest of the input has no reader.
		if err != nil && ctx.Err() == nil && !errors.Is(err, client.ErrWrongState) && !errors.Is(err, client.ErrNotFound) {
			t.warnf(addr, "stdin: %v", err)
		}
		if err != nil || rerr != nil {
			if rerr != nil && rerr != io.EOF {
				t.warnf(addr, "read stdin: %v", rerr)
			}
			return
		}
	}
}

// reportExit prints how a process ended and returns tacet's status.
func (t *cli) reportExit(addr string, ex *codec.Exit) int {
	if t.opts.json {
		t.json.write(newExitRecord(addr, ex))
		return exitStatus(ex)
	}
	switch {
	case ex.Unknown:
		t.warnf(addr, "exit status of process %s unknown: the daemon restarted and could not wait for it", formatID(ex.Handle))
	case ex.Why != "" && ex.Signal != 0:
		t.warnf(addr, "killed: %s (%s)", ex.Why, signalName(ex.Signal))
	case ex.Why != "":
		t.warnf(addr, "killed: %s", ex.Why)
	}
	return exitStatus(ex)
}

type startRecord struct {
	Host  string `json:"host"`
	Event string `json:"event"`
	ID    string `json:"id"`
	PID   uint32 `json:"pid"`
}

func cmdWait(ctx context.Context, t *cli, args []string) int {
	fs := newFlags("wait")
	if err := t.parseFlags(fs, args); err != nil {
		return helpOrFail(t, err)
	}
	h, err := idArg("wait", fs.Args())
	if err != nil {
		return t.fail(err)
	}
	addr, err := t.oneHost()
	if err != nil {
		return t.fail(err)
	}
	r := t.redialer(addr)
	defer r.Close()
	ex, err := waitExit(ctx, r, h)
	if err != nil {
		return t.fail(err)
	}
	return t.reportExit(addr, ex)
}

// helpOrFail returns exitOK after -h, else reports err.
func helpOrFail(t *cli, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return t.fail(err)
}
