// SPDX-License-Identifier: Apache-2.0

package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// Files (spec/PROTOCOL.md 11.13, 11.16, 11.17). Put sends a file or a
// tree with file.put, a window of chunks in flight; Get lists the remote
// path with file.get and fetches each file, its bytes arriving as events
// under credit. Both keep mode and modification time, and both resume:
// the daemon keeps the part file of an interrupted put, and Get keeps a
// local part file.

// getWindow is the credit of a file.get transfer, and the most bytes of
// it the reader goroutine may hand over without their being written.
const getWindow = 4 << 20

// smallFile is the size up to which a put sends the whole file in its
// opening request, one round trip, without looking for a part file.
const smallFile = 64 << 10

// Progress is how far a transfer has come.
type Progress struct {
	Host      int   // the host's index, in a Group; 0 otherwise
	Files     int   // files of the transfer
	FilesDone int   // files verified in place
	Bytes     int64 // bytes of all the files
	BytesDone int64 // bytes in place, resumed bytes included
	Sent      int64 // bytes of file data that crossed the connection
}

// TransferResult is what a Put or Get did.
type TransferResult struct {
	Files int   // files transferred
	Dirs  int   // directories created or updated
	Bytes int64 // bytes of the files
	Sent  int64 // bytes that crossed the connection; less than Bytes after a resume
}

// FileOption configures Put, Get and CollectTo.
type FileOption func(*fileConfig)

type fileConfig struct {
	progress func(Progress)
	sync     bool
	host     int
	inFlight int // small files a put keeps in flight; 0: smallInFlight
}

// WithSmallFilesInFlight sets how many small files (64 KiB or less) a Put
// or a Get keeps in flight before it waits for the daemon's answers: 16
// by default, 1 for one after the other, at most maxSmallInFlight. More
// hide more of a long round trip.
func WithSmallFilesInFlight(n int) FileOption {
	return func(c *fileConfig) { c.inFlight = min(max(n, 1), maxSmallInFlight) }
}

// maxSmallInFlight keeps a Get's transfers in flight well under the 64 a
// daemon allows on one connection, leaving room for other transfers.
const maxSmallInFlight = 32

// WithProgress has fn called with the progress of the transfer after
// each chunk is acknowledged or written. The calls of one transfer come
// from one goroutine at a time; those of a Group's hosts may come at
// once.
func WithProgress(fn func(Progress)) FileOption {
	return func(c *fileConfig) { c.progress = fn }
}

// WithSync makes the daemon flush each put file to disk before it
// reports it done.
func WithSync(on bool) FileOption { return func(c *fileConfig) { c.sync = on } }

func withHost(i int) FileOption { return func(c *fileConfig) { c.host = i } }

// tracker counts a transfer's progress and reports it. Its methods may
// be called from the goroutines of files in flight at once.
type tracker struct {
	cfg fileConfig
	mu  sync.Mutex // serializes p and the progress calls
	p   Progress
}

func newTracker(opts []FileOption, files int, bytes int64) *tracker {
	t := &tracker{}
	for _, o := range opts {
		o(&t.cfg)
	}
	t.p = Progress{Host: t.cfg.host, Files: files, Bytes: bytes}
	return t
}

func (t *tracker) add(done, sent int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.BytesDone += done
	t.p.Sent += sent
	if t.cfg.progress != nil {
		t.cfg.progress(t.p)
	}
}

func (t *tracker) fileDone() {
	t.mu.Lock()
	t.p.FilesDone++
	t.mu.Unlock()
	t.add(0, 0)
}

// putEntry is one file or directory of a put, hashed once however many
// hosts it goes to.
type putEntry struct {
	local, rel string // rel is slash-separated, "" for the root itself
	dir        bool
	size       int64
	mode       uint32
	mtime      int64
	sha        []byte
}

// putPlan is what a Put sends: the files, then the directories deepest
// first, so that the files written do not change the directories' times.
type putPlan struct {
	entries []putEntry
	files   int
	bytes   int64
	tree    bool // local is a directory: every file is put beneath the remote path
}

