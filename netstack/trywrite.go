// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"net"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawWriter is the state of TryWriteFrames, kept in the Conn so that a
// write allocates nothing: a closure passed to RawConn.Write would.
type rawWriter struct {
	once    sync.Once
	rc      syscall.RawConn // nil when frames cannot be written raw
	fn      func(fd uintptr) bool
	frames  []byte
	written int
	err     error
}

// init finds the socket of a plain TCP or Unix connection without frame
// MACs: TLS and KCP frames are not the bytes on the socket, and MAC'd
// frames are sealed in the frame writer's buffer.
func (w *rawWriter) init(c *Conn) {
	if c.fw.HasMAC() || c.kcp != nil {
		return
	}
	if sc, ok := c.nc.(interface {
		SyscallConn() (syscall.RawConn, error)
	}); ok {
		switch c.nc.(type) {
		case *net.TCPConn, *net.UnixConn:
			w.rc, _ = sc.SyscallConn()
		}
	}
	w.fn = w.write
}

// TryWriteFrames writes frames, a run of frames each made of its 4-byte
// length and payload, at once if the socket's send buffer is at most a
// quarter full, and reports whether it did. It is for a goroutine other
// than the connection's writer that has a small frame to send and must
// not block on a peer that does not read, such as the sampler: false
// means "queue it for the writer instead". Calls may run beside the
// writer's, since the socket's write lock keeps each frame whole, but
// not beside each other.
//
// It writes with raw system calls, which the Go scheduler is not told
// of: an ordinary write wakes the runtime's monitor thread, a wake-up
// more per sample. A write the kernel cuts short, which the room check
// makes rare, is finished by waiting for the socket, so the caller may
// block then until the peer reads a few KiB.
func (c *Conn) TryWriteFrames(frames []byte) (bool, error) {
	w := &c.raw
	w.once.Do(func() { w.init(c) })
	if w.rc == nil || len(frames) == 0 {
		return false, nil
	}
	w.frames, w.written, w.err = frames, 0, nil
	err := w.rc.Write(w.fn)
	if w.err != nil {
		err = w.err
	}
	n := w.written
	w.frames = nil
	return n > 0, err
}

// write is the RawConn.Write callback of TryWriteFrames: it returns false
// to wait until the socket is writable, true when done.
func (w *rawWriter) write(fd uintptr) bool {
	if w.written == 0 && !hasRoom(fd, len(w.frames)) {
		return true
	}
	for w.written < len(w.frames) {
		b := w.frames[w.written:]
		n, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN && w.written == 0:
			return true
		case e == unix.EAGAIN:
			return false // wait for room to finish the frame
		case e != 0:
			w.err = e
			return true
		}
		w.written += int(n)
	}
	return true
}

// hasRoom reports whether the send buffer of socket fd holds at most a
// quarter of its size and n bytes more, so that a write of n bytes will
// not be cut short. Both numbers are in the kernel's accounting, which
// counts overhead besides the bytes, hence the margin.
func hasRoom(fd uintptr, n int) bool {
	var queued int32
	if _, _, e := unix.RawSyscall(unix.SYS_IOCTL, fd, unix.SIOCOUTQ, uintptr(unsafe.Pointer(&queued))); e != 0 {
		return false
	}
	var size int32
	l := uint32(unsafe.Sizeof(size))
	if _, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_SNDBUF,
		uintptr(unsafe.Pointer(&size)), uintptr(unsafe.Pointer(&l)), 0); e != 0 {
		return false
	}
	return int(queued)+n <= int(size)/4
}
