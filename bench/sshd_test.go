// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sshPeer is a private sshd on a loopback port and a client config that
// reaches it under many host aliases, h1 to hN, as pdsh and clush need
// many "hosts".
type sshPeer struct {
	sshd   *peerProc
	ssh    string // the ssh client
	config string // the client config, for ssh -F
	dir    string
	port   int
}

// maxAliases is the number of host aliases of the client config.
const maxAliases = 100

// startSSHD starts sshd with its own host key and one authorised key,
// made here, and waits until it accepts a session.
func startSSHD(b testing.TB) *sshPeer {
	b.Helper()
	sshd := peerTool(b, "sshd", "openssh-server")
	keygen := peerTool(b, "ssh-keygen", "openssh-client")
	s := &sshPeer{ssh: peerTool(b, "ssh", "openssh-client"), dir: b.TempDir(), port: freePort(b, "tcp")}
	s.config = filepath.Join(s.dir, "ssh_config")
	if os.Geteuid() == 0 {
		// sshd refuses to start without its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			b.Fatal(err)
		}
	}
	for _, k := range []string{"host_key", "id"} {
		out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(s.dir, k)).CombinedOutput()
		if err != nil {
			b.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(s.dir, "id.pub"))
	if err != nil {
		b.Fatal(err)
	}
	writeFile(b, filepath.Join(s.dir, "authorized_keys"), string(pub))

	// MaxStartups is raised so that a fan-out of 64 handshakes at once
	// is not refused, as the default (10:30:100) would do at random. The
	// sessions get an empty home directory: the user's shell runs every
	// command, and bash reads ~/.bashrc under sshd, so the start files of
	// whoever runs the benchmark would otherwise be measured as ssh.
	writeFile(b, filepath.Join(s.dir, "sshd_config"), fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %[2]s/host_key
PidFile %[2]s/sshd.pid
AuthorizedKeysFile %[2]s/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 256
LogLevel ERROR
SetEnv HOME=%[2]s/home
`, s.port, s.dir))
	if err := os.Mkdir(filepath.Join(s.dir, "home"), 0o700); err != nil {
		b.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		b.Fatal(err)
	}
	aliases := make([]string, maxAliases)
	for i := range aliases {
		aliases[i] = "h" + strconv.Itoa(i+1)
	}
	writeFile(b, s.config, fmt.Sprintf(`Host %s
	HostName 127.0.0.1
	Port %d
Host *
	User %s
	IdentityFile %s/id
	IdentitiesOnly yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	LogLevel ERROR
	BatchMode yes
`, strings.Join(aliases, " "), s.port, u.Username, s.dir))

	s.sshd = startPeer(b, "sshd", sshd, "-D", "-e", "-f", filepath.Join(s.dir, "sshd_config"))
	s.sshd.waitFor(b, "accepting sessions", func() error {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port))
		if err != nil {
			return err
		}
		c.Close()
		_, err = runQuiet(nil, s.argv("h1", "true")...)
		return err
	})
	return s
}

// argv is the command line of ssh running cmd on host, with extra
// client options before the host.
func (s *sshPeer) argv(host string, cmd string, opts ...string) []string {
	a := append([]string{s.ssh, "-F", s.config}, opts...)
	return append(a, host, cmd)
}

// startMaster starts an ssh ControlMaster to h1, kept in the foreground
// so that its PID is ours, and returns its ControlPath once it serves.
func (s *sshPeer) startMaster(b testing.TB) string {
	b.Helper()
	path := filepath.Join(s.dir, "mux")
	m := startPeer(b, "ssh master", s.ssh, "-F", s.config, "-M", "-S", path, "-N", "h1")
	m.waitFor(b, "serving its ControlPath", func() error {
		_, err := runQuiet(nil, s.ssh, "-F", s.config, "-S", path, "-O", "check", "h1")
		return err
	})
	return path
}
