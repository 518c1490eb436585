// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/netstack"
)

// Deploy puts tacetd on hosts with nothing but ssh: it copies the binary
// beside tacet when a host lacks that exact build, copies the key, starts
// the daemon detached from the ssh session, and waits until it answers.
// See deploy_script.go for what it leaves on a host.
//
// tacet dials each daemon at the host name that ssh's config maps the
// alias to (ssh -G), except on a host that ssh reaches through a jump
// host: there the daemon listens on loopback and tacet goes through ssh
// (--ssh-tunnel, deploy_tunnel.go).

// Defaults of deploy.
const (
	defaultDeployName = "default"
	defaultDeployPort = 7340
	defaultDeployWait = 10 * time.Second
)

// deployFlags are the flags of deploy and undeploy.
type deployFlags struct {
	hosts     string
	name      string
	sshConfig string
	sshOpts   listFlag

	// deploy only
	port      int
	transport string
	bind      string
	bindSet   bool   // --bind was given
	tunnel    string // --ssh-tunnel: auto, yes or no
	keyFile   string
	tacetd    string
	wait      time.Duration

	// undeploy only
	keepState   bool
	keepRunning bool
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// common registers the flags deploy and undeploy share.
func (f *deployFlags) common(fs *flag.FlagSet) {
	fs.StringVar(&f.hosts, "w", "", "hosts to reach with ssh, a node set; HOST:PORT gives one host its own daemon port")
	fs.StringVar(&f.name, "name", "", "deployment `NAME` (default -d, else "+defaultDeployName+")")
	fs.StringVar(&f.sshConfig, "ssh-config", os.Getenv(sshConfigEnv), "ssh config `FILE`, passed as ssh -F (default $"+sshConfigEnv+", else ssh's own)")
	fs.Var(&f.sshOpts, "ssh-option", "ssh `OPTION` passed as ssh -o, repeatable; it wins over deploy's BatchMode=yes, ConnectTimeout=10")
}

// deployName returns the name the command works on.
func (f *deployFlags) deployName(t *cli) string {
	switch {
	case f.name != "":
		return f.name
	case t.opts.deployment != "":
		return t.opts.deployment
	}
	return defaultDeployName
}

// deployTarget is one host of -w.
type deployTarget struct {
	spec string // as written, which is also how reports name it
	dest string // the ssh destination
	port int    // the daemon's port
	id   string // the deployment name and the host: the state dir's name
}

// parseTargets reads the hosts of -w: each an ssh destination, USER@HOST
// and an alias of the ssh config included, with an optional :PORT.
func parseTargets(w, name string, port int) ([]deployTarget, error) {
	specs, err := expandNodeSet(w)
	if err != nil {
		return nil, usagef("-w: " + err.Error())
	}
	out := make([]deployTarget, 0, len(specs))
	for _, s := range specs {
		tg, err := parseTarget(s, name, port)
		if err != nil {
			return nil, err
		}
		out = append(out, tg)
	}
	return out, nil
}

// parseTarget reads one host of -w, DEST or DEST:PORT.
func parseTarget(spec, name string, port int) (deployTarget, error) {
	tg := deployTarget{spec: spec, dest: spec, port: port}
	if h, p, err := net.SplitHostPort(spec); err == nil {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return tg, usagef(fmt.Sprintf("-w: %s: bad port %q", spec, p))
		}
		tg.dest, tg.port = h, int(n)
	}
	if tg.dest == "" || strings.HasPrefix(tg.dest, "-") || strings.Contains(tg.dest, "://") {
		return tg, usagef(fmt.Sprintf("-w: %q is not an ssh destination", spec))
	}
	tg.id = name + "@" + safeName(tg.dest)
	return tg, nil
}

// safeName keeps letters, digits, '.', '_' and '-' of s and turns the
// rest into '_', for a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && (r == '.' || r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
			return r
		}
		return '_'
	}, s)
}

// deployer is what every host of one deploy shares.
type deployer struct {
	t         *cli
	ssh       *sshRunner
	rec       *deployment
	key       *netstack.Key
	keyText   []byte
	binary    string // the local tacetd
	hash      string // its sha256, hex
	transport string
	bind      string
	bindSet   bool
	tunnel    string
	wait      time.Duration
}