// planPut walks local and hashes every regular file. local is followed
// if it is a symbolic link; below it, symbolic links and special files
// are skipped, so that nothing outside local is read and a tree never
// carries a link.
func planPut(local string) (*putPlan, error) {
	plan := &putPlan{}
	// filepath.WalkDir would report a link given as local, and stop.
	local, err := filepath.EvalSymlinks(local)
	if err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	st, err := os.Stat(local)
	if err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	plan.tree = st.IsDir()
	var dirs []putEntry
	err = filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(local, p)
		if rel == "." {
			rel = ""
		}
		e := putEntry{local: p, rel: filepath.ToSlash(rel), dir: d.IsDir(),
			mode: codec.FileMode(info.Mode()), mtime: info.ModTime().UnixNano()}
		if e.dir {
			dirs = append(dirs, e)
			return nil
		}
		e.size = info.Size()
		if e.sha, err = hashFile(p); err != nil {
			return err
		}
		plan.entries = append(plan.entries, e)
		plan.files++
		plan.bytes += e.size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		plan.entries = append(plan.entries, dirs[i])
	}
	return plan, nil
}

func hashFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// Put copies local, a file or a directory tree, to the absolute path
// remote on the daemon's machine, creating missing parent directories.
// Every file is checked by its SHA-256 and appears under its name only
// when whole; a put interrupted by a lost connection resumes where the
// daemon's part file ends when Put is called again.
func (c *Client) Put(ctx context.Context, local, remote string, opts ...FileOption) (TransferResult, error) {
	plan, err := planPut(local)
	if err != nil {
		return TransferResult{}, err
	}
	return c.putPlan(ctx, plan, remote, opts)
}

// putPlan sends plan to the tree rooted at remote. The files of a tree
// are put with remote as their root, so that the daemon refuses to write
// through a symbolic link that leads out of it.
func (c *Client) putPlan(ctx context.Context, plan *putPlan, remote string, opts []FileOption) (TransferResult, error) {
	var res TransferResult
	if !path.IsAbs(remote) {
		return res, fmt.Errorf("put: remote path %q is not absolute", remote)
	}
	remote = path.Clean(remote)
	var root []byte
	if plan.tree {
		if err := c.checkRoot(); err != nil {
			return res, fmt.Errorf("put %s: %w", remote, err)
		}
		root = []byte(remote)
	}
	t := newTracker(opts, plan.files, plan.bytes)
	// A small file is one request, its bytes inside, and one answer: up to
	// a window of them are sent without waiting for the answers of the
	// others, so that a tree of small files costs round trips by the
	// window, not by the file, over a link with a long round trip. On
	// loopback this changes nothing measurable: the daemon's work per file
	// is the limit there. Larger files go one at a time. The directories
	// go once every file is in, in the plan's order (deepest first), so
	// that writing the files does not change the times set on them.
	var mu sync.Mutex // guards res while files are in flight
	w := newWindow(t.cfg.inFlight)
	for i := range plan.entries {
		e := &plan.entries[i]
		if e.dir {
			continue
		}
		if w.failed() {
			break
		}
		target := path.Join(remote, e.rel)
		w.run(e.size <= smallFile, func() error {
			sent, err := c.putFile(ctx, e, target, root, t)
			return tally(&mu, &res, t, sent, e.size, err, "put "+target)
		})
	}
	if err := w.wait(); err != nil {
		return res, err
	}
	for i := range plan.entries {
		e := &plan.entries[i]
		if !e.dir {
			continue
		}
		target := path.Join(remote, e.rel)
		a := codec.PutArgs{Path: []byte(target), Mode: e.mode, Mtime: uint64(e.mtime),
			MkDirs: true, Dir: true, Root: root}
		if err := c.Call(ctx, codec.MethodFilePut, &a, nil); err != nil {
			return res, fmt.Errorf("put %s: %w", target, err)
		}
		res.Dirs++
	}
	return res, nil
}

// tally adds to res, under mu, one file of size bytes that was sent or
// received, sent of its bytes on the wire, and returns err named after
// what, the operation and the file.
func tally(mu *sync.Mutex, res *TransferResult, t *tracker, sent, size int64, err error, what string) error {
	mu.Lock()
	defer mu.Unlock()
	res.Sent += sent
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	res.Files++
	res.Bytes += size
	t.fileDone()
	return nil
}

// window runs the files of a transfer: small ones up to n at once, each
// in a goroutine of its own, the others one at a time in the caller's
// goroutine, in order. After a file fails no new one starts; the first
// error is the transfer's.
type window struct {
	mu    sync.Mutex
	first error
	wg    sync.WaitGroup
	slots chan struct{}
}

