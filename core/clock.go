// SPDX-License-Identifier: Apache-2.0

package core

import "golang.org/x/sys/unix"

// stamp is one instant read from both clocks, in nanoseconds.
type stamp struct{ real, mono uint64 }

func now() stamp {
	var r, m unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &r)
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &m)
	return stamp{uint64(r.Nano()), uint64(m.Nano())}
}

func monoNow() uint64 {
	var m unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &m)
	return uint64(m.Nano())
}

func realNow() uint64 {
	var r unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &r)
	return uint64(r.Nano())
}
