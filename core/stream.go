// SPDX-License-Identifier: Apache-2.0

package core

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/core/keeper"
)

// Stream keeps the bytes of one output stream of one process, addressed by
// offset from 0: the newest in a memory ring, all of them (budget
// permitting) in a spool file at their own offsets. The pipe reader
// appends; subscribers' writers and out.read read at any offset.
//
// Bytes that neither the ring nor the spool holds any more are lost, and
// the stream remembers which, and why, so every reader is told.
type Stream struct {
	handle  uint64
	id      uint8
	mem     *budget
	disk    *budget
	ringMax int // the ring's largest size now
	memMax  int // its largest size without a spool behind it

	mu        sync.Mutex
	ring      []byte   // byte at offset o is ring[o%len(ring)] when o >= length-filled
	filled    uint64   // bytes of the ring in use
	length    uint64   // bytes appended so far
	spoolPath string   // "" for memory-only retention
	spool     *os.File // opened at the first byte, so a silent stream has no file
	spoolFD   int      // spool's descriptor, for splice
	noSplice  bool     // the source cannot be spliced into the spool (a terminal)
	spooled   spans    // offsets written to the spool
	spoolFull bool     // the disk budget, or the disk, refused this stream
	spoolErr  bool     // it was the disk: a write or the file's creation failed
	spoolSz   int64    // bytes taken from the disk budget
	memSz     int64    // bytes taken from the memory budget
	lost      spans    // offsets no longer held, with the reason
	eof       bool
	fd        int // the pipe's read end, -1 once closed
	file      *os.File
	subs      []*sub
	kept      *keeper.Link // holds a copy of the pipe while the stream is open
	marks     [64]mark     // when recent reads happened, for out events
	nmarks    int
}

// mark records that the read returning the byte at off happened at mono.
type mark struct{ off, mono uint64 }

const (
	initialRing  = 4 << 10
	maxChunk     = 64 << 10  // bytes of one out event
	maxRead      = 256 << 10 // bytes of one read of a pipe
	spoolRingMax = 256 << 10 // the ring only caches when a spool holds everything
)

// newStream returns a stream that keeps its bytes in a spool file at
// spoolPath, or in memory only when spoolPath is "".
func newStream(h uint64, id uint8, mem, disk *budget, spoolPath string, memMax int) *Stream {
	st := &Stream{handle: h, id: id, mem: mem, disk: disk, spoolPath: spoolPath, fd: -1, ringMax: memMax, memMax: memMax}
	if spoolPath != "" && st.ringMax > spoolRingMax {
		st.ringMax = spoolRingMax
	}
	return st
}

// Len returns the number of bytes appended so far and whether the stream
// has ended.
func (st *Stream) Len() (uint64, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.length, st.eof
}

// readFrom reads once from the pipe fd into the ring, which must be held
// locked. It returns the read's error: EAGAIN when the pipe is empty,
// nil with n == 0 at end of file.
func (st *Stream) readFromLocked(fd int) (int, error) {
	st.makeRoomLocked()
	size := uint64(len(st.ring))
	pos := st.length % size
	end := size
	if end-pos > maxRead {
		end = pos + maxRead
	}
	if n, err, ok := st.spliceLocked(fd, st.ring[pos:end]); ok {
		if n <= 0 {
			return 0, err
		}
		st.appendedLocked(pos, uint64(n), monoNow(), true)
		return n, nil
	}
	n, err := unix.Read(fd, st.ring[pos:end])
	if n <= 0 {
		return 0, err
	}
	t := monoNow()
	st.appendedLocked(pos, uint64(n), t, false)
	return n, nil
}

