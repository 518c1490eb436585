// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// place moves the daemon off the CPUs an experiment measures: affinity to
// cpus, a nice value, and with idle the SCHED_IDLE class and the idle I/O
// priority. Threads created later inherit all of it. Children do not:
// each start sets its own affinity and nice, or gets the defaults.
func place(cpus string, nice int, idle bool) error {
	if cpus != "" {
		list, err := parseCPUList(cpus)
		if err != nil {
			return err
		}
		var set unix.CPUSet
		for _, c := range list {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return fmt.Errorf("set affinity to %s: %w", cpus, err)
		}
	}
	if nice != 0 {
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, nice); err != nil {
			return fmt.Errorf("set nice %d: %w", nice, err)
		}
	}
	if idle {
		attr := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
		if err := unix.SchedSetAttr(0, attr, 0); err != nil {
			return fmt.Errorf("set SCHED_IDLE: %w", err)
		}
		// ioprio_set(IOPRIO_WHO_PROCESS, 0, IOPRIO_CLASS_IDLE << 13).
		const ioprioWhoProcess, ioprioClassIdle = 1, 3
		if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, ioprioClassIdle<<13); e != 0 {
			return fmt.Errorf("set idle I/O priority: %w", e)
		}
	}
	return nil
}

// parseCPUList parses a list such as "0-3,6" into CPU numbers.
func parseCPUList(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad CPU list %q", s)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}