// newWindow returns a window of n small files, or smallInFlight when n
// is 0.
func newWindow(n int) *window {
	return &window{slots: make(chan struct{}, cmp.Or(n, smallInFlight))}
}

// run runs fn, a small file's in the background when small.
func (w *window) run(small bool, fn func() error) {
	if !small {
		w.fail(fn())
		return
	}
	w.slots <- struct{}{}
	w.wg.Add(1)
	go func() {
		defer func() { <-w.slots; w.wg.Done() }()
		w.fail(fn())
	}()
}

// fail records err, when it is the first.
func (w *window) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.first == nil {
		w.first = err
	}
}

// failed reports whether a file has failed.
func (w *window) failed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first != nil
}

// wait waits for the files in flight and returns the first error.
func (w *window) wait() error {
	w.wg.Wait()
	return w.first
}

// smallInFlight is how many small files a Put or a Get keeps in flight
// at once.
const smallInFlight = 16

// putAck is the answer to one chunk, handed from the reader.
type putAck struct {
	r   *codec.PutResult
	n   int64
	err error
}

// putFile sends one file and returns the bytes of it that it sent.
func (c *Client) putFile(ctx context.Context, e *putEntry, target string, root []byte, t *tracker) (int64, error) {
	f, err := os.Open(e.local)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	read := func(p []byte, off int64) (int, error) { return f.ReadAt(p, off) }
	return c.putFrom(ctx, read, e, target, root, e.size > smallFile, t)
}

// putFrom sends the file e to target, its bytes read by read. With
// resume it first asks where the daemon's part file ends; else the
// opening request carries the first bytes, and a small file takes one
// round trip.
func (c *Client) putFrom(ctx context.Context, read func(p []byte, off int64) (int, error), e *putEntry,
	target string, root []byte, resume bool, t *tracker) (int64, error) {
	a := codec.PutArgs{Path: []byte(target), Size: uint64(e.size), SHA: e.sha, Mode: e.mode,
		Mtime: uint64(e.mtime), MkDirs: true, Sync: t.cfg.sync, Root: root, Resume: resume}
	if !resume {
		a.Data = make([]byte, min(e.size, smallFile))
		if n, err := read(a.Data, 0); n < len(a.Data) {
			return 0, fmt.Errorf("read the first %d bytes: %v", len(a.Data), err)
		}
	}
	var r codec.PutResult
	if err := c.Call(ctx, codec.MethodFilePut, &a, &r); err != nil {
		return 0, err
	}
	t.add(int64(r.Have), int64(len(a.Data)))
	if r.Done {
		return int64(len(a.Data)), nil
	}
	sent, err := c.putChunks(ctx, read, e.size, &r, t)
	return sent + int64(len(a.Data)), err
}

// FileMeta describes the bytes PutReader sends.
type FileMeta struct {
	Size  int64
	SHA   []byte // SHA-256 of the Size bytes; the daemon checks it at the end
	Mode  uint32 // permission bits, as in codec.PutArgs
	Mtime int64  // CLOCK_REALTIME ns; 0: the time of writing
}

// PutReader copies m.Size bytes read from r to the absolute path remote
// on the daemon's machine, creating missing parent directories. The
// daemon checks the bytes against m.SHA and renames the file into place
// only then. Unlike Put it cannot resume, since r cannot be read again;
// an interrupted PutReader leaves the daemon's part file, which a Put of
// the same bytes resumes.
func (c *Client) PutReader(ctx context.Context, r io.Reader, m FileMeta, remote string, opts ...FileOption) (TransferResult, error) {
	var res TransferResult
	if !path.IsAbs(remote) {
		return res, fmt.Errorf("put: remote path %q is not absolute", remote)
	}
	e := &putEntry{size: m.Size, sha: m.SHA, mode: m.Mode, mtime: m.Mtime}
	t := newTracker(opts, 1, m.Size)
	read := func(p []byte, _ int64) (int, error) { return io.ReadFull(r, p) }
	sent, err := c.putFrom(ctx, read, e, remote, nil, false, t)
	res.Sent = sent
	if err != nil {
		return res, fmt.Errorf("put %s: %w", remote, err)
	}
	res.Files, res.Bytes = 1, m.Size
	t.fileDone()
	return res, nil
}

