// SPDX-License-Identifier: Apache-2.0

// Package keeper keeps the output of a daemon's children safe when the
// daemon dies.
//
// A keeper is a small process that the daemon starts once. For every
// output stream the daemon captures, it hands the keeper a duplicate of
// the pipe's read end and of the stream's spool file. While the daemon
// lives the keeper only holds them, blocked in a read of its socket: it
// costs no CPU and no wake-ups. Because a reader of each pipe survives the
// daemon, a child never gets SIGPIPE when the daemon is killed. When the
// keeper's socket ends without a goodbye, the daemon is gone: the keeper
// drains every pipe it holds into its spool file, after the bytes the
// daemon wrote there, so a child never blocks on a full pipe and none of
// its later output is lost. It exits once every pipe has ended.
//
// The daemon moves each byte from the pipe into the spool, at its own
// stream offset, before it counts it as read, so the keeper's bytes
// follow the daemon's without a hole or an overlap, however the daemon
// died. The one exception is a stream whose spool stopped at the
// disk budget: the keeper cannot know how many bytes the daemon dropped,
// so it records the offset it resumed from in a file beside the spool.
//
// A daemon started after the death of the previous one takes the pipes
// back (Take): the keeper listens on a Unix socket in the state
// directory, which the daemon gives it at start (Link.Listen). When a new
// daemon connects, the keeper stops draining, hands over each pipe it
// still holds with the spool offset it drained to, reports the offset at
// which each ended pipe ended, and exits. The new daemon reads on from
// that offset, so the stream goes on with no hole and no overlap.
package keeper

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Messages on the keeper's socket, one per SOCK_SEQPACKET datagram: an op
// byte and a stream id (8 bytes, big-endian). Hold carries the pipe's
// read end as an fd and the spool file's path after the id; the keeper
// opens the spool only if it takes over, so a stream that never writes
// never has a file.
//
// After a takeover, on the socket a new daemon opens: the daemon sends
// opTake; the keeper answers one opHeld per stream (after the id, the
// offset its spool was drained to, 8 bytes, and a byte that is 1 if the
// pipe has ended; a pipe that has not comes as an fd), then opDone.
const (
	opHold   = 1
	opDrop   = 2
	opBye    = 3
	opListen = 4 // carries a listening socket as an fd and its path
	opTake   = 5
	opHeld   = 6
	opDone   = 7
	hdrLen   = 9
	maxMsg   = hdrLen + 4096
)

// Link is the daemon's end of the socket to its keeper. It is safe for
// concurrent use.
type Link struct {
	mu   sync.Mutex
	sock int
}

// Start starts the keeper as the program exe with the arguments args
// (which must make it call Run), and returns the link to it. start is the
// caller's way to start a process whose stdin is the given fd; the daemon
// passes its own spawner so that the keeper is reaped like any child.
func Start(start func(stdin int) error) (*Link, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	err = start(fds[1])
	unix.Close(fds[1])
	if err != nil {
		unix.Close(fds[0])
		return nil, err
	}
	return &Link{sock: fds[0]}, nil
}

// Hold hands the keeper a duplicate of pipe, the read end of stream id,
// and the path of the file its bytes go to after a takeover. The
// descriptor stays the caller's.
func (l *Link) Hold(id uint64, pipe int, spool string) error {
	return l.send(opHold, id, []byte(spool), unix.UnixRights(pipe))
}

// Drop tells the keeper to forget stream id.
func (l *Link) Drop(id uint64) error { return l.send(opDrop, id, nil, nil) }

// Close ends the keeper without a takeover: the daemon is stopping
// cleanly and its children are gone. Closing the link without Close (by
// dying, or with Abandon) makes the keeper take over.
func (l *Link) Close() error {
	l.send(opBye, 0, nil, nil)
	return l.Abandon()
}

// Abandon closes the link so that the keeper takes over the streams it
// holds, as it would if the daemon died: for a daemon that stops and
// leaves its children running.
func (l *Link) Abandon() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sock < 0 {
		return nil
	}
	err := unix.Close(l.sock)
	l.sock = -1
	return err
}

func (l *Link) send(op byte, id uint64, tail, oob []byte) error {
	if hdrLen+len(tail) > maxMsg {
		return errors.New("keeper: spool path too long")
	}
	var buf [maxMsg]byte
	buf[0] = op
	binary.BigEndian.PutUint64(buf[1:], id)
	n := hdrLen + copy(buf[hdrLen:], tail)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sock < 0 {
		return os.ErrClosed
	}
	return unix.Sendmsg(l.sock, buf[:n], oob, nil, 0)
}

// held is one stream the keeper holds.
type held struct {
	pipe  *os.File
	spool string
}

// Run is the keeper: it reads the daemon's messages from sock until the
// socket ends, then drains what it holds, unless the daemon said goodbye.
func Run(sock *os.File) error {
	streams := map[uint64]held{}
	var ln listener
	fd := int(sock.Fd())
	buf := make([]byte, maxMsg)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			break // the daemon is gone
		}
		if n < hdrLen {
			continue
		}
		id := binary.BigEndian.Uint64(buf[1:])
		switch buf[0] {
		case opHold:
			if pipe, ok := takeFD(oob[:oobn]); ok {
				streams[id] = held{pipe, string(buf[hdrLen:n])}
			}
		case opDrop:
			if h, ok := streams[id]; ok {
				h.pipe.Close()
				delete(streams, id)
			}
		case opListen:
			if f, ok := takeFD(oob[:oobn]); ok {
				ln.close()
				ln = listener{f, string(buf[hdrLen:n])}
			}
		case opBye:
			ln.close()
			return nil
		}
	}
	takeOver(streams, ln)
	return nil
}

// takeFD returns the one fd a Hold message carries.
func takeFD(oob []byte) (*os.File, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return nil, false
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, false
	}
	// The fd shares its open file description, and so O_NONBLOCK, with
	// the daemon's: it must stay non-blocking, or the daemon's reads of
	// the pipe would block. os.NewFile sees the flag and reads it through
	// the poller.
	return os.NewFile(uintptr(fds[0]), "pipe"), true
}
