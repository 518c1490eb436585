// SPDX-License-Identifier: Apache-2.0

package core

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/core/journal"
)

// A daemon that dies leaves its cgroup directory behind, with the
// cgroups of its processes in it. The daemon started next on the same
// state directory removes them: it holds the state directory's lock, so
// the instances its journal names are dead, and no other daemon creates
// cgroups there. The directories are recorded in the journal's instance
// record rather than in a file of their own: the journal is already the
// one record of the previous instance that a restart reads, it is
// replaced atomically, and it names the cgroup of every process carried
// over, so a directory stays recorded for as long as an instance after
// it still has work to do there, however many restarts that takes.
//
// Only rmdir is used: the kernel refuses to remove a cgroup that holds
// a process or a cgroup of its own, so the cleanup ends nothing and
// leaves alone whatever it cannot account for.

// noteOldCgroups records the cgroup directories of earlier instances
// that the journal names: those of its instance record, and the parent
// of each process cgroup it holds, which is all a journal written before
// instance records named directories tells. A path that is not a tacet
// directory under the cgroup v2 mount is ignored, so that a damaged
// journal cannot make the daemon remove anything else.
func (e *Engine) noteOldCgroups(old *journal.State) {
	mnt := cgroup2Mount()
	if mnt == "" {
		return
	}
	dirs := slices.Clone(old.Cgroups)
	for _, jp := range old.Procs {
		if jp.Start.Cgroup != "" {
			dirs = append(dirs, filepath.Dir(jp.Start.Cgroup))
		}
	}
	for _, d := range dirs {
		if isInstanceCgroup(mnt, d) && (e.cg == nil || d != e.cg.dir) {
			e.oldCg[d] = true
		}
	}
}

// isInstanceCgroup reports whether dir is a daemon's directory
// (tacet-ID) under the cgroup v2 mount mnt.
func isInstanceCgroup(mnt, dir string) bool {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || !strings.HasPrefix(filepath.Base(dir), "tacet-") {
		return false
	}
	rel, err := filepath.Rel(mnt, dir)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../")
}

// sweepOldCgroups removes, from each directory of an earlier instance,
// the empty process cgroups that no carried-over process uses, and then
// the directory itself if nothing is left in it. A carried-over
// process's cgroup goes when the process ends or is released
// (removeCgroup), and the directory with the last of them.
//
// TODO: a cgroup that holds processes the journal does not know (a start
// whose record the crash cut short) stays, and its directory with it,
// until a restart after those processes ended: nothing watches it
// meanwhile. Watching the directory's cgroup.events for "populated 0"
// and sweeping again then would remove them as soon as they empty.
func (e *Engine) sweepOldCgroups() {
	inUse := map[string]bool{}
	for _, p := range e.procs {
		if p.cg != nil {
			inUse[p.cg.dir] = true
		}
	}
	for d := range e.oldCg {
		if removeEmptyCgroups(d, inUse) {
			delete(e.oldCg, d)
		}
	}
}

// removeEmptyCgroups removes, with rmdir, every process cgroup (pHANDLE)
// in the daemon directory dir but those inUse names, and then dir. A
// cgroup that still holds processes, or cgroups made inside it, stays.
// It reports whether dir is gone.
func removeEmptyCgroups(dir string, inUse map[string]bool) bool {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	for _, de := range ents {
		sub := filepath.Join(dir, de.Name())
		if de.IsDir() && isProcCgroupName(de.Name()) && !inUse[sub] {
			unix.Rmdir(sub) // refused while processes remain
		}
	}
	return rmdirGone(dir)
}

// isProcCgroupName reports whether name is that of a process cgroup, as
// cgroupRoot.create makes it.
func isProcCgroupName(name string) bool {
	h, ok := strings.CutPrefix(name, "p")
	if !ok || h == "" {
		return false
	}
	_, err := strconv.ParseUint(h, 16, 64)
	return err == nil
}

// rmdirGone removes the empty directory dir and reports whether it is
// gone, removed now or before.
func rmdirGone(dir string) bool {
	err := unix.Rmdir(dir)
	return err == nil || err == unix.ENOENT
}

// instanceCgroups returns the cgroup directories this instance must
// remove, for its journal: its own, then those of earlier instances.
func (e *Engine) instanceCgroups() []string {
	var old []string
	for d := range e.oldCg {
		old = append(old, d)
	}
	slices.Sort(old)
	if e.cg == nil {
		return old
	}
	return append([]string{e.cg.dir}, old...)
}
