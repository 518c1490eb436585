// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gitlab.com/tacet/tacet/netstack/netns"
)

// hostsConfig is the controller's ~/.ssh/config: node names for the
// addresses, and host keys learnt on first use into ~/.ssh/known_hosts.
func hostsConfig(hosts map[string]string, extra string) string {
	var b strings.Builder
	names := make([]string, 0, len(hosts))
	for n := range hosts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "Host %s\n\tHostName %s\n", n, hosts[n])
	}
	b.WriteString(extra)
	b.WriteString("Host *\n\tUser root\n\tStrictHostKeyChecking accept-new\n")
	return b.String()
}

// Deploy to five hosts that are really apart, run a command on each,
// deploy again, undeploy, and find nothing left on them; a host whose
// sshd refuses the key and one whose link is down fail with ssh's own
// reason, and do not hold the others back.
func TestDeployNetns(t *testing.T) {
	netns.Require(t)
	t.Parallel() // each test has namespaces, hosts and a controller of its own
	bin := testTacetd(t)
	br := netns.NewBridge(t, "d")
	addrs := map[string]string{}
	for i := 1; i <= 7; i++ {
		addrs[fmt.Sprintf("n%d", i)] = fmt.Sprintf("198.18.0.%d", 10+i)
	}
	ctl := newController(t, br.AddHost("c", "198.18.0.1/24"), hostsConfig(addrs, ""))

	// n1 to n5 let the controller in, n6 knows another key, n7 is cut off.
	hosts := make([]*sshHost, 7)
	for i := range hosts {
		name := fmt.Sprintf("n%d", i+1)
		key := ctl.pub
		if name == "n6" {
			key = keygen(t, filepath.Join(t.TempDir(), "other"))
		}
		hosts[i] = startHost(t, br.AddHost(name, addrs[name]+"/24"), name, key)
		waitSSH(t, ctl.Host, hosts[i].Host)
	}
	if err := hosts[6].Cut(); err != nil {
		t.Fatal(err)
	}
	good := hosts[:5]

	// Nothing reaches n7, so ssh waits for its ConnectTimeout.
	deploy := []string{"--json", "deploy", "--name", "lab", "--tacetd", bin,
		"--ssh-option", "ConnectTimeout=3", "-w"}
	status, out, _ := ctl.tacet(t, append(deploy, "n[1-7]")...)
	if status != exitFailed {
		t.Errorf("deploy with two bad hosts: status %d, want %d", status, exitFailed)
	}
	reps := reportLines(t, out)
	if r := reps["n6"]; r.Status != statusFailed || !strings.Contains(r.Detail, "Permission denied (publickey)") {
		t.Errorf("n6, whose sshd refuses the key: %+v, want failed with ssh's permission denied", r)
	}
	if r := reps["n7"]; r.Status != statusFailed || !strings.Contains(r.Detail, "connect to host "+addrs["n7"]+" port 22") {
		t.Errorf("n7, cut off: %+v, want failed with ssh's connect error", r)
	}
	hash, err := fileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	pids, keys := map[string]int{}, map[string]string{}
	for _, h := range good {
		r := reps[h.name]
		if r.Status != statusDeployed || r.PID == 0 {
			t.Fatalf("%s: %+v, want deployed", h.name, r)
		}
		pids[h.name] = r.PID
		// Each host got its own copy: no host sees another's files.
		if !slices.Contains(h.files(t), "/root/.tacet/bin/tacetd-"+hash) {
			t.Errorf("%s: no tacetd-%s in its own ~/.tacet/bin: %v", h.name, hash[:12], h.files(t))
		}
		keys[h.name] = h.inside(t, "cat /root/.tacet/state-lab@"+h.name+"/key")
	}

	// The deployment's name stands for its hosts; each answers as itself.
	status, out, _ = ctl.tacet(t, "-d", "lab", "run", "--", "cat", "/tmp/host-name")
	if status != exitOK {
		t.Errorf("tacet -d lab run: status %d", status)
	}
	for _, h := range good {
		if !strings.Contains(out, h.Addr+":7340: "+h.name+"\n") {
			t.Errorf("tacet -d lab run: no line %q in its output", h.Addr+":7340: "+h.name)
		}
	}

	// Again, where the daemons run: nothing changes on the hosts.
	localKey, err := os.ReadFile(ctl.localFile(".config/tacet/deployments/lab.key"))
	if err != nil {
		t.Fatal(err)
	}
	status, out, _ = ctl.tacet(t, append(deploy, "n[1-5]")...)
	if status != exitOK {
		t.Errorf("second deploy: status %d", status)
	}
	reps = reportLines(t, out)
	for _, h := range good {
		if r := reps[h.name]; r.Status != statusRunning || r.PID != pids[h.name] {
			t.Errorf("%s again: %+v, want already running as PID %d", h.name, r, pids[h.name])
		}
		if ds := h.daemons(t); len(ds) != 1 {
			t.Errorf("%s: %d daemons after deploying again, want 1: %q", h.name, len(ds), ds)
		}
		if k := h.inside(t, "cat /root/.tacet/state-lab@"+h.name+"/key"); k != keys[h.name] {
			t.Errorf("%s: deploying again changed the daemon's key", h.name)
		}
	}
	if b, _ := os.ReadFile(ctl.localFile(".config/tacet/deployments/lab.key")); string(b) != string(localKey) {
		t.Errorf("deploying again changed the deployment's key")
	}

	// Undeploy leaves the hosts as they were, but for the test's own file.
	status, out, _ = ctl.tacet(t, "--json", "undeploy", "--name", "lab")
	if status != exitOK {
		t.Errorf("undeploy: status %d", status)
	}
	reps = reportLines(t, out)
	for _, h := range good {
		if r := reps[h.name]; r.Status != statusRemoved || r.PID != pids[h.name] {
			t.Errorf("%s undeployed: %+v, want removed, PID %d stopped", h.name, r, pids[h.name])
		}
		if ds := h.daemons(t); len(ds) != 0 {
			t.Errorf("%s: tacetd still runs after undeploy: %q", h.name, ds)
		}
		if fs := h.files(t); !slices.Equal(fs, []string{"/tmp/host-name"}) {
			t.Errorf("%s: files left after undeploy: %q", h.name, fs)
		}
	}
	for _, f := range []string{"lab.json", "lab.key"} {
		if _, err := os.Stat(ctl.localFile(".config/tacet/deployments/" + f)); err == nil {
			t.Errorf("the controller's %s is left after undeploy", f)
		}
	}
}