// putChunks sends the rest of a file from r.Have on, keeping at most
// r.Credit bytes unanswered. read is called at increasing offsets.
func (c *Client) putChunks(ctx context.Context, read func(p []byte, off int64) (int, error), size int64, r *codec.PutResult, t *tracker) (int64, error) {
	chunk, credit := int64(max(r.Chunk, 4096)), int64(max(r.Credit, uint64(r.Chunk)))
	acks := make(chan putAck, credit/chunk+2)
	buf := make([]byte, chunk)
	off, inflight, outstanding, sent := int64(r.Have), int64(0), 0, int64(0)
	done := false
	for !done {
		if off < size && inflight < credit {
			n, err := read(buf[:min(chunk, size-off)], off)
			if n == 0 {
				return sent, fmt.Errorf("read at %d: %v", off, err)
			}
			a := codec.PutArgs{Xfer: r.Xfer, Offset: uint64(off), Data: buf[:n]}
			res := new(codec.PutResult)
			nn := int64(n)
			_, err = c.begin(codec.MethodFilePut, &a, res, func(err error) {
				acks <- putAck{res, nn, err}
			})
			if err != nil {
				return sent, err
			}
			off, inflight, sent = off+nn, inflight+nn, sent+nn
			outstanding++
			continue
		}
		if outstanding == 0 {
			return sent, errors.New("the daemon did not report the file done")
		}
		select {
		case ack := <-acks:
			outstanding--
			inflight -= ack.n
			if ack.err != nil {
				return sent, ack.err
			}
			t.add(ack.n, ack.n)
			done = ack.r.Done
		case <-ctx.Done():
			return sent, context.Cause(ctx)
		case <-c.done:
			return sent, c.Err()
		}
	}
	return sent, nil
}

// Get copies the file or tree at the absolute path remote on the
// daemon's machine into localDir, under remote's last element, with mode
// and modification time. A file whose bytes changed while they were read
// is an error. An interrupted Get resumes from the local part file.
//
// Nothing is written outside localDir: a listing that names a path
// leaving the tree is refused before any file is fetched, and files are
// written through an os.Root, which follows no symbolic link out of
// localDir. The daemon is asked to read a tree's files beneath remote
// only, so that a link put in after the listing cannot lead it out.
func (c *Client) Get(ctx context.Context, remote, localDir string, opts ...FileOption) (TransferResult, error) {
	var res TransferResult
	if !path.IsAbs(remote) {
		return res, fmt.Errorf("get: remote path %q is not absolute", remote)
	}
	remote = path.Clean(remote)
	var l codec.GetResult
	if err := c.Call(ctx, codec.MethodFileGet, &codec.GetArgs{Path: []byte(remote), List: true}, &l); err != nil {
		return res, fmt.Errorf("get %s: %w", remote, err)
	}
	var total int64
	nfiles := 0
	for _, e := range l.Files {
		if len(e.Path) > 0 && !fs.ValidPath(string(e.Path)) {
			return res, fmt.Errorf("get %s: the daemon listed %q, which is not a path beneath it",
				remote, e.Path)
		}
		if !e.Dir {
			total += int64(e.Size)
			nfiles++
		}
	}
	var root []byte
	if len(l.Files) > 0 && len(l.Files[0].Path) == 0 && l.Files[0].Dir {
		if err := c.checkRoot(); err != nil {
			return res, fmt.Errorf("get %s: %w", remote, err)
		}
		root = []byte(remote)
	}
	t := newTracker(opts, nfiles, total)
	dst, err := openLocalDir(localDir)
	if err != nil {
		return res, fmt.Errorf("get %s: %w", remote, err)
	}
	defer dst.Close()
	base := path.Base(remote)
	// As in Put, up to a window of small files are fetched at once, each
	// a transfer of its own on this connection.
	var mu sync.Mutex // guards res
	w := newWindow(t.cfg.inFlight)
	for _, e := range l.Files {
		if w.failed() {
			break
		}
		local := path.Join(base, string(e.Path))
		if e.Dir {
			if err := dst.MkdirAll(local, 0o755); err != nil {
				w.fail(fmt.Errorf("get %s: %w", remote, err))
				break
			}
			continue
		}
		src := path.Join(remote, string(e.Path))
		w.run(e.Size <= smallFile, func() error {
			sent, err := c.getFile(ctx, src, root, dst, local, t)
			return tally(&mu, &res, t, sent, int64(e.Size), err, "get "+src)
		})
	}
	if err := w.wait(); err != nil {
		return res, err
	}
	// Directories last, deepest first, so that their times stay as set.
	for i := len(l.Files) - 1; i >= 0; i-- {
		if e := l.Files[i]; e.Dir {
			local := path.Join(base, string(e.Path))
			dst.Chmod(local, codec.GoFileMode(e.Mode))
			dst.Chtimes(local, time.Time{}, time.Unix(0, int64(e.Mtime)))
			res.Dirs++
		}
	}
	return res, nil
}

