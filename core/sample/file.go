// SPDX-License-Identifier: Apache-2.0

package sample

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// file is one /proc file, opened once and re-read whole with pread.
// seq_file content (most of /proc) is consistent only within one read, so
// the buffer must hold the whole file: when a read fills it, the buffer
// grows and the read starts over.
type file struct {
	path    string
	fd      int // -1 until opened
	missing bool
	buf     []byte
}

// maxFile bounds the buffer of one file, far above any file read here
// (/proc/stat of 8192 CPUs with its intr line is under 2 MiB).
const maxFile = 16 << 20

var errTooBig = errors.New("file larger than 16 MiB")

func newFile(path string, size int) file { return file{path: path, fd: -1, buf: make([]byte, size)} }

// read returns the file's content, valid until the next read. A file that
// cannot be opened is remembered as missing and not tried again.
func (f *file) read() ([]byte, error) {
	if f.fd < 0 {
		if f.missing {
			return nil, unix.ENOENT
		}
		fd, err := unix.Open(f.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			f.missing = true
			return nil, err
		}
		f.fd = fd
	}
	for {
		n, err := pread(f.fd, f.buf)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, err
		case n < len(f.buf):
			return f.buf[:n], nil
		case len(f.buf) >= maxFile:
			return nil, errTooBig
		}
		f.buf = make([]byte, 2*len(f.buf))
	}
}

// pread reads the start of fd into b with a raw system call, one the Go
// scheduler is not told of. Reads of /proc and cgroup files return in
// microseconds, and a raw call spares what an ordinary one costs besides:
// entering it wakes the runtime's monitor thread (sysmon) when that
// sleeps, and the monitor then polls every 20 µs while the sampler runs,
// a dozen wake-ups per sample where the sample itself costs one. The
// price is that a garbage collection waiting to stop the world waits
// for the read to return.
func pread(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))),
		uintptr(len(b)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func (f *file) close() {
	if f.fd >= 0 {
		unix.Close(f.fd)
		f.fd = -1
	}
}