// A host reached only through a gateway, with ProxyJump in the user's
// ~/.ssh/config, is deployed, runs a command and is undeployed; tacet
// is given no ssh option or config of its own. The controller has no
// route to the inner host, so tacet reaches its daemon through ssh as
// well; told not to, deploy says why the daemon does not answer.
func TestDeployJumpNetns(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	bin := testTacetd(t)
	outer, inner := netns.NewBridge(t, "jo"), netns.NewBridge(t, "ji")
	ctl := newController(t, outer.AddHost("c", "198.18.0.1/24"), hostsConfig(
		map[string]string{"gw": "198.18.0.2", "inner": "198.18.1.2"}, "Host inner\n\tProxyJump gw\n"))
	gw := startHost(t, outer.AddHost("g", "198.18.0.2/24"), "gw", ctl.pub)
	inner.Attach(gw.NS, "eth1", "198.18.1.1/24")
	h := startHost(t, inner.AddHost("h", "198.18.1.2/24"), "inner", ctl.pub)
	waitSSH(t, ctl.Host, gw.Host)
	waitSSH(t, gw.Host, h.Host)
	status, _, stderr := ctl.run(t, nil, "ssh", "-o", "BatchMode=yes", "-o", "ProxyJump=none", "inner", "true")
	if status == 0 || !strings.Contains(stderr, "Network is unreachable") {
		t.Fatalf("ssh to inner without ProxyJump: status %d, %q; want an unreachable network", status, stderr)
	}

	deploy := []string{"--json", "deploy", "--name", "jump", "--tacetd", bin, "-w", "inner"}
	// The daemon cannot answer: do not wait the default 10 s.
	status, out, _ := ctl.tacet(t, append(deploy, "--ssh-tunnel", "no", "--wait", "2s")...)
	if r := reportLines(t, out)["inner"]; status != exitFailed || r.Status != statusFailed ||
		!strings.Contains(r.Detail, "ProxyJump gw") || !strings.Contains(r.Detail, "route to 198.18.1.2") {
		t.Errorf("deploy --ssh-tunnel no: %+v, want failed, naming the jump", r)
	}
	status, out, _ = ctl.tacet(t, "--json", "undeploy", "--name", "jump", "-w", "inner")
	if r := reportLines(t, out)["inner"]; status != exitOK || r.Status != statusRemoved {
		t.Errorf("undeploy of the daemon that did not answer: status %d, %+v", status, r)
	}
	if ds := h.daemons(t); len(ds) != 0 {
		t.Errorf("inner: tacetd still runs after undeploy: %q", ds)
	}

	status, out, _ = ctl.tacet(t, deploy...)
	r := reportLines(t, out)["inner"]
	if status != exitOK || r.Status != statusDeployed || r.Detail != "through ssh -W 127.0.0.1:7340" {
		t.Fatalf("deploy through the gateway: status %d, %+v", status, r)
	}
	if ds := h.daemons(t); len(ds) != 1 || !strings.Contains(ds[0], "--listen tcp://127.0.0.1:7340") {
		t.Errorf("inner: daemons %q, want one on loopback", ds)
	}
	status, out, _ = ctl.tacet(t, "-d", "jump", "run", "--", "cat", "/tmp/host-name")
	if status != exitOK || out != "inner\n" {
		t.Errorf("tacet -d jump run: status %d, output %q; want inner", status, out)
	}
	status, out, _ = ctl.tacet(t, deploy...)
	if again := reportLines(t, out)["inner"]; status != exitOK || again.Status != statusRunning || again.PID != r.PID {
		t.Errorf("deploy again through the gateway: status %d, %+v, want already running as PID %d", status, again, r.PID)
	}
	status, out, _ = ctl.tacet(t, "--json", "undeploy", "--name", "jump")
	if r := reportLines(t, out)["inner"]; status != exitOK || r.Status != statusRemoved {
		t.Errorf("undeploy through the gateway: status %d, %+v", status, r)
	}
	if ds := h.daemons(t); len(ds) != 0 {
		t.Errorf("inner: tacetd still runs after undeploy: %q", ds)
	}
	if fs := h.files(t); !slices.Equal(fs, []string{"/tmp/host-name"}) {
		t.Errorf("inner: files left after undeploy: %q", fs)
	}
}

