// SPDX-License-Identifier: Apache-2.0

package core

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/tinylib/msgp/msgp"
	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
)

// putXfer is one open file.put transfer. The loop checks and queues its
// chunks; its worker goroutine writes them to the part file, hashes them
// and answers each one, in the order they arrived.
type putXfer struct {
	id     uint32
	e      *Engine
	s      *session
	pl     place  // where the file goes; closed by the worker
	target string // pl.path: the key of the open transfers by path
	part   string // name of the part file in pl.sys
	size   uint64
	sha    []byte
	mode   uint32
	mtime  uint64
	sync   bool

	next    uint64       // loop: offset after the last chunk accepted
	ended   bool         // loop: the jobs channel is closed
	unacked atomic.Int64 // bytes of d queued and not answered yet
	jobs    chan putJob

	// Owned by the worker.
	f    *os.File // nil once the transfer is over
	h    hash.Hash
	have uint64
	err  *codec.Error // the first failure, the answer to every later chunk
}

// putJob is one request of a transfer, for its worker.
type putJob struct {
	id    uint32 // request id
	data  []byte // owned by the job; back to the pool when done
	abort bool
}

// chunkBufs is a free list of chunk buffers, so that a steady transfer
// does not allocate a buffer per request.
var chunkBufs = make(chan []byte, 64)

func getChunkBuf() []byte {
	select {
	case b := <-chunkBufs:
		return b[:0]
	default:
		return make([]byte, 0, putChunk)
	}
}

func putChunkBuf(b []byte) {
	if cap(b) != putChunk {
		return
	}
	select {
	case chunkBufs <- b:
	default:
	}
}

// filePut serves file.put in the loop. a.Data is a buffer of its own,
// which is either handed to the transfer or given back here.
func (e *Engine) filePut(s *session, id uint32, a *codec.PutArgs) (msgp.Marshaler, *codec.Error) {
	if a.Xfer == 0 {
		r, cerr := e.putOpen(s, id, a)
		if r == nil && cerr == nil {
			return nil, nil // the worker answers
		}
		return result(r, cerr)
	}
	x := e.files.puts[s][a.Xfer]
	if x == nil {
		putChunkBuf(a.Data)
		return nil, codec.NewError(codec.CodeNotFound, "no such transfer")
	}
	if a.Abort {
		putChunkBuf(a.Data)
		x.jobs <- putJob{id: id, abort: true} // the channel has room: see accept
		e.endPut(x)
		return nil, nil
	}
	if cerr := x.accept(id, a.Offset, a.Data); cerr != nil {
		putChunkBuf(a.Data)
		return nil, cerr
	}
	return nil, nil
}

// accept checks one chunk against the transfer and queues it for the
// worker, which answers it.
func (x *putXfer) accept(id uint32, off uint64, d []byte) *codec.Error {
	n := uint64(len(d))
	switch {
	case n > putChunk:
		return limitError("chunk longer than the transfer's chunk size", putChunk)
	case off != x.next:
		ce := codec.NewError(codec.CodeWrongState, "the chunk's offset is not where the file ends")
		ce.Detail.Limit = x.next
		return ce
	case off+n > x.size:
		return badArgs("o", "the chunk ends past the file's size")
	case x.unacked.Load()+int64(n) > putCredit+putChunk:
		return limitError("credit exceeded by more than one chunk", putCredit)
	case len(x.jobs) >= cap(x.jobs)-1: // keep room for an abort
		return limitError("too many chunks in flight", uint64(cap(x.jobs)-1))
	}
	x.next += n
	x.unacked.Add(int64(n))
	x.jobs <- putJob{id: id, data: d}
	return nil
}

func limitError(msg string, limit uint64) *codec.Error {
	ce := codec.NewError(codec.CodeLimit, msg)
	ce.Detail.Limit = limit
	return ce
}