// spliceLocked moves bytes from the pipe fd straight into the spool at
// the stream's offset, then copies them from there into dst, a slice of
// the ring. ok is false when the stream cannot be spliced (no spool, the
// disk budget nearly spent, a terminal rather than a pipe, an error): the
// caller reads the pipe instead.
//
// A read followed by a write would leave the bytes of the read nowhere
// but in the daemon's memory until the write: a daemon killed between
// them would lose them, and the keeper, resuming at the spool's end,
// would give every later byte a wrong offset. Spliced bytes are in the
// file as soon as they leave the pipe, so none can be lost that way.
func (st *Stream) spliceLocked(fd int, dst []byte) (n int, err error, ok bool) {
	if st.spoolPath == "" || st.spoolFull || st.noSplice {
		return 0, nil, false
	}
	if st.spool == nil {
		// At the end of a silent stream the pipe is readable too: the
		// spool is made only once there are bytes (TIOCINQ is FIONREAD),
		// so that most stderr streams have no file.
		if k, err := unix.IoctlGetInt(fd, unix.TIOCINQ); err != nil || k == 0 || !st.openSpoolLocked() {
			return 0, nil, false
		}
	}
	if !st.disk.take(int64(len(dst))) {
		// Near the end of the budget: the read path takes what the read
		// returns, and is the one to find the budget exhausted.
		return 0, nil, false
	}
	off := int64(st.length)
	moved, err := unix.Splice(fd, nil, st.spoolFD, &off, len(dst), unix.SPLICE_F_NONBLOCK)
	n = int(moved)
	st.disk.give(int64(len(dst) - max(n, 0)))
	switch {
	case n > 0:
	case err == nil || err == unix.EAGAIN || err == unix.EINTR:
		return 0, err, true
	default:
		// EINVAL for a terminal, which cannot be spliced; ENOSPC and
		// the like, which the read path reports as lost bytes.
		st.noSplice = true
		return 0, nil, false
	}
	for got := 0; got < n; {
		m, _ := unix.Pread(st.spoolFD, dst[got:n], int64(st.length)+int64(got))
		if m <= 0 {
			// TODO: the ring then holds zeros where the spool holds the
			// bytes, and readers served from the ring get the zeros;
			// the stream should drop these offsets from the ring so that
			// they are read from the spool. Not seen: the bytes have
			// just been put in the page cache.
			clear(dst[got:n])
			break
		}
		got += m
	}
	st.spoolSz += int64(n)
	st.spooled.add(span{st.length, st.length + uint64(n), ""}, false)
	return n, nil, true
}

// openSpoolLocked creates the spool file at the stream's first byte.
func (st *Stream) openSpoolLocked() bool {
	f, err := os.OpenFile(st.spoolPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return false
	}
	st.spool, st.spoolFD = f, int(f.Fd())
	return true
}

// makeRoomLocked grows the ring while memory budget and the per-stream
// maximum allow, before a read that might overwrite the oldest bytes.
func (st *Stream) makeRoomLocked() {
	size := len(st.ring)
	if size != 0 && st.filled < uint64(size) {
		return
	}
	grow := initialRing
	if size > 0 {
		grow = size
	}
	if size+grow > st.ringMax || !st.mem.take(int64(grow)) {
		if size == 0 {
			// Not even a first ring fits: read into a minimal one so that
			// the child is never blocked, and lose what cannot be kept.
			st.ring = make([]byte, 512)
		}
		return
	}
	st.memSz += int64(grow)
	nr := make([]byte, size+grow)
	// Copy the held bytes to their positions in the larger ring, in at
	// most three contiguous pieces.
	for o := st.length - st.filled; o < st.length; {
		src := st.ring[o%uint64(size):]
		dst := nr[o%uint64(len(nr)):]
		n := copy(dst, src[:min(uint64(len(src)), st.length-o)])
		o += uint64(n)
	}
	st.ring = nr
}