// Two deployments share the hosts and the binary: the second, over KCP,
// finds the binary there by its hash and does not copy it again; taking
// the first away leaves the binary the second runs, and taking the
// second away leaves nothing.
func TestDeployTwoNetns(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	bin := testTacetd(t)
	br := netns.NewBridge(t, "t")
	addrs := map[string]string{"m1": "198.18.0.11", "m2": "198.18.0.12"}
	ctl := newController(t, br.AddHost("c", "198.18.0.1/24"), hostsConfig(addrs, ""))
	var hosts []*sshHost
	for _, name := range []string{"m1", "m2"} {
		h := startHost(t, br.AddHost(name, addrs[name]+"/24"), name, ctl.pub)
		waitSSH(t, ctl.Host, h.Host)
		hosts = append(hosts, h)
	}
	hash, err := fileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	binary := "/root/.tacet/bin/tacetd-" + hash
	stat := "stat -c %i.%Z " + binary

	deploy := func(name string, more ...string) {
		t.Helper()
		args := append([]string{"--json", "deploy", "--name", name, "--tacetd", bin, "-w", "m[1-2]"}, more...)
		status, out, _ := ctl.tacet(t, args...)
		for _, h := range hosts {
			if r := reportLines(t, out)[h.name]; status != exitOK || r.Status != statusDeployed {
				t.Fatalf("deploy %s to %s: status %d, %+v", name, h.name, status, r)
			}
		}
	}
	deploy("a")
	copied := map[string]string{}
	for _, h := range hosts {
		copied[h.name] = h.inside(t, stat)
	}
	deploy("b", "--transport", "kcp", "--port", "7341")
	for _, h := range hosts {
		if s := h.inside(t, stat); s != copied[h.name] {
			t.Errorf("%s: the second deployment copied the binary again (inode.ctime %s, was %s)",
				h.name, strings.TrimSpace(s), strings.TrimSpace(copied[h.name]))
		}
		if ds := h.daemons(t); len(ds) != 2 {
			t.Errorf("%s: %d daemons, want one per deployment: %q", h.name, len(ds), ds)
		}
	}
	status, out, _ := ctl.tacet(t, "-d", "b", "run", "--", "cat", "/tmp/host-name")
	for _, h := range hosts {
		if status != exitOK || !strings.Contains(out, h.Addr+":7341: "+h.name+"\n") {
			t.Errorf("tacet -d b run over KCP: status %d, no line from %s", status, h.name)
		}
	}

	// undeploy takes name away; other names the deployment left, if any.
	undeploy := func(name, other string) {
		t.Helper()
		status, out, _ := ctl.tacet(t, "--json", "undeploy", "--name", name)
		for _, h := range hosts {
			if r := reportLines(t, out)[h.name]; status != exitOK || r.Status != statusRemoved {
				t.Errorf("undeploy %s from %s: status %d, %+v", name, h.name, status, r)
			}
			fs, ds := h.files(t), h.daemons(t)
			gone := "/root/.tacet/state-" + name + "@" + h.name
			if other == "" {
				if len(ds) != 0 || !slices.Equal(fs, []string{"/tmp/host-name"}) {
					t.Errorf("%s after undeploy %s: daemons %q, files %q; want none", h.name, name, ds, fs)
				}
				continue
			}
			kept := "/root/.tacet/state-" + other + "@" + h.name
			if len(ds) != 1 || !slices.Contains(fs, binary) || !slices.Contains(fs, kept) || slices.Contains(fs, gone) {
				t.Errorf("%s after undeploy %s: daemons %q, files %q; want %s's daemon, binary and state only",
					h.name, name, ds, fs, other)
			}
		}
	}
	undeploy("a", "b")
	undeploy("b", "")
}