// putOpen opens a transfer: it finds or creates the part file, and either
// answers at once or, when the request carries the first chunk or
// nothing is left to send, leaves the answer to the worker.
func (e *Engine) putOpen(s *session, id uint32, a *codec.PutArgs) (*codec.PutResult, *codec.Error) {
	pl, cerr := openPlace(a.Root, a.Path, a.MkDirs, !a.Dir)
	if cerr == nil && a.Dir {
		putChunkBuf(a.Data)
		defer pl.Close()
		return putDir(pl, a)
	}
	if cerr == nil {
		cerr = e.checkPutOpen(s, pl, a)
	}
	if cerr != nil {
		putChunkBuf(a.Data)
		pl.Close()
		return nil, cerr
	}
	x := &putXfer{e: e, s: s, pl: pl, target: pl.path, size: a.Size, sha: bytes.Clone(a.SHA),
		mode: a.Mode, mtime: a.Mtime, sync: a.Sync, jobs: make(chan putJob, 256)}
	x.part = partPath(pl.name, x.sha)
	have, cerr := x.openPart(a.Resume, a.MkDirs)
	if cerr == nil && len(a.Data) > 0 && a.Offset != have {
		x.f.Close()
		cerr = codec.NewError(codec.CodeWrongState, "the chunk's offset is not where the file ends")
		cerr.Detail.Limit = have
	}
	if cerr != nil {
		putChunkBuf(a.Data)
		pl.Close()
		return nil, cerr
	}

	x.id, x.next = s.newSubID(), have
	if e.files.puts[s] == nil {
		e.files.puts[s] = make(map[uint32]*putXfer)
	}
	e.files.puts[s][x.id] = x
	e.files.targets[x.target] = x
	e.wg.Add(1)
	go x.work(have)
	if len(a.Data) == 0 && have < x.size {
		putChunkBuf(a.Data)
		return &codec.PutResult{Xfer: x.id, Have: have, Credit: putCredit, Chunk: putChunk}, nil
	}
	if cerr := x.accept(id, have, a.Data); cerr != nil {
		putChunkBuf(a.Data)
		e.endPut(x)
		return nil, cerr
	}
	return nil, nil
}

// checkPutOpen checks the arguments of an opening file.put.
func (e *Engine) checkPutOpen(s *session, pl place, a *codec.PutArgs) *codec.Error {
	switch {
	case len(a.SHA) != sha256.Size:
		return badArgs("sha", "sha is not 32 bytes")
	case uint64(len(a.Data)) > a.Size:
		return badArgs("o", "the chunk ends past the file's size")
	case len(a.Data) > putChunk:
		return limitError("chunk longer than the transfer's chunk size", putChunk)
	case len(e.files.puts[s]) >= maxPuts:
		return limitError("too many open transfers on this connection", maxPuts)
	case e.files.targets[pl.path] != nil:
		return codec.NewError(codec.CodeWrongState, "another transfer to this path is open")
	}
	return nil
}

// partPath is where the bytes of a transfer to target are written until
// the file is whole: beside it, so that a rename puts it in place.
func partPath(target string, sha []byte) string {
	dir, name := filepath.Split(target)
	return filepath.Join(dir, fmt.Sprintf(".%s.tacet-%x.part", name, sha[:8]))
}

// openPart opens the part file, kept as it is with resume, and returns how
// many bytes of the file it holds.
func (x *putXfer) openPart(resume, mkdirs bool) (uint64, *codec.Error) {
	if mkdirs {
		if err := x.pl.sys.MkdirAll(filepath.Dir(x.pl.name), 0o755); err != nil {
			return 0, fileError("create the directory of "+x.target, err)
		}
	}
	flags := os.O_RDWR | os.O_CREATE // read too: a resume hashes what is there
	if !resume {
		flags |= os.O_TRUNC
	}
	f, err := x.pl.sys.OpenFile(x.part, flags, 0o600)
	if err != nil {
		return 0, fileError("open "+x.part, err)
	}
	var have uint64
	if resume {
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return 0, fileError("stat "+x.part, err)
		}
		have = uint64(st.Size())
		if have > x.size {
			// Not a prefix of this file after all: start again.
			have = 0
			f.Truncate(0)
		}
	}
	x.f = f
	return have, nil
}

// endPut closes the transfer's queue and forgets it; its worker finishes
// what is queued and stops. A part file not yet renamed stays for a
// resume.
func (e *Engine) endPut(x *putXfer) {
	if x.ended {
		return
	}
	x.ended = true
	close(x.jobs)
	delete(e.files.puts[x.s], x.id)
	if e.files.targets[x.target] == x {
		delete(e.files.targets, x.target)
	}
}

