// SPDX-License-Identifier: Apache-2.0

package core

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cgroupReaper removes the cgroups whose rmdir the kernel refused
// because processes were still leaving them. A tree killed at release
// through cgroup.kill dies after the write returns, so the rmdir that
// follows it usually fails; without a second try the empty cgroup would
// stay for the daemon's life.
//
// The kernel marks a cgroup's cgroup.events modified when the cgroup
// stops being populated. An inotify descriptor in the runtime's poller
// turns that into the wake-up of one goroutine, which has the loop try
// the rmdir again. Nothing polls, and a daemon with no such cgroup has no
// descriptor at all. Its fields belong to the loop but for f, which the
// reading goroutine also uses.
type cgroupReaper struct {
	f    *os.File // the inotify descriptor, nil until first needed
	fd   int
	wait map[int32]*cgroup // by watch descriptor
}

// removeOrWatch removes cg, or watches it and removes it once it is
// empty. It runs on the loop.
func (e *Engine) removeOrWatch(cg *cgroup) {
	if e.removeCgroup(cg) == nil {
		return
	}
	r := &e.cgReap
	if r.f == nil {
		fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
		if err != nil {
			return // left as it is, as without a reaper
		}
		r.fd, r.f, r.wait = fd, os.NewFile(uintptr(fd), "inotify"), map[int32]*cgroup{}
		e.wg.Add(1)
		go e.readCgroupEvents(r.f)
	}
	wd, err := unix.InotifyAddWatch(r.fd, filepath.Join(cg.dir, "cgroup.events"), unix.IN_MODIFY)
	if err != nil {
		return
	}
	r.wait[int32(wd)] = cg
	// It may have emptied before the watch began.
	e.retryCgroup(int32(wd))
}

// retryCgroup tries again to remove the cgroup of watch wd.
func (e *Engine) retryCgroup(wd int32) {
	r := &e.cgReap
	cg := r.wait[wd]
	if cg == nil {
		return
	}
	if err := e.removeCgroup(cg); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return
	}
	delete(r.wait, wd)
	// The kernel drops the watch of a removed file itself (IN_IGNORED);
	// the call only makes sure of it.
	unix.InotifyRmWatch(r.fd, uint32(wd))
}

// readCgroupEvents hands every modification of a watched cgroup.events
// to the loop until f is closed. When the kernel's queue overflowed,
// events were lost, and the loop tries every watched cgroup.
func (e *Engine) readCgroupEvents(f *os.File) {
	defer e.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := f.Read(buf)
		if err != nil {
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			var retry func()
			switch wd := ev.Wd; {
			case ev.Mask&unix.IN_Q_OVERFLOW != 0:
				retry = e.retryCgroups
			case ev.Mask&unix.IN_MODIFY != 0:
				retry = func() { e.retryCgroup(wd) }
			default:
				continue
			}
			if !e.post(retry) {
				return
			}
		}
	}
}

// retryCgroups tries every watched cgroup again.
func (e *Engine) retryCgroups() {
	for wd := range e.cgReap.wait {
		e.retryCgroup(wd)
	}
}

// closeCgroupReaper stops watching when the daemon stops. The trees of
// processes released just before are usually still dying: for up to
// reapAtExit the loop, which no longer reads the reader's notices, tries
// their cgroups itself.
func (e *Engine) closeCgroupReaper() {
	r := &e.cgReap
	if r.f == nil {
		return
	}
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		e.retryCgroups()
		if len(r.wait) == 0 || time.Since(start) > reapAtExit {
			break
		}
	}
	r.f.Close()
	r.f = nil
}

// reapAtExit bounds how long a stopping daemon waits for released trees
// to leave their cgroups.
const reapAtExit = time.Second