// appendedLocked accounts for n bytes just read into ring[pos:]: the bytes
// they overwrote, the spool unless they were spliced there already, and
// the subscribers.
func (st *Stream) appendedLocked(pos, n, t uint64, spooled bool) {
	off := st.length
	size := uint64(len(st.ring))
	if over := st.filled + n; over > size {
		gone := over - size
		st.forgetLocked(st.length-st.filled, st.length-st.filled+gone)
		st.filled -= gone
	}
	if st.spoolPath != "" && !spooled {
		st.spoolLocked(off, st.ring[pos:pos+n])
	}
	st.length += n
	st.filled += n
	st.marks[st.nmarks%len(st.marks)] = mark{off, t}
	st.nmarks++
	for _, s := range st.subs {
		s.sess.wakeup()
	}
}

// forgetLocked records that ring offsets [from, to) are overwritten; any
// of them that the spool does not hold are lost.
func (st *Stream) forgetLocked(from, to uint64) {
	why := "mem-budget"
	switch {
	case st.spoolErr:
		why = "disk-error"
	case st.spoolPath != "":
		why = "disk-budget"
	}
	for from < to {
		if s, ok := st.spooled.find(from); ok {
			from = s.to
			continue
		}
		next := to
		if s, ok := st.spooled.next(from); ok && s.from < to {
			next = s.from
		}
		st.lost.add(span{from, next, why}, true)
		from = next
	}
}

// spoolLocked writes p, the bytes at off, to the spool if the disk budget
// allows.
//
// Once the budget refuses a stream, the stream stops spooling for good:
// otherwise the small reads that still fit would scatter kept fragments
// through what is lost, and a reader would see many gaps instead of one.
//
// TODO: every spooled byte is put in the file before the child may
// reuse its room in the pipe, so a child writing faster than a pipe can
// be moved into the page cache is slowed to that speed. On the 2-core
// ext4 machine of bench/RESULTS.md that floor, a C program splicing the
// pipe into a file (BenchmarkCaptureCost's "floor"), is 3.5 to 3.6x the
// child's time into a pipe drained by cat, and tacetd's spool is at the
// floor. A write-behind spool, the pipe read into memory at memory
// speed and written behind it with O_DIRECT, measures 2.0 to 2.2x there
// (the benchmark's "direct"): better, still far from a pipe drained by
// cat.
// To keep what a SIGKILL now cannot lose, its ring would have to outlive
// the daemon: a memfd the keeper holds. The offset of its last read
// would have to survive too, which a second pipe between the child's
// and the ring gives: only the daemon moves bytes through it, so the
// next daemon can tell from FIONREAD, against a record written before
// each move, whether the move happened. Output beyond the ring's size
// and the disk's speed would still be slowed or dropped, and the spec
// (14.1, 16.12) would have to say which.
func (st *Stream) spoolLocked(off uint64, p []byte) {
	if st.spoolFull {
		return
	}
	if !st.disk.take(int64(len(p))) {
		st.stopSpoolingLocked(false)
		return
	}
	// No spool file at all (ENOSPC, EMFILE), or a full or failing disk
	// (ENOSPC, EIO), ends spooling as the budget does, and for the same
	// reason: one gap, not scattered pieces.
	if st.spool == nil && !st.openSpoolLocked() {
		st.disk.give(int64(len(p)))
		st.stopSpoolingLocked(true)
		return
	}
	if _, err := st.spool.WriteAt(p, int64(off)); err != nil {
		st.disk.give(int64(len(p)))
		st.stopSpoolingLocked(true)
		return
	}
	st.spoolSz += int64(len(p))
	st.spooled.add(span{off, off + uint64(len(p)), ""}, false)
}

// stopSpoolingLocked ends spooling for good, refused by the budget, or
// by the disk when diskErr. From then on the ring is all the stream has,
// as with memory-only retention: it may grow as large, so that a reader
// that lags a little behind loses nothing.
func (st *Stream) stopSpoolingLocked(diskErr bool) {
	st.spoolFull, st.spoolErr = true, diskErr
	st.ringMax = st.memMax
}

// ReadAt copies bytes from offset off into p. It returns the number of
// bytes copied and, when the bytes at off are lost, the span lost instead
// (n is then 0). At the end of the retained bytes it returns 0 and the
// zero span.
func (st *Stream) ReadAt(off uint64, p []byte) (n int, gap span, mono uint64) {
	return st.readInto(off, len(p), func(int, uint64) []byte { return p })
}