// end is endPut for a session that has gone.
func (x *putXfer) end() { x.e.endPut(x) }

// work runs the transfer's jobs. The bytes already in a resumed part file
// are hashed first, so that the whole file's sum can be checked at the
// end.
func (x *putXfer) work(have uint64) {
	defer x.e.wg.Done()
	x.h = sha256.New()
	x.have = have
	if have > 0 {
		if _, err := io.Copy(x.h, io.NewSectionReader(x.f, 0, int64(have))); err != nil {
			x.err = fileError("read "+x.part, err)
		}
	}
	for j := range x.jobs {
		x.do(j)
	}
	if x.f != nil {
		x.f.Close()
	}
	x.pl.Close()
}

// do writes one chunk and answers its request.
func (x *putXfer) do(j putJob) {
	defer putChunkBuf(j.data)
	x.unacked.Add(-int64(len(j.data)))
	if j.abort {
		if x.f != nil {
			x.f.Close()
			x.f = nil
			x.pl.sys.Remove(x.part)
		}
		x.s.respond(j.id, &codec.PutResult{Xfer: x.id, Have: x.have})
		return
	}
	if cerr := x.write(j.data); cerr != nil {
		x.s.fail(j.id, cerr)
		return
	}
	done := x.have == x.size
	if done {
		if cerr := x.complete(); cerr != nil {
			x.s.fail(j.id, cerr)
			return
		}
	}
	x.s.respond(j.id, &codec.PutResult{Xfer: x.id, Have: x.have, Credit: putCredit,
		Chunk: putChunk, Done: done})
}

func (x *putXfer) write(d []byte) *codec.Error {
	switch {
	case x.err != nil:
		return x.err
	case x.f == nil:
		return codec.NewError(codec.CodeNotFound, "the transfer is over")
	}
	if _, err := x.f.WriteAt(d, int64(x.have)); err != nil {
		x.err = fileError("write "+x.part, err)
		return x.err
	}
	x.h.Write(d)
	x.have += uint64(len(d))
	return nil
}

// complete checks the whole file's sum, sets its mode and time, and
// renames it into place. Whatever the outcome the transfer is over.
func (x *putXfer) complete() *codec.Error {
	f := x.f
	x.f = nil
	defer x.e.post(func() { x.e.endPut(x) })
	if !bytes.Equal(x.h.Sum(nil), x.sha) {
		f.Close()
		x.pl.sys.Remove(x.part)
		return badArgs("sha", "the file's SHA-256 does not match sha")
	}
	err := unix.Fchmod(int(f.Fd()), x.mode&0o7777)
	if err == nil && x.sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && x.mtime != 0 {
		err = x.pl.sys.Chtimes(x.part, time.Time{}, time.Unix(0, int64(x.mtime)))
	}
	if err == nil {
		// A symbolic link at the target's name is replaced, not followed.
		err = x.pl.sys.Rename(x.part, x.pl.name)
	}
	if err == nil && x.sync {
		err = syncDir(x.pl.sys, filepath.Dir(x.pl.name))
	}
	if err != nil {
		return fileError("finish "+x.target, err)
	}
	return nil
}

func syncDir(sys fileSys, dir string) error {
	d, err := sys.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// putDir creates a directory, or keeps one that exists, and sets its mode
// and time. A tree is put with its files first and its directories after,
// deepest first, so that writing the files does not change the times set.
func putDir(pl place, a *codec.PutArgs) (*codec.PutResult, *codec.Error) {
	var err error
	if a.MkDirs {
		err = pl.sys.MkdirAll(pl.name, 0o755)
	} else if err = pl.sys.Mkdir(pl.name, 0o755); os.IsExist(err) {
		if st, serr := pl.sys.Stat(pl.name); serr == nil && st.IsDir() {
			err = nil
		}
	}
	if err == nil {
		err = pl.sys.Chmod(pl.name, codec.GoFileMode(a.Mode))
	}
	if err == nil && a.Mtime != 0 {
		err = pl.sys.Chtimes(pl.name, time.Time{}, time.Unix(0, int64(a.Mtime)))
	}
	if err != nil {
		return nil, fileError("directory "+pl.path, err)
	}
	return &codec.PutResult{Done: true}, nil
}
