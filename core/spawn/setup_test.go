// SPDX-License-Identifier: Apache-2.0

package spawn

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRlimit(t *testing.T) {
	s := newSpec("sh", "-c", "ulimit -n; ulimit -Hn")
	s.Rlimits = []Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 123, Max: 123}}
	if out := output(t, s); out != "123\n123\n" {
		t.Errorf("soft and hard NOFILE %q, want 123 and 123", out)
	}
}

func TestAffinity(t *testing.T) {
	s := newSpec("grep", "Cpus_allowed_list", "/proc/self/status")
	s.CPUs = []int{0}
	if out := output(t, s); out != "Cpus_allowed_list:\t0\n" {
		t.Errorf("got %q, want CPU 0 only", out)
	}
}

func TestNice(t *testing.T) {
	s := newSpec("cat", "/proc/self/stat")
	nice := 7
	s.Nice = &nice
	if got := statField(t, output(t, s), 19); got != "7" {
		t.Errorf("child nice %s, want 7", got)
	}
}

func TestCred(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setting uid and gid needs root; run the tests as root to cover Cred")
	}
	s := newSpec("sh", "-c", "id -u; id -g; id -G")
	s.Cred = &Cred{UID: 65534, GID: 65534}
	// Without setgroups the child would keep root's group 0 in id -G.
	if out := output(t, s); out != "65534\n65534\n65534\n" {
		t.Errorf("uid, gid, groups %q, want 65534 for each", out)
	}
}

func TestSession(t *testing.T) {
	tests := []struct {
		name            string
		setsid, setpgid bool
		newSID, newPGID bool
	}{
		{"setsid", true, false, true, true},
		{"setpgid", false, true, false, true},
		{"neither", false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSpec("cat", "/proc/self/stat")
			s.Setsid, s.Setpgid = tt.setsid, tt.setpgid
			r, w := newPipe(t)
			s.Stdout = int(w.Fd())
			p, err := Start(s)
			w.Close()
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			stat := readAll(t, r)
			reap(t, p.PID)

			pid := strconv.Itoa(p.PID)
			pgid, sid := statField(t, stat, 5), statField(t, stat, 6)
			if (pgid == pid) != tt.newPGID || (sid == pid) != tt.newSID {
				t.Errorf("pid %s: pgid %s sid %s", pid, pgid, sid)
			}
		})
	}
}

func TestCtty(t *testing.T) {
	master, slave := openPTY(t)
	_ = master
	var st unix.Stat_t
	if err := unix.Fstat(int(slave.Fd()), &st); err != nil {
		t.Fatal(err)
	}

	s := newSpec("cat", "/proc/self/stat")
	s.Setsid, s.Ctty = true, true
	s.Stdin = int(slave.Fd())
	if got, want := statField(t, output(t, s), 7), fmt.Sprint(st.Rdev); got != want {
		t.Errorf("child tty_nr %s, want the pty's %s", got, want)
	}
}

func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

func readAll(t *testing.T, f *os.File) string {
	t.Helper()
	var b []byte
	buf := make([]byte, 4096)
	for {
		n, err := f.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			return string(b)
		}
	}
}
