// SPDX-License-Identifier: Apache-2.0

package core

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// stamp is one instant read from both clocks, in nanoseconds.
type stamp struct{ real, mono uint64 }

func now() stamp {
	return stamp{clock(unix.CLOCK_REALTIME), clock(unix.CLOCK_MONOTONIC)}
}

func monoNow() uint64 { return clock(unix.CLOCK_MONOTONIC) }

func realNow() uint64 { return clock(unix.CLOCK_REALTIME) }

// clock reads clock id with a raw system call: the sampler reads the
// clocks on every sample, and an ordinary call would wake the runtime's
// monitor thread (see sample.pread). x/sys/unix.ClockGettime is a system
// call too, not the vDSO.
func clock(id int) uint64 {
	var ts unix.Timespec
	unix.RawSyscall(unix.SYS_CLOCK_GETTIME, uintptr(id), uintptr(unsafe.Pointer(&ts)), 0)
	return uint64(ts.Nano())
}
