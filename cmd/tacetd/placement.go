// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// place moves the daemon off the CPUs an experiment measures: affinity to
// cpus, a nice value, and with idle the SCHED_IDLE class and the idle I/O
// priority. On Linux each of these belongs to a thread, not the process,
// and the Go runtime has started several threads before main runs, so
// every thread is placed; threads created later inherit it from the one
// that creates them. Children do not: each start sets its own affinity
// and nice, or gets the defaults, the daemon's affinity before place and
// nice 0 in SCHED_OTHER (core.Config.ChildCPUs and ResetSched).
func place(cpus string, nice int, idle bool) error {
	if cpus == "" && nice == 0 && !idle {
		return nil
	}
	var set *unix.CPUSet
	if cpus != "" {
		list, err := parseCPUList(cpus)
		if err != nil {
			return err
		}
		set = new(unix.CPUSet)
		for _, c := range list {
			set.Set(c)
		}
	}
	// A thread may be created from one not yet placed while the list is
	// walked; a pass that finds no new thread ends it.
	done := map[int]bool{}
	for pass := 0; pass < 10; pass++ {
		tids, err := threads()
		if err != nil {
			return err
		}
		fresh := 0
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			if err := placeThread(tid, set, cpus, nice, idle); err != nil {
				return err
			}
			done[tid] = true
			fresh++
		}
		if fresh == 0 {
			return nil
		}
	}
	return fmt.Errorf("place threads: new threads keep appearing")
}

// inheritedCPUs returns the CPUs the daemon may run on now, before place
// narrows them, when placed is true; nil otherwise.
func inheritedCPUs(placed bool) ([]int, error) {
	if !placed {
		return nil, nil
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("read the daemon's CPU affinity: %w", err)
	}
	var cpus []int
	for c := 0; c < len(set)*64 && len(cpus) < set.Count(); c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// threads lists the thread ids of this process.
func threads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// placeThread applies the placement to thread tid. A thread that ended
// meanwhile (ESRCH) needs none.
func placeThread(tid int, set *unix.CPUSet, cpus string, nice int, idle bool) error {
	err := placeThreadErr(tid, set, cpus, nice, idle)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

func placeThreadErr(tid int, set *unix.CPUSet, cpus string, nice int, idle bool) error {
	if set != nil {
		if err := unix.SchedSetaffinity(tid, set); err != nil {
			return fmt.Errorf("set affinity to %s: %w", cpus, err)
		}
	}
	if nice != 0 {
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil {
			return fmt.Errorf("set nice %d: %w", nice, err)
		}
	}
	if idle {
		attr := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
		if err := unix.SchedSetAttr(tid, attr, 0); err != nil {
			return fmt.Errorf("set SCHED_IDLE: %w", err)
		}
		// ioprio_set(IOPRIO_WHO_PROCESS, tid, IOPRIO_CLASS_IDLE << 13).
		const ioprioWhoProcess, ioprioClassIdle = 1, 3
		if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), ioprioClassIdle<<13); e != 0 {
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