// checkRoot fails if the daemon would ignore root in file.put and
// file.get, and so would not confine a tree to its destination.
func (c *Client) checkRoot() error {
	if cv := c.conn.Welcome().CapVer; cv < codec.CapVerFileRoot {
		return fmt.Errorf("the daemon's capability version %d cannot confine a tree (%d needed)",
			cv, codec.CapVerFileRoot)
	}
	return nil
}

// openLocalDir creates dir if it is missing and opens it as the root of
// what a Get writes.
func openLocalDir(dir string) (*os.Root, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return os.OpenRoot(dir)
}

// getRecv is one file.get transfer being received. The reader goroutine
// hands it events through ch, which the credit bounds.
type getRecv struct {
	ch chan getEvent
}

type getEvent struct {
	off  uint64
	data []byte
	end  *codec.FileEnd
}

// fileRecvs are the file.get transfers of a Client. The daemon may send
// a transfer's first events before the response that names it, so events
// of unknown transfers are kept while a file.get is unanswered.
type fileRecvs struct {
	mu          sync.Mutex
	gets        map[uint32]*getRecv
	pending     int // file.get calls not answered yet
	orphans     map[uint32][]getEvent
	orphanBytes int
}

// onFileEvent hands a file or fileend event to its transfer.
func (c *Client) onFileEvent(x uint32, name string, body []byte) error {
	var ev getEvent
	switch name {
	case codec.EventFile:
		var f codec.File
		if codec.Unmarshal(body, &f, "file event") != nil {
			return nil
		}
		ev.off, ev.data = f.Offset, f.Data
	default:
		ev.end = new(codec.FileEnd)
		if codec.Unmarshal(body, ev.end, "fileend event") != nil {
			return nil
		}
	}
	fr := &c.files
	fr.mu.Lock()
	g := fr.gets[x]
	if ev.end != nil {
		delete(fr.gets, x)
	}
	if g == nil && fr.pending > 0 {
		fr.orphanBytes += len(ev.data)
		if fr.orphanBytes > fr.pending*(getWindow+maxChunk) {
			fr.mu.Unlock()
			return fmt.Errorf("daemon sent %d bytes to unknown transfers, beyond the credit granted",
				fr.orphanBytes)
		}
		if fr.orphans == nil {
			fr.orphans = make(map[uint32][]getEvent)
		}
		fr.orphans[x] = append(fr.orphans[x], ev)
	}
	fr.mu.Unlock()
	if g == nil {
		return nil // cancelled, or kept above
	}
	select {
	case g.ch <- ev:
		return nil
	default:
		return fmt.Errorf("daemon sent transfer %d more than its credit", x)
	}
}