// readInto copies up to max bytes from offset off into the slice that
// dst returns once their count n and read time mono are known, so that a
// caller can put the bytes straight after a header that encodes them.
// Results are as for ReadAt; dst is not called when there is nothing to
// copy.
func (st *Stream) readInto(off uint64, max int, dst func(n int, mono uint64) []byte) (n int, gap span, mono uint64) {
	st.mu.Lock()
	if off >= st.length || max == 0 {
		st.mu.Unlock()
		return 0, span{}, 0
	}
	mono = st.markLocked(off)
	ringStart := st.length - st.filled
	if off >= ringStart {
		n = int(min(uint64(max), st.length-off))
		st.copyRingLocked(off, dst(n, mono)[:n])
		st.mu.Unlock()
		return n, span{}, mono
	}
	s, ok := st.spooled.find(off)
	if !ok {
		gap = st.gapLocked(off, ringStart)
		st.mu.Unlock()
		return 0, gap, 0
	}
	spool := st.spool
	st.mu.Unlock()

	// Spooled bytes never change, so they are read without the lock.
	n = int(min(uint64(max), s.to-off))
	got, _ := spool.ReadAt(dst(n, mono)[:n], int64(off))
	return got, span{}, mono
}

func (st *Stream) copyRingLocked(off uint64, p []byte) int {
	size := uint64(len(st.ring))
	avail := st.length - off
	if uint64(len(p)) > avail {
		p = p[:avail]
	}
	pos := off % size
	n := copy(p, st.ring[pos:])
	if n < len(p) {
		n += copy(p[n:], st.ring)
	}
	return n
}

// gapLocked returns the lost span that starts at off and ends where
// retained bytes resume.
func (st *Stream) gapLocked(off, ringStart uint64) span {
	to := ringStart
	if s, ok := st.spooled.next(off); ok && s.from < to {
		to = s.from
	}
	why := "dropped"
	if l, ok := st.lost.find(off); ok {
		why = l.why
	}
	return span{off, to, why}
}

// markLocked returns the monotonic time of the read that returned the
// byte at off, or 0 when that read is too old to be remembered.
func (st *Stream) markLocked(off uint64) uint64 {
	for k := 0; k < len(st.marks) && k < st.nmarks; k++ {
		m := st.marks[(st.nmarks-1-k)%len(st.marks)]
		if m.off <= off {
			return m.mono
		}
	}
	return 0
}

// free gives back the stream's memory and removes its spool, when the
// process's records are released.
func (st *Stream) free() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.ring = nil
	st.filled = 0
	st.mem.give(st.memSz)
	st.memSz = 0
	if st.spool != nil {
		st.spool.Close()
		st.spool = nil
	}
	if st.spoolPath != "" {
		os.Remove(st.spoolPath)
		os.Remove(st.spoolPath + ".kept")
		st.disk.give(st.spoolSz)
		st.spoolSz = 0
	}
	st.spooled, st.lost = nil, nil
	st.lost.add(span{0, st.length, "released"}, true)
}

// inherit sets up a new stream as one of a previous daemon instance that
// is length bytes long, whose first held bytes are in its spool file; the
// rest are lost for why.
func (st *Stream) inherit(length, held uint64, why string) {
	held = min(held, length)
	if held > 0 {
		f, err := os.OpenFile(st.spoolPath, os.O_RDWR, 0)
		if err != nil {
			held = 0
		} else {
			// Taken whatever the budget says: the bytes are on disk already.
			st.spool, st.spoolFD = f, int(f.Fd())
			st.spooled.add(span{0, held, ""}, false)
			st.spoolSz = int64(held)
			st.disk.used.Add(st.spoolSz)
		}
	}
	if held < length {
		st.lost.add(span{held, length, why}, true)
	}
	st.length = length
}
