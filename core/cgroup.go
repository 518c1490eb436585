// SPDX-License-Identifier: Apache-2.0

package core

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// cgroupRoot is the cgroup v2 directory under which each process gets a
// cgroup of its own, so that its whole tree can be killed, frozen and
// measured however its members detach.
type cgroupRoot struct {
	dir  string
	ctrl []string // controllers enabled for the process cgroups
}

// findCgroupRoot creates the daemon's directory in the cgroup v2
// hierarchy, beside its own cgroup, or returns nil when there is none it
// may write.
func findCgroupRoot(instance []byte) *cgroupRoot {
	mnt := cgroup2Mount()
	if mnt == "" {
		return nil
	}
	own := ownCgroup()
	// A daemon that dies leaves this directory behind, and the next
	// daemon on its state directory removes it (cgroup_clean.go).
	// TODO: the directory of a daemon that ran without a state
	// directory, or whose state directory no daemon uses again, is never
	// removed: nothing tells another live daemon's directory from a dead
	// one's. The daemon could mark its directory with its pid and the
	// pid's start time (an xattr, which cgroupfs keeps), so that a
	// starting daemon can remove the empty directories of dead owners.
	dir := filepath.Join(mnt, own, "tacet-"+hex.EncodeToString(instance[:4]))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil
	}
	root := &cgroupRoot{dir: dir}
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers")); err == nil {
		for _, c := range strings.Fields(string(b)) {
			if c == "memory" || c == "cpu" || c == "pids" {
				if os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+c), 0) == nil {
					root.ctrl = append(root.ctrl, c)
				}
			}
		}
	}
	return root
}

// cgroup2Mount returns the mount point of the cgroup v2 hierarchy.
func cgroup2Mount() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Fields after " - " are fstype, source, options.
		line := sc.Text()
		i := strings.Index(line, " - ")
		if i < 0 || !strings.HasPrefix(line[i+3:], "cgroup2 ") {
			continue
		}
		if f := strings.Fields(line[:i]); len(f) >= 5 {
			return f[4]
		}
	}
	return ""
}

// ownCgroup returns this process's path in the v2 hierarchy.
func ownCgroup() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "/"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	return "/"
}

// has reports whether controller c is available to process cgroups.
func (r *cgroupRoot) has(c string) bool {
	for _, x := range r.ctrl {
		if x == c {
			return true
		}
	}
	return false
}

// cgroup is the cgroup of one process tree.
type cgroup struct {
	dir string
	fd  int // O_DIRECTORY, for clone3's CLONE_INTO_CGROUP; -1 once closed
}

// create makes the cgroup of process h.
func (r *cgroupRoot) create(h uint64) (*cgroup, error) {
	dir := filepath.Join(r.dir, "p"+strconv.FormatUint(h, 16))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	return &cgroup{dir: dir, fd: fd}, nil
}

func (c *cgroup) write(file, val string) error {
	return os.WriteFile(filepath.Join(c.dir, file), []byte(val), 0)
}

// kill sends SIGKILL to every process in the cgroup at once; a tree that
// keeps forking cannot outrun it.
func (c *cgroup) kill() error { return c.write("cgroup.kill", "1") }

// freeze stops or resumes every process in the cgroup.
func (c *cgroup) freeze(on bool) error {
	if on {
		return c.write("cgroup.freeze", "1")
	}
	return c.write("cgroup.freeze", "0")
}

// pids returns the processes in the cgroup.
func (c *cgroup) pids() []int {
	b, _ := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
	var out []int
	for _, f := range bytes.Fields(b) {
		if pid, err := strconv.Atoi(string(f)); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// frozen reports whether the cgroup was asked to freeze (proc.freeze).
func (c *cgroup) frozen() bool {
	b, err := os.ReadFile(filepath.Join(c.dir, "cgroup.freeze"))
	return err == nil && bytes.HasPrefix(b, []byte("1"))
}

// signal sends sig to every process in the cgroup. The tree is frozen
// meanwhile, so that no member forks a child that the walk would miss,
// and thawed after unless it was frozen before: a tree its controller
// froze stays frozen, and gets the signal when it is thawed.
func (c *cgroup) signal(sig unix.Signal) error {
	if sig == unix.SIGKILL {
		return c.kill()
	}
	if c.frozen() {
		for _, pid := range c.pids() {
			unix.Kill(pid, sig)
		}
		return nil
	}
	froze := c.freeze(true) == nil
	for _, pid := range c.pids() {
		unix.Kill(pid, sig)
	}
	if froze {
		return c.freeze(false)
	}
	return nil
}

// statValue reads key's value from a flat keyed file such as cpu.stat.
func (c *cgroup) statValue(file, key string) (uint64, bool) {
	b, err := os.ReadFile(filepath.Join(c.dir, file))
	if err != nil {
		return 0, false
	}
	return statKey(b, key)
}

// statKey returns key's value in b, the contents of a flat keyed file,
// so that a file holding several wanted keys is read once.
func statKey(b []byte, key string) (uint64, bool) {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// populated reports whether any process is left in the cgroup.
func (c *cgroup) populated() bool {
	n, ok := c.statValue("cgroup.events", "populated")
	return !ok || n != 0
}

// single reads a file that holds one number, such as memory.peak.
func (c *cgroup) single(file string) (uint64, bool) {
	b, err := os.ReadFile(filepath.Join(c.dir, file))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}

// closeFD releases the directory fd once no more processes are cloned in.
func (c *cgroup) closeFD() {
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
}

// remove deletes the cgroup; it fails while processes remain in it.
func (c *cgroup) remove() error {
	c.closeFD()
	return unix.Rmdir(c.dir)
}

// removeCgroup deletes cg and, when it was a cgroup of a previous
// instance, that instance's directory once it is empty.
func (e *Engine) removeCgroup(cg *cgroup) error {
	if err := cg.remove(); err != nil {
		return err
	}
	// Refused while other carried-over processes remain in it.
	if parent := filepath.Dir(cg.dir); e.oldCg[parent] && rmdirGone(parent) {
		delete(e.oldCg, parent)
	}
	return nil
}