// getFile fetches one remote file, beneath root on the daemon if root is
// set, into local in dst through a part file beside it, and returns the
// bytes received.
func (c *Client) getFile(ctx context.Context, remote string, root []byte, dst *os.Root, local string, t *tracker) (int64, error) {
	part := path.Join(path.Dir(local), "."+path.Base(local)+".tacet-get.part")
	f, err := dst.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h := sha256.New()
	have, err := io.Copy(h, f)
	if err != nil {
		return 0, err
	}

	g := &getRecv{ch: make(chan getEvent, getWindow/(64<<10)+4)}
	var r codec.GetResult
	a := codec.GetArgs{Path: []byte(remote), Offset: uint64(have), Credit: getWindow, Root: root}
	fr := &c.files
	fr.mu.Lock()
	fr.pending++
	fr.mu.Unlock()
	cl, err := c.begin(codec.MethodFileGet, &a, &r, func(err error) {
		fr.mu.Lock()
		defer fr.mu.Unlock()
		fr.pending--
		if err != nil {
			return
		}
		ended := false
		for _, ev := range fr.orphans[r.Xfer] {
			fr.orphanBytes -= len(ev.data)
			g.ch <- ev // room: the channel holds the whole credit
			ended = ev.end != nil
		}
		delete(fr.orphans, r.Xfer)
		if fr.gets == nil {
			fr.gets = make(map[uint32]*getRecv)
		}
		if !ended {
			fr.gets[r.Xfer] = g
		}
	})
	if err != nil {
		fr.mu.Lock()
		fr.pending--
		fr.mu.Unlock()
		return 0, err
	}
	if err := c.await(ctx, cl); err != nil {
		if errors.Is(err, ErrBadArgs) {
			dst.Remove(part)
		}
		return 0, err
	}
	t.add(have, 0)
	recv, err := c.receive(ctx, f, h, g, &r, have, t)
	if err != nil {
		return recv, err
	}
	if err := f.Chmod(codec.GoFileMode(r.Mode)); err != nil {
		return recv, err
	}
	f.Close()
	dst.Chtimes(part, time.Time{}, time.Unix(0, int64(r.Mtime)))
	return recv, dst.Rename(part, local)
}

// receive writes the events of one transfer until its fileend, granting
// credit as it writes, and checks the sum.
func (c *Client) receive(ctx context.Context, f *os.File, h hash.Hash, g *getRecv, r *codec.GetResult, off int64, t *tracker) (int64, error) {
	var recv, unacked int64
	for {
		var ev getEvent
		select {
		case ev = <-g.ch:
		case <-ctx.Done():
			c.Call(context.Background(), codec.MethodFileGet, &codec.GetArgs{Xfer: r.Xfer}, nil)
			return recv, context.Cause(ctx)
		case <-c.done:
			return recv, c.Err()
		}
		if ev.end != nil {
			sum := h.Sum(nil)
			switch {
			case ev.end.Changed:
				return recv, errors.New("the file changed while it was read")
			case !bytes.Equal(sum, ev.end.SHA) || off != int64(r.Size):
				f.Truncate(0)
				return recv, errors.New("the bytes received do not match the daemon's SHA-256")
			}
			return recv, nil
		}
		if ev.off != uint64(off) {
			return recv, fmt.Errorf("file event at offset %d, want %d", ev.off, off)
		}
		if _, err := f.WriteAt(ev.data, off); err != nil {
			return recv, err
		}
		h.Write(ev.data)
		n := int64(len(ev.data))
		off, recv, unacked = off+n, recv+n, unacked+n
		if unacked >= getWindow/2 {
			c.sendCredit(r.Xfer, uint64(unacked))
			unacked = 0
		}
		t.add(n, n)
	}
}

// Collect returns what the daemon kept of the files the process named
// in StartArgs.Collect, once it has ended and the copies are made.
func (p *Process) Collect(ctx context.Context) ([]codec.Collected, error) {
	var r codec.CollectResult
	if err := p.c.Call(ctx, codec.MethodCollect, &codec.HandleArgs{Handle: p.Handle}, &r); err != nil {
		return nil, err
	}
	return r.Files, nil
}

// CollectTo collects the process's files and gets each kept copy into
// localDir, under the last element of the path it was collected from.
// A path of which nothing was kept is reported in the returned records
// (Errno, Sys), not as an error.
func (p *Process) CollectTo(ctx context.Context, localDir string, opts ...FileOption) ([]codec.Collected, TransferResult, error) {
	var res TransferResult
	files, err := p.Collect(ctx)
	if err != nil {
		return nil, res, err
	}
	var total int64
	for _, f := range files {
		total += int64(f.Size)
	}
	t := newTracker(opts, len(files), total)
	dst, err := openLocalDir(localDir)
	if err != nil {
		return files, res, err
	}
	defer dst.Close()
	for _, f := range files {
		if len(f.Kept) == 0 {
			continue
		}
		local := path.Base(string(f.Path))
		sent, err := p.c.getFile(ctx, string(f.Kept), nil, dst, local, t)
		res.Sent += sent
		if err != nil {
			return files, res, fmt.Errorf("get %s: %w", f.Kept, err)
		}
		dst.Chtimes(local, time.Time{}, time.Unix(0, int64(f.Mtime)))
		res.Files++
		res.Bytes += int64(f.Size)
		t.fileDone()
	}
	return files, res, nil
}