func cmdDeploy(ctx context.Context, t *cli, args []string) int {
	fs := newFlags("deploy")
	f := &deployFlags{}
	f.common(fs)
	fs.IntVar(&f.port, "port", defaultDeployPort, "daemon `PORT` of the hosts written without one")
	fs.StringVar(&f.transport, "transport", "tcp", "tcp or kcp")
	fs.StringVar(&f.bind, "bind", "0.0.0.0", "`ADDRESS` the daemons listen on, on their hosts (127.0.0.1 on those reached through ssh -W)")
	fs.StringVar(&f.keyFile, "key-file", "", "key `PATH` to deploy (default the deployment's, else a new one)")
	fs.StringVar(&f.tacetd, "tacetd", "", "tacetd binary `PATH` to copy (default tacetd beside tacet)")
	fs.DurationVar(&f.wait, "wait", defaultDeployWait, "how long a started daemon may take to answer")
	fs.StringVar(&f.tunnel, "ssh-tunnel", "auto", "`WHEN` tacet reaches a daemon through ssh -W rather than at its address: yes, no, or auto for the hosts ssh reaches through a jump host")
	if err := t.parseFlags(fs, args); err != nil {
		return helpOrFail(t, err)
	}
	fs.Visit(func(fl *flag.Flag) { f.bindSet = f.bindSet || fl.Name == "bind" })
	if f.tunnel != "auto" && f.tunnel != "yes" && f.tunnel != "no" {
		return t.fail(usagef("deploy: --ssh-tunnel must be auto, yes or no"))
	}
	if fs.NArg() != 0 {
		return t.fail(usagef("deploy takes no arguments"))
	}
	if f.transport != "tcp" && f.transport != "kcp" {
		return t.fail(usagef("deploy: --transport must be tcp or kcp"))
	}
	if f.hosts == "" {
		return t.fail(usagef("deploy: -w HOSTS is required"))
	}
	name := f.deployName(t)
	targets, err := parseTargets(f.hosts, name, f.port)
	if err != nil {
		return t.fail(err)
	}
	dp, err := newDeployer(t, f, name)
	if err != nil {
		return t.fail(err)
	}

	reps := make([]hostReport, len(targets))
	hosts := make([]*deployedHost, len(targets))
	t.eachParallel(len(targets), func(i int) bool {
		reps[i], hosts[i] = dp.host(ctx, targets[i])
		return hosts[i] != nil
	})
	for _, h := range hosts {
		if h != nil {
			dp.rec.setHost(*h)
		}
	}
	if len(dp.rec.Hosts) > 0 {
		if err := dp.rec.save(); err != nil {
			t.fail(err)
		}
	}
	return t.writeReports(reps)
}

// newDeployer loads or makes the deployment's key and finds the binary.
func newDeployer(t *cli, f *deployFlags, name string) (*deployer, error) {
	rec, err := loadDeployment(name)
	if errors.Is(err, os.ErrNotExist) {
		rec, err = &deployment{Name: name}, nil
	}
	if err != nil {
		return nil, err
	}
	rec.Transport, rec.SSHConfig, rec.SSHOptions = f.transport, f.sshConfig, f.sshOpts
	if err := rec.pickKey(f.keyFile); err != nil {
		return nil, err
	}
	dp := &deployer{t: t, rec: rec, transport: f.transport, bind: f.bind, bindSet: f.bindSet,
		tunnel: f.tunnel, wait: f.wait,
		ssh: &sshRunner{config: f.sshConfig, options: f.sshOpts}}
	if dp.key, err = netstack.LoadKey(rec.KeyFile); err != nil {
		return nil, err
	}
	if dp.keyText, err = os.ReadFile(rec.KeyFile); err != nil {
		return nil, err
	}

	dp.binary = f.tacetd
	if dp.binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find tacetd: %w", err)
		}
		dp.binary = filepath.Join(filepath.Dir(exe), "tacetd")
	}
	if dp.hash, err = fileSHA256(dp.binary); err != nil {
		return nil, fmt.Errorf("deploy: %w (give --tacetd PATH)", err)
	}
	return dp, nil
}

