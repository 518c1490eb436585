// SPDX-License-Identifier: Apache-2.0

// Package journal keeps, in one file under the daemon's state directory,
// what a daemon must know to report its processes after it died: each
// process's start (handle, tag, argv, pid and the pid's start time, its
// cgroup and spool files), its state changes and its exit record, and
// the cgroup directories the daemon leaves behind for the next one to
// remove.
//
// The file is a magic line followed by records, each a 4-byte big-endian
// body length, the body's CRC-32C, and the body, a MessagePack Record. A
// record cut short or damaged (a crash in the middle of a write, a full
// disk) ends the journal: Read returns what came before it.
//
// Appends are plain writes, which survive the death of the daemon as soon
// as they return; Sync asks a goroutine of the Writer to make them
// survive the machine's as well, without delaying the caller. The file
// grows until Rewrite replaces it by a snapshot.
package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

const (
	magic     = "tacet-journal 1\n"
	hdrLen    = 8
	maxRecord = 16 << 20 // an argv may be as large as a frame
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Writer appends records to a journal file. Its methods other than Sync
// must be called from one goroutine.
type Writer struct {
	path  string
	f     atomic.Pointer[os.File] // swapped by Rewrite, read by the syncer
	size  int64                   // bytes of whole records in f
	n     int                     // records in f
	buf   []byte
	err   error // the first write error, sticky until a Rewrite succeeds
	kick  chan struct{}
	quit  chan struct{}
	wg    sync.WaitGroup
	syncs atomic.Int64 // fsyncs done, for tests and benchmarks
}

// Create writes a new journal at path holding recs, replacing any file
// there, and returns a Writer that appends to it.
func Create(path string, recs []Record) (*Writer, error) {
	w := &Writer{path: path, kick: make(chan struct{}, 1), quit: make(chan struct{})}
	if err := w.Rewrite(recs); err != nil {
		return nil, err
	}
	w.wg.Add(1)
	go w.syncLoop()
	return w, nil
}

// Append writes r at the end of the journal. A write that fails leaves
// the file as it was before it, so that later records stay readable once
// space is back.
func (w *Writer) Append(r *Record) error {
	b, err := frame(w.buf[:0], r)
	if err != nil {
		return err
	}
	w.buf = b
	f := w.f.Load()
	if _, err := f.Write(b); err != nil {
		f.Truncate(w.size) // O_APPEND: the next write goes to the new end
		if w.err == nil {
			w.err = err
		}
		return fmt.Errorf("journal: append: %w", err)
	}
	w.size += int64(len(b))
	w.n++
	return nil
}

// frame appends r's frame to b.
func frame(b []byte, r *Record) ([]byte, error) {
	at := len(b)
	b = append(b, make([]byte, hdrLen)...)
	b, err := r.MarshalMsg(b)
	if err != nil {
		return nil, fmt.Errorf("journal: encode %s record: %w", r.K, err)
	}
	body := b[at+hdrLen:]
	if len(body) > maxRecord {
		return nil, fmt.Errorf("journal: %s record of %d bytes is too large", r.K, len(body))
	}
	binary.BigEndian.PutUint32(b[at:], uint32(len(body)))
	binary.BigEndian.PutUint32(b[at+4:], crc32.Checksum(body, castagnoli))
	return b, nil
}

// Sync asks for the records appended so far to be flushed to the disk.
// It returns at once; the flush happens on the Writer's own goroutine,
// and requests made while one runs are served by one more.
func (w *Writer) Sync() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *Writer) syncLoop() {
	defer w.wg.Done()
	for {
		select {
		case <-w.kick:
		case <-w.quit:
			return
		}
		// Requests that come meanwhile are served by the next fsync: a
		// burst of starts and exits costs one per SyncDelay, not one each.
		select {
		case <-time.After(SyncDelay):
		case <-w.quit:
			return
		}
		if f := w.f.Load(); f != nil && f.Sync() == nil {
			w.syncs.Add(1)
		}
	}
}

// SyncDelay is how long a Sync request may wait for others to share its
// fsync: the longest a record stays on a machine that crashes before it
// reaches the disk.
const SyncDelay = 10 * time.Millisecond

// Records returns the number of records in the file.
func (w *Writer) Records() int { return w.n }

// Err returns the first append error since the last successful Rewrite.
func (w *Writer) Err() error { return w.err }

// Rewrite replaces the journal by one holding only recs, atomically: the
// new file is written and synced beside the old one, then renamed over
// it.
func (w *Writer) Rewrite(recs []Record) error {
	tmp := w.path + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	b := append(w.buf[:0], magic...)
	for i := range recs {
		if b, err = frame(b, &recs[i]); err != nil {
			f.Close()
			return err
		}
	}
	w.buf = b[:0]
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, w.path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("journal: rewrite %s: %w", w.path, err)
	}
	syncDir(filepath.Dir(w.path))
	if old := w.f.Swap(f); old != nil {
		old.Close()
	}
	w.size, w.n, w.err = int64(len(b)), len(recs), nil
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Close flushes the journal and closes it. Calls after the first do
// nothing.
func (w *Writer) Close() error {
	f := w.f.Swap(nil)
	if f == nil {
		return nil
	}
	close(w.quit)
	w.wg.Wait()
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ErrNotJournal is returned by Read for a file that does not start like
// a journal.
var ErrNotJournal = errors.New("journal: not a tacet journal")

// Read returns the records of the journal at path, up to the first one
// that is cut short or damaged. A missing file is an empty journal.
func Read(path string) ([]Record, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if len(b) < len(magic) || string(b[:len(magic)]) != magic {
		return nil, ErrNotJournal
	}
	b = b[len(magic):]
	var recs []Record
	for len(b) >= hdrLen {
		n := binary.BigEndian.Uint32(b)
		if n > maxRecord || uint64(len(b)-hdrLen) < uint64(n) {
			break
		}
		body := b[hdrLen : hdrLen+n]
		if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
			break
		}
		var r Record
		if _, err := r.UnmarshalMsg(body); err != nil {
			break
		}
		recs = append(recs, r)
		b = b[hdrLen+n:]
	}
	return recs, nil
}
