// SPDX-License-Identifier: Apache-2.0

package core

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// stamp is one instant read from both clocks, in nanoseconds.
type stamp struct{ real, mono uint64 }

// clockShift makes the daemon's CLOCK_REALTIME read off by that many ns:
// it is added to every REALTIME instant the daemon reports and taken from
// every instant it is given, as if the machine's clock were wrong. It is
// for tests of the controllers' offset correction only (Config.ClockShift)
// and 0 otherwise. It is process-wide, like the clock it stands for.
var clockShift atomic.Int64

// setClockShift sets clockShift unless d is 0, so that engines without a
// shift never write it.
func setClockShift(d time.Duration) {
	if d != 0 {
		clockShift.Store(int64(d))
	}
}

func now() stamp {
	return stamp{uint64(int64(clock(unix.CLOCK_REALTIME)) + clockShift.Load()), clock(unix.CLOCK_MONOTONIC)}
}

func monoNow() uint64 { return clock(unix.CLOCK_MONOTONIC) }

func realNow() uint64 { return uint64(int64(clock(unix.CLOCK_REALTIME)) + clockShift.Load()) }

// sysReal converts an instant of the daemon's reported clock to the
// system's CLOCK_REALTIME, for the kernel's timers; 0 stays 0 (no
// instant).
func sysReal(at uint64) int64 {
	if at == 0 {
		return 0
	}
	return int64(at) - clockShift.Load()
}

// ourReal converts a CLOCK_REALTIME reading of the system, such as one
// taken in a child, to the daemon's reported clock; 0 stays 0.
func ourReal(ns int64) uint64 {
	if ns == 0 {
		return 0
	}
	return uint64(ns + clockShift.Load())
}

// clock reads clock id with a raw system call: the sampler reads the
// clocks on every sample, and an ordinary call would wake the runtime's
// monitor thread (see sample.pread). x/sys/unix.ClockGettime is a system
// call too, not the vDSO.
func clock(id int) uint64 {
	var ts unix.Timespec
	unix.RawSyscall(unix.SYS_CLOCK_GETTIME, uintptr(id), uintptr(unsafe.Pointer(&ts)), 0)
	return uint64(ts.Nano())
}