// pickKey decides the deployment's key: --key-file, else the one it
// had, else a new key beside the record.
func (d *deployment) pickKey(keyFile string) error {
	if keyFile != "" {
		d.KeyFile, d.OwnKey = keyFile, false
		return nil
	}
	if d.KeyFile != "" {
		return nil
	}
	path, err := deploymentPath(d.Name, ".key")
	if err != nil {
		return err
	}
	d.KeyFile, d.OwnKey = path, true
	if _, err := os.Stat(path); err == nil {
		return nil // left by a deploy that saved no record
	}
	_, err = writeKey(path, false)
	return err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// host deploys to one host. It returns the host's record, or nil when
// it failed.
func (dp *deployer) host(ctx context.Context, tg deployTarget) (hostReport, *deployedHost) {
	rep := hostReport{Host: tg.spec}
	fail := func(err error) (hostReport, *deployedHost) {
		rep.Status, rep.Detail = statusFailed, err.Error()
		return rep, nil
	}
	to, err := dp.ssh.resolve(ctx, tg.dest)
	if err != nil {
		return fail(err)
	}
	rep.Addr = dp.transport + "://" + net.JoinHostPort(to.host, strconv.Itoa(tg.port))
	bind, tunnel, err := dp.route(to, tg.port)
	if err != nil {
		return fail(err)
	}
	st, err := dp.ssh.run(ctx, tg.dest, nil, probeScript, tg.id, dp.hash)
	if err != nil {
		return fail(err)
	}
	rec := &deployedHost{Target: tg.spec, Addr: rep.Addr, Base: st["base"], Tunnel: tunnel}
	bin := rec.Base + "/bin/tacetd-" + dp.hash
	if tunnel != "" {
		rep.Detail = "through ssh -W " + tunnel
	}

	// A daemon of this deployment runs already: keep it if it is this
	// build and answers, rather than end the processes it runs.
	if pid := st["pid"]; pid != "" {
		rec.PID, _ = strconv.Atoi(pid)
		// Compare names, not paths: the home may be reached through a symlink.
		if filepath.Base(st["exe"]) != filepath.Base(bin) {
			return fail(fmt.Errorf("another tacetd runs there (PID %s, %s): undeploy it first", pid, st["exe"]))
		}
		if err := dp.answers(ctx, rec, 2*time.Second); err != nil {
			return fail(to.unreachable(fmt.Errorf("tacetd runs there (PID %s) but does not answer: %v", pid, err)))
		}
		rep.Status, rep.PID = statusRunning, rec.PID
		return rep, rec
	}

	if st["have"] != "yes" {
		if err := dp.copyBinary(ctx, tg.dest, bin); err != nil {
			return fail(err)
		}
	}
	listen := dp.transport + "://" + net.JoinHostPort(bind, strconv.Itoa(tg.port))
	st, err = dp.ssh.run(ctx, tg.dest, bytes.NewReader(dp.keyText), startScript, rec.Base, tg.id, bin, listen)
	if err != nil {
		return fail(err)
	}
	rec.PID, _ = strconv.Atoi(st["pid"])
	if err := dp.answers(ctx, rec, dp.wait); err != nil {
		_, logErr := dp.ssh.run(ctx, tg.dest, nil, logScript, rec.Base, tg.id)
		return fail(to.unreachable(fmt.Errorf("started tacetd (PID %d) does not answer: %v; its log: %v", rec.PID, err, logErr)))
	}
	rep.Status, rep.PID = statusDeployed, rec.PID
	return rep, rec
}

// copyBinary copies the local tacetd to bin on dest through ssh's stdin.
func (dp *deployer) copyBinary(ctx context.Context, dest, bin string) error {
	f, err := os.Open(dp.binary)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = dp.ssh.run(ctx, dest, f, copyScript, bin, dp.hash)
	return err
}

// route decides how tacet reaches the daemon of a host: straight at its
// address, or through ssh when ssh itself goes through a jump host (or
// --ssh-tunnel yes), with the daemon then on loopback unless --bind says
// otherwise. It returns the address the daemon binds and the ssh -W
// target, "" for none.
func (dp *deployer) route(to sshTarget, port int) (bind, tunnel string, err error) {
	if dp.tunnel == "no" || dp.tunnel == "auto" && to.via == "" {
		return dp.bind, "", nil
	}
	if dp.transport != "tcp" {
		return "", "", fmt.Errorf("tacet would reach this daemon through ssh (--ssh-tunnel %s), which carries tcp only: "+
			"deploy it with --transport tcp, or --ssh-tunnel no if the controller can reach %s", dp.tunnel, to.host)
	}
	bind = dp.bind
	if !dp.bindSet {
		bind = "127.0.0.1"
	}
	return bind, tunnelTarget(bind, port), nil
}

// answers dials h until a handshake with the deployment's key succeeds,
// for at most within.
func (dp *deployer) answers(ctx context.Context, h *deployedHost, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	// Through ssh, each try is a new ssh session, maybe through a jump.
	timeout := time.Second
	opts := dp.rec.tunnelOptions(h)
	if opts != nil {
		timeout = 5 * time.Second
	}
	for {
		c, err := client.Dial(ctx, h.Addr, append(opts, client.WithKey(dp.key), client.WithWho(who()),
			client.WithTimeout(timeout))...)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
