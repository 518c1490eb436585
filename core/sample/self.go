// SPDX-License-Identifier: Apache-2.0

package sample

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
)

// SelfReader reads the cost of the calling process: CPU time and context
// switches from getrusage, which has µs resolution where /proc/self/stat
// has 10 ms, and memory and threads from /proc/self.
type SelfReader struct {
	statm, stat file
	pageSz      uint64
}

// NewSelf returns a reader of the calling process in the /proc tree at
// root.
func NewSelf(root string) *SelfReader {
	return &SelfReader{statm: newFile(root+"/self/statm", 128), stat: newFile(root+"/self/stat", 512),
		pageSz: uint64(os.Getpagesize())}
}

// Read fills c.
func (r *SelfReader) Read(c *codec.Cost) {
	var ru unix.Rusage
	*c = codec.Cost{}
	// A raw call, for the reason pread gives.
	if _, _, e := unix.RawSyscall(unix.SYS_GETRUSAGE, uintptr(unix.RUSAGE_SELF), uintptr(unsafe.Pointer(&ru)), 0); e == 0 {
		c.UserNs, c.SysNs = uint64(ru.Utime.Nano()), uint64(ru.Stime.Nano())
		c.NVCSw, c.NIVCSw = uint64(ru.Nvcsw), uint64(ru.Nivcsw)
	}
	if b, err := r.statm.read(); err == nil {
		var v [2]uint64
		fields(b, 0, v[:])
		c.RSS = v[1] * r.pageSz
	}
	if b, err := r.stat.read(); err == nil {
		var p codec.ProcSample
		if parseProcStat(b, &p, r.pageSz) {
			c.Threads = p.Threads
		}
	}
}

// Close closes the reader's files.
func (r *SelfReader) Close() {
	r.statm.close()
	r.stat.close()
}
