// SPDX-License-Identifier: Apache-2.0

package core

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/tinylib/msgp/msgp"
	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
)

// Files (spec/PROTOCOL.md 11.13, 11.16, 11.17). The loop checks every
// file.* request and keeps which transfers are open; the bytes never
// pass through it for long. A put transfer has a worker goroutine that
// writes, hashes and answers its chunks in order (file_put.go); a get
// transfer is read by the session's writer as bulk under credit, like
// output (file_get.go); collected files are copied by a goroutine after
// the exit has been reported (file_collect.go).

const (
	putChunk   = 256 << 10 // largest d of one file.put request
	putCredit  = 8 << 20   // the window of one put transfer
	maxPuts    = 64        // open put transfers per connection
	maxGets    = 64        // open get transfers per connection
	maxCollect = 64        // collect paths per process
	maxList    = 100000    // entries of one file.get listing
	maxListBin = 512 << 10 // path bytes of one file.get listing
)

// fileState is the engine's part of file transfers, owned by the loop.
type fileState struct {
	put     codec.PutArgs
	get     codec.GetArgs
	handle  codec.HandleArgs
	puts    map[*session]map[uint32]*putXfer
	targets map[string]*putXfer // open puts by target path
	kept    map[uint64]*collection
}

// init makes the maps on first use.
func (f *fileState) init() {
	if f.puts == nil {
		f.puts = make(map[*session]map[uint32]*putXfer)
		f.targets = make(map[string]*putXfer)
		f.kept = make(map[uint64]*collection)
	}
}

// dispatchFile serves file.put, file.get and proc.collect.
func (e *Engine) dispatchFile(s *session, id uint32, method string, a []byte) (msgp.Marshaler, *codec.Error) {
	f := &e.files
	f.init()
	switch method {
	case codec.MethodFilePut:
		// The chunk is decoded into a buffer of its own, which the
		// transfer's worker owns from here on: the frame is reused as
		// soon as the loop is done with it.
		f.put.Data = getChunkBuf()
		if err := decode(a, &f.put); err != nil {
			putChunkBuf(f.put.Data)
			return nil, err
		}
		return e.filePut(s, id, &f.put)
	case codec.MethodFileGet:
		if err := decode(a, &f.get); err != nil {
			return nil, err
		}
		return e.fileGet(s, id, &f.get)
	}
	if err := decode(a, &f.handle); err != nil {
		return nil, err
	}
	return e.collectFiles(s, id, f.handle.Handle)
}

// checkPath refuses a path that is not absolute and returns it cleaned.
func checkPath(p []byte) (string, *codec.Error) {
	if len(p) == 0 || p[0] != '/' {
		return "", badArgs("path", "the path is not absolute")
	}
	return filepath.Clean(string(p)), nil
}

// fileError turns a system error into the protocol's error with the errno.
func fileError(what string, err error) *codec.Error {
	if isEscape(err) {
		// The errno openat2 gives for RESOLVE_BENEATH, which is the rule.
		ce := codec.NewError(codec.CodePermission, what+": a symbolic link or the path leads out of root")
		ce.Detail.Errno, ce.Detail.Sys = uint32(unix.EXDEV), errnoName(unix.EXDEV)
		return ce
	}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return codec.NewError(codec.CodeInternal, what+": "+err.Error())
	}
	code := uint16(codec.CodeInternal)
	switch errno {
	case unix.ENOENT, unix.ENOTDIR:
		code = codec.CodeNotFound
	case unix.EACCES, unix.EPERM, unix.EROFS:
		code = codec.CodePermission
	case unix.ENOSPC, unix.EDQUOT, unix.EFBIG:
		code = codec.CodeLimit
	case unix.EISDIR, unix.EINVAL, unix.ENAMETOOLONG:
		code = codec.CodeBadArgs
	}
	ce := codec.NewError(code, what+": "+err.Error())
	ce.Detail.Errno, ce.Detail.Sys = uint32(errno), errnoName(errno)
	return ce
}

// endFiles ends the transfers of a session that has gone: its puts stop
// and keep their part files for a resume, its gets close their files.
func (e *Engine) endFiles(s *session) {
	for _, x := range e.files.puts[s] {
		x.end()
	}
	delete(e.files.puts, s)
	s.mu.Lock()
	gets := s.gets
	s.gets = nil
	s.mu.Unlock()
	for _, g := range gets {
		g.f.Close()
	}
}

var errListLimit = errors.New("listing too long")

// errIsDir returns the errno that says why st is not a regular file.
func errIsDir(st os.FileInfo) error {
	if st.IsDir() {
		return unix.EISDIR
	}
	return unix.EINVAL
}
