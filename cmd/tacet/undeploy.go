// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"gitlab.com/tacet/tacet/client"
)

// Undeploy takes a deployment off its hosts: it sends the daemon SIGTERM
// (SIGKILL after 10 s), and since deploy starts it with --on-exit kill,
// the daemon tells its controllers it is going away and ends its
// processes. Then it removes the key, the pidfile, the state dir and the
// binary, unless another daemon runs that binary.
//
// The daemon's --on-exit is fixed when it starts, so undeploy cannot stop
// a daemon and leave its processes running. --keep-running therefore
// protects work in progress the other way round: a host whose daemon has
// a process running or staged is left as it is, daemon and files and
// record, and reported "kept"; run undeploy again once they have ended.

func cmdUndeploy(ctx context.Context, t *cli, args []string) int {
	fs := newFlags("undeploy")
	f := &deployFlags{}
	f.common(fs)
	fs.BoolVar(&f.keepState, "keep-state", false, "keep each host's state dir: the daemon's log and spooled output")
	fs.BoolVar(&f.keepRunning, "keep-running", false, "leave alone each host whose daemon still runs processes; undeploy the others")
	if err := t.parseFlags(fs, args); err != nil {
		return helpOrFail(t, err)
	}
	if fs.NArg() != 0 {
		return t.fail(usagef("undeploy takes no arguments"))
	}
	u, err := newUndeployer(t, f)
	if err != nil {
		return t.fail(err)
	}

	reps := make([]hostReport, len(u.targets))
	t.eachParallel(len(u.targets), func(i int) bool {
		reps[i] = u.host(ctx, u.targets[i])
		return reps[i].Status != statusFailed
	})
	for i, r := range reps {
		if r.Status == statusRemoved || r.Status == statusAbsent {
			u.rec.dropHost(u.targets[i].spec)
		}
	}
	if err := u.saveRecord(); err != nil {
		t.fail(err)
	}
	return t.writeReports(reps)
}

// undeployer is what every host of one undeploy shares.
type undeployer struct {
	t       *cli
	f       *deployFlags
	rec     *deployment
	saved   bool // rec was read from a file
	ssh     *sshRunner
	targets []deployTarget
}

// newUndeployer reads the record and decides the hosts: -w, else all of
// the record's. ssh settings not given fall back to the record's.
func newUndeployer(t *cli, f *deployFlags) (*undeployer, error) {
	name := f.deployName(t)
	u := &undeployer{t: t, f: f}
	var err error
	u.rec, err = loadDeployment(name)
	switch {
	case errors.Is(err, os.ErrNotExist) && f.hosts != "":
		u.rec = &deployment{Name: name}
	case errors.Is(err, os.ErrNotExist):
		return nil, usagef(fmt.Sprintf("no deployment %q here: give -w HOSTS", name))
	case err != nil:
		return nil, err
	default:
		u.saved = true
	}

	if f.hosts != "" {
		u.targets, err = parseTargets(f.hosts, name, defaultDeployPort)
	} else {
		for _, h := range u.rec.Hosts {
			tg, perr := parseTarget(h.Target, name, defaultDeployPort)
			u.targets, err = append(u.targets, tg), errors.Join(err, perr)
		}
	}
	if err != nil {
		return nil, err
	}
	if f.sshConfig == "" {
		f.sshConfig = u.rec.SSHConfig
	}
	if len(f.sshOpts) == 0 {
		f.sshOpts = u.rec.SSHOptions
	}
	u.ssh = &sshRunner{config: f.sshConfig, options: f.sshOpts}
	return u, nil
}

// host undeploys from one host.
func (u *undeployer) host(ctx context.Context, tg deployTarget) hostReport {
	rep := hostReport{Host: tg.spec}
	if u.f.keepRunning {
		n, err := u.busy(ctx, tg)
		if err != nil {
			rep.Status, rep.Detail = statusFailed, "--keep-running: "+err.Error()
			return rep
		}
		if n > 0 {
			rep.Status, rep.Detail = statusKept, fmt.Sprintf("%d processes running or staged", n)
			return rep
		}
	}

	keep := ""
	if u.f.keepState {
		keep = "keep"
	}
	st, err := u.ssh.run(ctx, tg.dest, nil, undeployScript, tg.id, keep)
	if err != nil {
		rep.Status, rep.Detail = statusFailed, err.Error()
		return rep
	}
	rep.PID, _ = strconv.Atoi(st["stopped"])
	switch {
	case st["absent"] == "yes":
		rep.Status, rep.Detail = statusAbsent, "nothing of deployment "+u.rec.Name+" there"
	case st["killed"] != "":
		rep.Status, rep.Detail = statusRemoved, "did not stop on SIGTERM in 10 s: killed"
	default:
		rep.Status = statusRemoved
	}
	return rep
}

// busy returns how many processes the host's daemon runs or has staged.
// It fails when the daemon does not answer: then tacet cannot tell.
func (u *undeployer) busy(ctx context.Context, tg deployTarget) (int, error) {
	h := u.rec.host(tg.spec)
	if h == nil {
		return 0, errors.New("the deployment has no record of this host, so tacet cannot ask its daemon")
	}
	// Bounded: a daemon that does not answer in time is not known to be idle.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	keyFile := u.t.opts.keyFile
	if keyFile == "" {
		keyFile = u.rec.KeyFile
	}
	c, err := client.Dial(ctx, h.Addr, append(u.rec.tunnelOptions(h), client.WithKeyFile(keyFile),
		client.WithWho(who()), client.WithTimeout(5*time.Second))...)
	if err != nil {
		return 0, fmt.Errorf("ask the daemon for its processes: %w", err)
	}
	defer c.Close()
	procs, err := c.List(ctx)
	if err != nil {
		return 0, fmt.Errorf("ask the daemon for its processes: %w", err)
	}
	n := 0
	for _, p := range procs {
		if p.State == "running" || p.State == "staged" {
			n++
		}
	}
	return n, nil
}

// saveRecord writes what is left of the record, or removes it, and its
// key, once no host is left.
func (u *undeployer) saveRecord() error {
	switch {
	case !u.saved:
		return nil
	case len(u.rec.Hosts) == 0:
		return u.rec.remove()
	}
	return u.rec.save()
}
