// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The loopback deploy tests run a private sshd on a loopback port, with
// its own host key, one authorised key made for the test and its own
// home directory for the sessions, so that what deploy puts "on the
// hosts" lands in t.TempDir(). Every host alias of the client config
// maps to that one sshd, so these hosts share files and processes; the
// netns tests (netns_hosts_test.go) make hosts that do not.

// sshPackages are the Debian packages the deploy tests need.
const sshPackages = "openssh-server openssh-client"

// needSSH returns the sshd binary. Without one it installs the packages
// when running as root, as CI does, and otherwise skips the test.
func needSSH(t *testing.T) string {
	t.Helper()
	find := func() string {
		for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		p, _ := exec.LookPath("sshd")
		return p
	}
	_, errSSH := exec.LookPath("ssh")
	_, errKeygen := exec.LookPath("ssh-keygen")
	sshd := find()
	if sshd != "" && errSSH == nil && errKeygen == nil {
		return sshd
	}
	if os.Geteuid() != 0 {
		t.Skipf("deploy tests need sshd, ssh and ssh-keygen: apt-get install -y %s (as root)", sshPackages)
	}
	cmd := exec.Command("apt-get", append([]string{"install", "-y", "-qq"}, strings.Fields(sshPackages)...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apt-get install %s: %v\n%s", sshPackages, err, out)
	}
	if sshd = find(); sshd == "" {
		t.Fatalf("no sshd after apt-get install %s", sshPackages)
	}
	return sshd
}

// testSSH is a private sshd and a client config naming it.
type testSSH struct {
	config string // the ssh client config, for --ssh-config
	home   string // the home directory of the sessions
	port   int
}

// startSSHD starts sshd on a free loopback port and writes a client
// config where each of aliases reaches it; dead names an alias whose
// port nobody listens on. sshd is stopped by PID when the test ends.
func startSSHD(t *testing.T, aliases []string, dead string) *testSSH {
	t.Helper()
	sshd := needSSH(t)
	if os.Geteuid() == 0 {
		// sshd refuses to start without its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	s := &testSSH{config: filepath.Join(dir, "ssh_config"), home: filepath.Join(dir, "home"), port: freePort(t)}
	if err := os.Mkdir(s.home, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"host_key", "id"} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "id.pub"))
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "authorized_keys"), string(pub))

	writeTestFile(t, filepath.Join(dir, "sshd_config"), fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host_key
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
SetEnv HOME=%s
`, s.port, dir, dir, dir, s.home))
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, s.config, fmt.Sprintf(`Host %s
	HostName 127.0.0.1
	Port %d
Host %s
	HostName 127.0.0.1
	Port %d
Host *
	User %s
	IdentityFile %s/id
	IdentitiesOnly yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
`, strings.Join(aliases, " "), s.port, dead, freePort(t), u.Username, dir))

	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	log := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("sshd log:\n%s", log)
		}
	})
	waitListening(t, s.port)
	t.Cleanup(func() { killUnder(t, s.home) })
	return s
}

// killUnder kills what a failed undeploy may leave: processes run from a
// binary under dir, such as output keepers, and their children.
func killUnder(t *testing.T, dir string) {
	entries, _ := os.ReadDir("/proc")
	ours := make(map[int]bool)
	parents := make(map[int]int)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink("/proc/" + e.Name() + "/exe"); err == nil && strings.HasPrefix(exe, dir+"/") {
			ours[pid] = true
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 1 {
				parents[pid], _ = strconv.Atoi(f[1])
			}
		}
	}
	for pid, ppid := range parents {
		if ours[pid] || ours[ppid] {
			t.Logf("killing PID %d, left by the test", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("sshd does not listen on %s", addr)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func writeTestFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// testTacetd returns a tacetd binary: $TACETD_BIN, as make unit sets it,
// else one built for the test.
func testTacetd(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("TACETD_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "tacetd")
	cmd := exec.Command("go", "build", "-o", bin, "../tacetd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tacetd: %v\n%s", err, out)
	}
	return bin
}

// pidAlive reports whether pid runs; a zombie, which a container's init
// may never reap, does not.
func pidAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// killHandles kills the processes the daemons started as handles, found
// by the cgroup each runs in, for when undeploy had to SIGKILL a daemon
// that could not end them.
func killHandles(t *testing.T, handles []string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		if err != nil {
			continue
		}
		for _, h := range handles {
			if strings.Contains(string(b), "/p"+h+"\n") {
				pid, _ := strconv.Atoi(e.Name())
				t.Logf("killing PID %d of process %s, left by the test", pid, h)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}
