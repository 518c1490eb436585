// SPDX-License-Identifier: Apache-2.0

package keeper

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Listen makes the keeper listen at path, a Unix socket it creates now,
// for a daemon that takes its pipes back after a takeover. A file left at
// path by a keeper that is gone is replaced.
func (l *Link) Listen(path string) error {
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return fmt.Errorf("keeper: socket path %s is too long", path)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	os.Remove(path)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fmt.Errorf("keeper: bind %s: %w", path, err)
	}
	if err := unix.Listen(fd, 4); err != nil {
		os.Remove(path)
		return err
	}
	return l.send(opListen, 0, []byte(path), unix.UnixRights(fd))
}

// listener is the socket a keeper accepts a new daemon on after a
// takeover.
type listener struct {
	f    *os.File
	path string
}

func (ln *listener) close() {
	if ln.f != nil {
		ln.f.Close()
		os.Remove(ln.path)
		ln.f = nil
	}
}

// drainer copies one pipe into its spool until the pipe ends or a new
// daemon takes it back.
type drainer struct {
	id      uint64
	h       held
	changed chan<- struct{} // told when run returns
	sent    bool            // handed over: the pipe is closed here

	// Written by run; read only once done is closed.
	off   int64 // the spool's length
	ended bool  // the pipe reached its end
	done  chan struct{}
}

// start runs the drainer, anew after a hand-over that failed.
func (d *drainer) start() {
	d.done = make(chan struct{})
	d.h.pipe.SetReadDeadline(time.Time{})
	go d.run()
}

// finished reports whether run has returned: the pipe ended or it was
// stopped.
func (d *drainer) finished() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// takeOver drains every held pipe into its spool, until each has ended or
// a daemon connects to ln and takes them back.
func takeOver(streams map[uint64]held, ln listener) {
	defer ln.close()
	changed := make(chan struct{}, 1)
	ds := make([]*drainer, 0, len(streams))
	for id, h := range streams {
		d := &drainer{id: id, h: h, changed: changed}
		ds = append(ds, d)
		d.start()
	}
	conns := make(chan int)
	if ln.f != nil {
		go accept(ln.f, conns)
	}
	for {
		if allEnded(ds) {
			return
		}
		select {
		case <-changed:
		case c := <-conns:
			ok := handOver(c, ds)
			unix.Close(c)
			if ok {
				return
			}
			// The daemon went away in the middle: drain again what it
			// did not get, until another one comes.
			for _, d := range ds {
				if !d.sent && d.finished() && !d.ended {
					d.start()
				}
			}
		}
	}
}

// allEnded reports whether every pipe has ended or been handed over.
func allEnded(ds []*drainer) bool {
	for _, d := range ds {
		if !d.sent && !(d.finished() && d.ended) {
			return false
		}
	}
	return true
}

// accept hands the connections of new daemons to conns, until the
// listener is closed. It blocks a thread, but only during a takeover.
func accept(ln *os.File, conns chan<- int) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return
	}
	for {
		c, aerr := -1, error(nil)
		rc.Control(func(fd uintptr) { c, _, aerr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC) })
		switch {
		case aerr == unix.EINTR || aerr == unix.ECONNABORTED:
		case aerr != nil:
			return
		default:
			conns <- c
		}
	}
}

// run appends the rest of the pipe to the spool, after what is there,
// and notes where it resumed.
func (d *drainer) run() {
	defer func() {
		close(d.done)
		select {
		case d.changed <- struct{}{}:
		default:
		}
	}()
	f, err := os.OpenFile(d.h.spool, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return
	}
	d.off = fi.Size()
	os.WriteFile(d.h.spool+".kept", []byte(strconv.FormatInt(d.off, 10)+"\n"), 0o600)
	buf := make([]byte, 64<<10)
	for {
		n, err := d.h.pipe.Read(buf)
		if n > 0 {
			// TODO: a failed write (the disk full) loses these bytes
			// without a record; the offsets of the next ones must then
			// be kept in the .kept file so that the daemon can report
			// the loss as a gap.
			if _, werr := f.WriteAt(buf[:n], d.off); werr == nil {
				d.off += int64(n)
			}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return // taken back
		}
		if err != nil {
			d.ended = true
			return
		}
	}
}

