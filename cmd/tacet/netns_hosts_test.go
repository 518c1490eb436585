// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/netstack/netns"
)

// The netns deploy tests make hosts that share nothing a deployment
// could lean on: each is a network namespace on a bridge (netns.Bridge),
// with a mount namespace of its own where /tmp and root's home are fresh
// tmpfs, and a PID namespace of its own whose init is the host's sshd.
// The controller is one more namespace on the bridge, with a mount
// namespace where /root is a directory of the test, so that ssh reads
// its ~/.ssh/config, key and known_hosts from there, as a user's own.
// tacet runs there as this test binary (see TestMain), since a process
// is in one network namespace and the test's goroutines in none in
// particular.

// asTacetEnv, set to 1, makes the test binary run as tacet.
const asTacetEnv = "TACET_TEST_AS_TACET"

func TestMain(m *testing.M) {
	if os.Getenv(asTacetEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// sshHost is a host with its own sshd.
type sshHost struct {
	*netns.Host
	name string // what /tmp/host-name says on the host
	init int    // the sshd, PID 1 of the host's PID namespace, as seen here
}

// hostScript runs in the host's fresh mount and PID namespaces. It
// mounts the test's directory $1 over /etc/ssh before /tmp, where that
// directory is, is hidden; then it leaves a file saying which host this
// is, and becomes sshd.
const hostScript = `
set -e
mkdir -p /run/sshd
mount --bind "$1" /etc/ssh
mount -t tmpfs -o mode=1777 host-tmp /tmp
mount -t tmpfs -o mode=700 host-home /root
echo "$2" > /tmp/host-name
exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config
`

// startHost starts sshd on h, listening on its address, letting in the
// holder of the private key of authorized. It is stopped, and with it
// everything in the host's PID namespace, when the test ends.
func startHost(t *testing.T, h *netns.Host, name, authorized string) *sshHost {
	t.Helper()
	needSSH(t)
	dir := t.TempDir()
	keygen(t, filepath.Join(dir, "host_key"))
	writeTestFile(t, filepath.Join(dir, "authorized_keys"), authorized)
	writeTestFile(t, filepath.Join(dir, "sshd_config"), fmt.Sprintf(`ListenAddress %s
HostKey /etc/ssh/host_key
PidFile none
AuthorizedKeysFile /etc/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
`, h.Addr))

	cmd := exec.Command("unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
		"--propagation", "private", "sh", "-c", hostScript, "sh", dir, name)
	log := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := h.Start(cmd); err != nil {
		t.Fatalf("start host %s: %v", name, err)
	}
	// Killing unshare kills its child, the PID namespace's init, and the
	// kernel then kills the rest of the namespace.
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("host %s: sshd log:\n%s", name, log)
		}
	})
	s := &sshHost{Host: h, name: name}
	s.init = childOf(t, cmd.Process.Pid)
	return s
}

// childOf waits for the one child of pid and returns it.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	p := strconv.Itoa(pid)
	for range 200 {
		b, _ := os.ReadFile("/proc/" + p + "/task/" + p + "/children")
		if f := strings.Fields(string(b)); len(f) == 1 {
			n, _ := strconv.Atoi(f[0])
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("PID %d has no child after 2 s", pid)
	return 0
}

// keygen writes an ed25519 key pair at path and path.pub.
func keygen(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return string(pub)
}

// inside runs a script in the host's mount and PID namespaces, so that
// it sees the host's files and processes only, and returns its stdout.
func (h *sshHost) inside(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(h.init), "-m", "-p", "--",
		"sh", "-c", script).Output()
	if err != nil {
		t.Fatalf("host %s: %s: %v", h.name, script, err)
	}
	return string(out)
}

// daemons returns the command lines of the tacetd daemons that run on
// the host (not the output keepers they start, which run the same
// binary). Zombies, which have no command line, are left out.
func (h *sshHost) daemons(t *testing.T) []string {
	t.Helper()
	out := h.inside(t, `for p in /proc/[0-9]*; do
	tr '\0' ' ' < "$p/cmdline" 2>/dev/null; echo
done`)
	var ds []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "tacetd") && strings.Contains(l, "--listen") {
			ds = append(ds, strings.TrimSpace(l))
		}
	}
	return ds
}

// files lists what is under /tmp and root's home on the host.
func (h *sshHost) files(t *testing.T) []string {
	t.Helper()
	return strings.Fields(h.inside(t, "find /tmp /root -mindepth 1"))
}

// waitSSH waits until h's sshd accepts connections from ctl.
func waitSSH(t *testing.T, ctl *netns.Host, h *netns.Host) {
	t.Helper()
	var err error
	for range 100 {
		err = ctl.Do(func() error {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Addr, "22"), time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("sshd of %s does not listen: %v", h.Name, err)
}

// controller is the namespace tacet and ssh run in, with a home of its
// own.
type controller struct {
	*netns.Host
	home string // bound over /root for the processes run there
	pub  string // the public half of ~/.ssh/id_ed25519
}

// newController makes h the controller, with a fresh ssh key and
// sshConfig as ~/.ssh/config.
func newController(t *testing.T, h *netns.Host, sshConfig string) *controller {
	t.Helper()
	c := &controller{Host: h, home: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(c.home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	c.pub = keygen(t, filepath.Join(c.home, ".ssh", "id_ed25519"))
	writeTestFile(t, filepath.Join(c.home, ".ssh", "config"), sshConfig)
	return c
}

// run runs argv in the controller and returns its status and output.
func (c *controller) run(t *testing.T, env []string, argv ...string) (status int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "private",
		"sh", "-c", `mount --bind "$0" /root && exec "$@"`, c.home}, argv...)...)
	cmd.Env = append(os.Environ(), "HOME=/root", "XDG_CONFIG_HOME=/root/.config", sshConfigEnv+"=")
	cmd.Env = append(cmd.Env, env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	begin := time.Now()
	err := c.Start(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	status = cmd.ProcessState.ExitCode()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	t.Logf("%s: status %d in %v\n%s%s", strings.Join(argv, " "), status,
		time.Since(begin).Round(time.Millisecond), out.String(), errOut.String())
	return status, out.String(), errOut.String()
}

// tacet runs the command line tacet with args in the controller.
func (c *controller) tacet(t *testing.T, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return c.run(t, []string{asTacetEnv + "=1"}, append([]string{exe}, args...)...)
}

// localFile returns the path, as the test sees it, of a file the
// controller sees at /root/rel.
func (c *controller) localFile(rel string) string { return filepath.Join(c.home, rel) }
