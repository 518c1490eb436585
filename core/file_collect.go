// SPDX-License-Identifier: Apache-2.0

package core

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tinylib/msgp/msgp"
	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
)

// collection is what proc.collect keeps for one process: the paths named
// at start, and once the process has been reaped and the copies made,
// their records. Owned by the loop.
type collection struct {
	paths   [][]byte // as given
	abs     []string // resolved against the child's working directory
	dir     string   // where the copies live
	files   []codec.Collected
	done    bool
	taken   int64 // bytes taken from the disk budget
	waiters []waiter
}

// checkCollect refuses too many collect paths before anything starts.
func checkCollect(a *codec.StartArgs) *codec.Error {
	if len(a.Collect) > maxCollect {
		return limitError("too many collect paths", maxCollect)
	}
	return nil
}

// noteCollect remembers the collect paths of a process just started.
func (e *Engine) noteCollect(p *proc, a *codec.StartArgs) {
	if len(a.Collect) == 0 {
		return
	}
	cwd := string(a.Cwd)
	if cwd == "" {
		cwd, _ = os.Getwd()
	}
	c := &collection{dir: filepath.Join(e.collectRoot(), fmt.Sprintf("%016x", p.h))}
	for _, path := range a.Collect {
		c.paths = append(c.paths, bytes.Clone(path))
		abs := string(path)
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(cwd, abs)
		}
		c.abs = append(c.abs, abs)
	}
	e.files.init()
	e.files.kept[p.h] = c
}

// collectRoot is where kept copies go: the state directory, or a
// directory of the daemon's own under the temporary directory.
func (e *Engine) collectRoot() string {
	if e.cfg.StateDir != "" {
		return filepath.Join(e.cfg.StateDir, "collect")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("tacetd-collect-%d", os.Getpid()))
}

// keepCollected keeps the collect paths of a reaped process. It opens
// each file in the loop, before the exit is reported, so that a clean-up
// that a controller starts on the exit (an unlink, a rename) cannot take
// a file away; the copying, from the open files, happens away from the
// loop, so it never delays an exit report.
//
// BUG(tacet): a file rewritten in place (truncated and written again)
// right after the exit may be copied with the new bytes; the fix would be
// to reflink or copy it in the loop, which would delay the exit.
func (e *Engine) keepCollected(p *proc) {
	c := e.files.kept[p.h]
	if c == nil || c.done {
		return
	}
	open := make([]*os.File, len(c.abs))
	files := make([]codec.Collected, len(c.abs))
	for i, src := range c.abs {
		files[i].Path = c.paths[i]
		f, err := openRegular(src, &files[i])
		if err != nil {
			setErrno(&files[i], err)
			continue
		}
		open[i] = f
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		taken := e.copyAll(c, open, files)
		e.post(func() {
			if e.files.kept[p.h] != c {
				e.giveCollected(c, taken)
				return
			}
			c.files, c.taken, c.done = files, taken, true
			for _, w := range c.waiters {
				w.s.respond(w.id, &codec.CollectResult{Files: c.files})
			}
			c.waiters = nil
		})
	}()
}

// openRegular opens src if it is a regular file, and fills in its mode
// and time.
func openRegular(src string, f *codec.Collected) (*os.File, error) {
	st, err := os.Lstat(src)
	if err != nil {
		return nil, err
	}
	f.Mode, f.Mtime = codec.FileMode(st.Mode()), uint64(st.ModTime().UnixNano())
	switch {
	case st.IsDir():
		return nil, unix.EISDIR
	case !st.Mode().IsRegular():
		return nil, unix.EINVAL
	}
	return os.Open(src)
}

func setErrno(f *codec.Collected, err error) {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		errno = unix.EIO
	}
	f.Errno, f.Sys = uint32(errno), errnoName(errno)
	f.Kept, f.SHA, f.Size = nil, nil, 0
}

// copyAll copies each open file into c.dir and closes it; it runs off the
// loop, and returns the bytes taken from the disk budget.
func (e *Engine) copyAll(c *collection, open []*os.File, files []codec.Collected) int64 {
	var taken int64
	mkErr := os.MkdirAll(c.dir, 0o700)
	for i, in := range open {
		if in == nil {
			continue
		}
		dst := filepath.Join(c.dir, fmt.Sprintf("%d-%s", i, filepath.Base(c.abs[i])))
		n, err := e.keepOne(&files[i], in, dst, mkErr)
		in.Close()
		taken += n
		if err != nil {
			setErrno(&files[i], err)
		}
	}
	return taken
}

// keepOne copies in to dst and fills f; it returns the bytes taken from
// the disk budget.
func (e *Engine) keepOne(f *codec.Collected, in *os.File, dst string, mkErr error) (int64, error) {
	if mkErr != nil {
		return 0, mkErr
	}
	st, err := in.Stat()
	if err != nil {
		return 0, err
	}
	if !e.disk.take(st.Size()) {
		return 0, unix.ENOSPC
	}
	sum, size, err := copyFile(in, dst)
	if err != nil {
		os.Remove(dst)
		e.disk.give(st.Size())
		return 0, err
	}
	f.Kept, f.SHA, f.Size = []byte(dst), sum, size
	return st.Size(), nil
}

// copyFile copies in to dst and returns the copy's SHA-256 and size.
// It tries a reflink first, which costs nothing where the file system
// shares blocks; a hard link would be cheaper still, but the copy would
// then change with the original if the next run rewrote it in place.
func copyFile(in *os.File, dst string) ([]byte, uint64, error) {
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, 0, err
	}
	defer out.Close()
	h := sha256.New()
	if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) == nil {
		n, err := io.Copy(h, out)
		return h.Sum(nil), uint64(n), err
	}
	n, err := io.Copy(io.MultiWriter(out, h), in)
	return h.Sum(nil), uint64(n), err
}

// collectFiles serves proc.collect: the records at once if the copies are
// made, else once they are.
func (e *Engine) collectFiles(s *session, id uint32, h uint64) (msgp.Marshaler, *codec.Error) {
	p, cerr := e.lookup(h)
	if cerr != nil {
		return nil, cerr
	}
	switch p.state {
	case stateStaged, stateRunning:
		return nil, codec.NewError(codec.CodeWrongState, "the process has not ended")
	case stateFailed:
		return &codec.CollectResult{Files: []codec.Collected{}}, nil
	}
	c := e.files.kept[h]
	if c == nil {
		return &codec.CollectResult{Files: []codec.Collected{}}, nil
	}
	if !c.done {
		c.waiters = append(c.waiters, waiter{s, id})
		return nil, nil
	}
	return &codec.CollectResult{Files: c.files}, nil
}

// dropCollected removes the copies kept for a released process.
func (e *Engine) dropCollected(h uint64) {
	c := e.files.kept[h]
	if c == nil {
		return
	}
	delete(e.files.kept, h)
	for _, w := range c.waiters {
		w.s.fail(w.id, codec.NewError(codec.CodeNotFound, "the process was released"))
	}
	if c.done {
		e.giveCollected(c, c.taken)
	}
}

// giveCollected deletes the copies of c and gives their bytes back.
func (e *Engine) giveCollected(c *collection, taken int64) {
	os.RemoveAll(c.dir)
	e.disk.give(taken)
}