// stop makes run return at once, between two reads, and reports whether
// it did: a blocking pipe cannot be interrupted, and is left to run.
func (d *drainer) stop() bool {
	if d.h.pipe.SetReadDeadline(time.Unix(1, 0)) != nil {
		return d.finished()
	}
	<-d.done
	return true
}

// handOver serves a daemon's take on connection c: every pipe that can be
// stopped, with its offset, or the offset where it ended. It reports
// whether the daemon got them all.
func handOver(c int, ds []*drainer) bool {
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	unix.SetsockoptTimeval(c, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(c, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	buf := make([]byte, maxMsg)
	n, _, err := unix.Recvfrom(c, buf, 0)
	if err != nil || n < 1 || buf[0] != opTake {
		return false
	}
	var msg [hdrLen + 9]byte
	for _, d := range ds {
		if d.sent || !d.stop() {
			continue
		}
		msg[0] = opHeld
		binary.BigEndian.PutUint64(msg[1:], d.id)
		binary.BigEndian.PutUint64(msg[hdrLen:], uint64(d.off))
		msg[hdrLen+8] = 0
		var oob []byte
		if d.ended {
			msg[hdrLen+8] = 1
		} else if oob = rightsOf(d.h.pipe); oob == nil {
			continue
		}
		if unix.Sendmsg(c, msg[:], oob, nil, 0) != nil {
			return false
		}
		d.sent = true
		d.h.pipe.Close()
	}
	msg[0] = opDone
	return unix.Sendmsg(c, msg[:hdrLen], nil, nil, 0) == nil
}

// rightsOf returns the SCM_RIGHTS message that passes f. It reads the fd
// without File.Fd, which would make the pipe blocking for the daemon too.
func rightsOf(f *os.File) []byte {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	var oob []byte
	rc.Control(func(fd uintptr) { oob = unix.UnixRights(int(fd)) })
	return oob
}

// Taken is one stream a new daemon took back from a keeper.
type Taken struct {
	ID     uint64
	Offset int64    // the stream's spool holds its bytes up to here
	Pipe   *os.File // the pipe, to be read from Offset on; nil if it had ended
}

// Take connects to the keeper listening at path, which must have taken
// over from a dead daemon, and takes back every stream it holds. It waits
// at most timeout for the keeper to notice that its daemon is gone.
func Take(path string, timeout time.Duration) ([]Taken, error) {
	c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(c)
	if err := unix.Connect(c, &unix.SockaddrUnix{Name: path}); err != nil {
		return nil, fmt.Errorf("keeper: connect %s: %w", path, err)
	}
	tv := unix.NsecToTimeval(int64(timeout))
	unix.SetsockoptTimeval(c, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Sendmsg(c, []byte{opTake, 0, 0, 0, 0, 0, 0, 0, 0}, nil, nil, 0); err != nil {
		return nil, err
	}
	var out []Taken
	buf := make([]byte, maxMsg)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(c, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return out, fmt.Errorf("keeper: hand-over from %s cut short: %v", path, err)
		}
		if buf[0] == opDone {
			return out, nil
		}
		if buf[0] != opHeld || n < hdrLen+9 {
			continue
		}
		t := Taken{ID: binary.BigEndian.Uint64(buf[1:]), Offset: int64(binary.BigEndian.Uint64(buf[hdrLen:]))}
		if buf[hdrLen+8] == 0 {
			f, ok := takeFD(oob[:oobn])
			if !ok {
				continue
			}
			t.Pipe = f
		}
		out = append(out, t)
	}
}
