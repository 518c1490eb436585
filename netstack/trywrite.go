// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawConn returns the socket of a plain TCP or Unix connection without
// frame MACs, or nil: TLS and KCP frames are not the bytes on the socket,
// and MAC'd frames are sealed in the frame writer's buffer.
func (c *Conn) rawConn(mac bool) syscall.RawConn {
	if mac || c.kcp != nil {
		return nil
	}
	switch nc := c.nc.(type) {
	case *net.TCPConn:
		rc, _ := nc.SyscallConn()
		return rc
	case *net.UnixConn:
		rc, _ := nc.SyscallConn()
		return rc
	}
	return nil
}

// TryWriteFrames writes frames, a run of frames each made of its 4-byte
// length and payload, at once if the socket's send buffer is at most a
// quarter full, and reports whether it did. It is for a goroutine other
// than the connection's writer that has one small frame to send and
// must not block on a peer that does not read, such as the sampler: a
// false return means "queue it for the writer instead". A call may run
// beside the writer's writes: the socket's write lock keeps each frame
// whole.
//
// It writes with raw system calls, which the Go scheduler is not told
// of: an ordinary write wakes the runtime's monitor thread, a wake-up
// more per sample. A write the kernel cuts short, which the room check
// makes rare, is finished by waiting for the socket, so the caller may
// block then until the peer reads a few KiB.
func (c *Conn) TryWriteFrames(frames []byte) (bool, error) {
	rc := c.rawConn(c.fw.HasMAC())
	if rc == nil || len(frames) == 0 {
		return false, nil
	}
	written := 0
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		if written == 0 && !hasRoom(fd, len(frames)) {
			return true
		}
		for written < len(frames) {
			b := frames[written:]
			n, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch {
			case e == unix.EINTR:
				continue
			case e == unix.EAGAIN && written == 0:
				return true
			case e == unix.EAGAIN:
				return false // wait for room to finish the frame
			case e != 0:
				werr = e
				return true
			}
			written += int(n)
		}
		return true
	})
	if werr != nil {
		err = werr
	}
	return written > 0, err
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
