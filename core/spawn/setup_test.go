// SPDX-License-Identifier: Apache-2.0

package spawn

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// The setup of a vfork child must change the child alone, although it
// shares the daemon's memory; each test checks the daemon afterwards.

func TestRlimit(t *testing.T) {
	eachPath(t, func(t *testing.T, staged bool) {
		var before unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &before)
		s := newSpec("sh", "-c", "ulimit -n; ulimit -Hn")
		s.Rlimits = []Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 123, Max: 123}}
		s.Staged = staged
		if out := output(t, s); out != "123\n123\n" {
			t.Errorf("soft and hard NOFILE %q, want 123 and 123", out)
		}

		var after unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &after); after != before {
			t.Errorf("daemon NOFILE %+v after the start, was %+v", after, before)
		}
	})
}

func TestAffinity(t *testing.T) {
	eachPath(t, func(t *testing.T, staged bool) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var before unix.CPUSet
		unix.SchedGetaffinity(0, &before)
		s := newSpec("grep", "Cpus_allowed_list", "/proc/self/status")
		s.CPUs = []int{0}
		s.Staged = staged
		if out := output(t, s); out != "Cpus_allowed_list:\t0\n" {
			t.Errorf("got %q, want CPU 0 only", out)
		}

		var after unix.CPUSet
		if unix.SchedGetaffinity(0, &after); after != before {
			t.Errorf("calling thread's affinity %v after the start, was %v", after, before)
		}
	})
}

func TestNice(t *testing.T) {
	eachPath(t, func(t *testing.T, staged bool) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		before, _ := unix.Getpriority(unix.PRIO_PROCESS, 0)
		s := newSpec("cat", "/proc/self/stat")
		nice := 7
		s.Nice = &nice
		s.Staged = staged
		if got := statField(t, output(t, s), 19); got != "7" {
			t.Errorf("child nice %s, want 7", got)
		}

		if after, _ := unix.Getpriority(unix.PRIO_PROCESS, 0); after != before {
			t.Errorf("calling thread's priority %d after the start, was %d", after, before)
		}
	})
}

func TestCred(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setting uid and gid needs root; run the tests as root to cover Cred")
	}
	eachPath(t, func(t *testing.T, staged bool) {
		s := newSpec("sh", "-c", "id -u; id -g; id -G")
		s.Cred = &Cred{UID: 65534, GID: 65534}
		s.Staged = staged
		// Without setgroups the child would keep root's group 0 in id -G.
		if out := output(t, s); out != "65534\n65534\n65534\n" {
			t.Errorf("uid, gid, groups %q, want 65534 for each", out)
		}

		// A vfork child that changes its credentials makes the
		// memory it shares with the daemon undumpable.
		if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err != nil || d != 1 {
			t.Errorf("daemon dumpable %d (%v) after the start, want 1", d, err)
		}
		if uid, gid := os.Getuid(), os.Getgid(); uid != 0 || gid != 0 {
			t.Errorf("daemon uid %d gid %d after the start, want 0", uid, gid)
		}
	})
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
			eachPath(t, func(t *testing.T, staged bool) {
				s := newSpec("cat", "/proc/self/stat")
				s.Setsid, s.Setpgid = tt.setsid, tt.setpgid
				s.Staged = staged
				r, w := newPipe(t)
				s.Stdout = int(w.Fd())
				p := startReleased(t, s)
				w.Close()
				defer p.Close()
				stat := readAll(t, r)
				reap(t, p.PID)

				pid := strconv.Itoa(p.PID)
				pgid, sid := statField(t, stat, 5), statField(t, stat, 6)
				if (pgid == pid) != tt.newPGID || (sid == pid) != tt.newSID {
					t.Errorf("pid %s: pgid %s sid %s", pid, pgid, sid)
				}
			})
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

	eachPath(t, func(t *testing.T, staged bool) {
		s := newSpec("cat", "/proc/self/stat")
		s.Setsid, s.Ctty = true, true
		s.Stdin = int(slave.Fd())
		s.Staged = staged
		if got, want := statField(t, output(t, s), 7), fmt.Sprint(st.Rdev); got != want {
			t.Errorf("child tty_nr %s, want the pty's %s", got, want)
		}
	})
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
