// SPDX-License-Identifier: Apache-2.0

package core

import (
	"crypto/sha256"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tinylib/msgp/msgp"

	"gitlab.com/tacet/tacet/codec"
)

// getXfer is one file.get transfer. The session's writer sends its bytes
// as bulk, one chunk per round like an output subscription, while it has
// credit. Its credit and dead flag are guarded by the session's mu; the
// rest belongs to the writer once the transfer is added.
type getXfer struct {
	id     uint32
	f      *os.File
	off    uint64
	size   uint64
	mtime  int64
	credit int64
	dead   bool          // cancelled: the writer closes f and drops it
	ready  chan struct{} // closed when h holds the bytes before the first offset
	h      hash.Hash
	buf    []byte
	ev     codec.File
}

// fileGet serves file.get: a listing, a cancel, or a new transfer.
func (e *Engine) fileGet(s *session, id uint32, a *codec.GetArgs) (msgp.Marshaler, *codec.Error) {
	if a.Xfer != 0 {
		if !s.cancelGet(a.Xfer) {
			return nil, codec.NewError(codec.CodeNotFound, "no such transfer")
		}
		return success(), nil
	}
	pl, cerr := openPlace(a.Root, a.Path, false, false)
	if cerr != nil {
		return nil, cerr
	}
	defer pl.Close() // an open file outlives it
	path := pl.path
	if a.List {
		r, cerr := listTree(pl)
		return result(r, cerr)
	}
	s.mu.Lock()
	n := len(s.gets)
	s.mu.Unlock()
	if n >= maxGets {
		return nil, limitError("too many transfers on this connection", maxGets)
	}

	f, err := pl.sys.OpenFile(pl.name, os.O_RDONLY, 0)
	if err != nil {
		return nil, fileError("open "+path, err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = &fs.PathError{Op: "get", Path: path, Err: errIsDir(st)}
	}
	if err != nil {
		f.Close()
		return nil, fileError("stat "+path, err)
	}
	size := uint64(st.Size())
	if a.Offset > size {
		f.Close()
		return nil, badArgs("o", "o is past the end of the file")
	}
	credit := a.Credit
	if credit == 0 {
		credit = 1 << 20
	}
	g := &getXfer{id: s.newSubID(), f: f, off: a.Offset, size: size, mtime: st.ModTime().UnixNano(),
		credit: int64(min(credit, 1<<62)), ready: make(chan struct{}), h: sha256.New(),
		buf: make([]byte, maxChunk)}
	g.ev.K, g.ev.Xfer = codec.EventFile, g.id
	s.respond(id, &codec.GetResult{Xfer: g.id, Size: size, Mode: codec.FileMode(st.Mode()),
		Mtime: uint64(g.mtime)})
	e.hashPrefix(s, g)
	s.mu.Lock()
	s.gets = append(s.gets, g)
	s.mu.Unlock()
	s.wakeup()
	return nil, nil
}

// hashPrefix hashes the bytes before the first offset of a resumed get,
// away from the writer, which sends nothing of the transfer until then.
func (e *Engine) hashPrefix(s *session, g *getXfer) {
	if g.off == 0 {
		close(g.ready)
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		io.Copy(g.h, io.NewSectionReader(g.f, 0, int64(g.off)))
		close(g.ready)
		s.wakeup()
	}()
}

// cancelGet marks transfer id dead and reports whether it was open.
func (s *session) cancelGet(id uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.gets {
		if g.id == id && !g.dead {
			g.dead = true
			s.wakeup()
			return true
		}
	}
	return false
}

// addGetCreditLocked adds n bytes of credit to get transfer id, if open.
func (s *session) addGetCreditLocked(id uint32, n uint64) {
	for _, g := range s.gets {
		if g.id == id {
			g.credit = int64(min(uint64(g.credit)+n, 1<<62))
		}
	}
}

// sendFiles sends one chunk, or the end, of each get transfer that has
// credit, and drops the transfers that are over.
func (w *writer) sendFiles() (bool, error) {
	s := w.s
	sent := false
	for i := 0; ; i++ {
		s.mu.Lock()
		if i >= len(s.gets) {
			s.mu.Unlock()
			return sent, nil
		}
		g := s.gets[i]
		dead, credit := g.dead, g.credit
		s.mu.Unlock()

		ok, over, err := w.sendGet(g, dead, credit)
		if over {
			g.f.Close()
			s.mu.Lock()
			s.gets = append(s.gets[:i], s.gets[i+1:]...)
			s.mu.Unlock()
			i--
		}
		if err != nil {
			return sent, err
		}
		sent = sent || ok
	}
}

// sendGet sends the next chunk of g, or its fileend, and reports whether
// it sent a frame and whether the transfer is over.
func (w *writer) sendGet(g *getXfer, dead bool, credit int64) (sent, over bool, err error) {
	if dead {
		return false, true, nil
	}
	select {
	case <-g.ready:
	default:
		return false, false, nil
	}
	if g.off >= g.size {
		return true, true, w.sendFileEnd(g, false)
	}
	if credit <= 0 {
		return false, false, nil
	}
	n, err := g.f.ReadAt(g.buf[:min(uint64(len(g.buf)), g.size-g.off)], int64(g.off))
	if n == 0 {
		// The file shrank while it was read: end with what was sent.
		return true, true, w.sendFileEnd(g, true)
	}
	g.h.Write(g.buf[:n])
	g.ev.Offset, g.ev.Data = g.off, g.buf[:n]
	b, _ := codec.AppendEvent(w.s.conn.Begin(), g.id, &g.ev)
	g.off += uint64(n)
	w.s.mu.Lock()
	g.credit -= int64(n)
	w.s.mu.Unlock()
	_ = err // a short read is retried at the new offset
	return true, false, w.s.conn.End(b)
}

// sendFileEnd writes the transfer's fileend, with changed set when the
// file's size or time is not what it was when it was opened.
func (w *writer) sendFileEnd(g *getXfer, changed bool) error {
	if st, err := g.f.Stat(); err != nil || uint64(st.Size()) != g.size ||
		st.ModTime().UnixNano() != g.mtime {
		changed = true
	}
	ev := codec.FileEnd{K: codec.EventFileEnd, Xfer: g.id, Size: g.size, SHA: g.h.Sum(nil),
		Changed: changed}
	b, _ := codec.AppendEvent(w.s.conn.Begin(), g.id, &ev)
	return w.s.conn.End(b)
}

// listTree lists the directories and regular files under pl, parents
// before children, for a controller that gets a tree. The listed path is
// followed if it is a symbolic link; below it symbolic links and special
// files are left out.
func listTree(pl place) (*codec.GetResult, *codec.Error) {
	fsys, root := pl.walkFS()
	st, err := fs.Stat(fsys, root)
	if err != nil {
		return nil, fileError("stat "+pl.path, err)
	}
	r := &codec.GetResult{Mode: codec.FileMode(st.Mode()), Mtime: uint64(st.ModTime().UnixNano()),
		Size: uint64(st.Size())}
	bin := 0
	err = fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// fs.WalkDir stats the root itself, following a link there.
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			rel = ""
		}
		bin += len(rel)
		if len(r.Files) >= maxList || bin > maxListBin {
			return errListLimit
		}
		r.Files = append(r.Files, codec.FileEntry{Path: []byte(rel), Dir: d.IsDir(),
			Size: uint64(info.Size()), Mode: codec.FileMode(info.Mode()), Mtime: uint64(info.ModTime().UnixNano())})
		return nil
	})
	if err == errListLimit {
		return nil, limitError("the tree has too many entries to list", maxList)
	}
	if err != nil {
		return nil, fileError("list "+pl.path, err)
	}
	return r, nil
}
