// SPDX-License-Identifier: Apache-2.0

package core

import (
	"strconv"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/core/spawn"
)

// rlimitNames maps the wire names of resource limits to Linux's.
var rlimitNames = map[string]int{
	"as": unix.RLIMIT_AS, "core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU,
	"data": unix.RLIMIT_DATA, "fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS,
	"memlock": unix.RLIMIT_MEMLOCK, "msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE,
	"nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC, "rss": unix.RLIMIT_RSS,
	"rtprio": unix.RLIMIT_RTPRIO, "rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING,
	"stack": unix.RLIMIT_STACK,
}

// setLimits sets the resource limits, affinity and nice value a start
// asks for; childCPUs and resetSched are the defaults of Config.
func setLimits(sp *spawn.Spec, a *codec.StartArgs, childCPUs []int, resetSched bool) *codec.Error {
	for _, r := range a.Rlimits {
		res, ok := rlimitNames[r.Name]
		if !ok {
			return badArgs("rlim", "unknown resource limit "+strconv.Quote(r.Name))
		}
		if r.Soft > r.Hard {
			return badArgs("rlim", "soft limit above hard limit for "+r.Name)
		}
		sp.Rlimits = append(sp.Rlimits, spawn.Rlimit{Resource: res, Cur: r.Soft, Max: r.Hard})
	}
	for _, c := range a.CPUs {
		sp.CPUs = append(sp.CPUs, int(c))
	}
	if len(a.CPUs) == 0 {
		sp.CPUs = childCPUs
	}
	sp.ResetSched = resetSched
	if a.HasNice {
		if a.Nice < -20 || a.Nice > 19 {
			return badArgs("nice", "nice must be within -20..19")
		}
		n := int(a.Nice)
		sp.Nice = &n
	}
	return nil
}

// applyCgroupLimits writes memory.max and cpu.max of a new cgroup.
func applyCgroupLimits(cg *cgroup, l *codec.CgroupSpec) *codec.Error {
	if l.MemMax != 0 {
		if err := cg.write("memory.max", strconv.FormatUint(l.MemMax, 10)); err != nil {
			return codec.NewError(codec.CodeUnsupported, "set memory.max: "+err.Error())
		}
	}
	if l.CPUQuota != 0 {
		period := l.CPUPeriod
		if period == 0 {
			period = 100000
		}
		v := strconv.FormatUint(l.CPUQuota, 10) + " " + strconv.FormatUint(period, 10)
		if err := cg.write("cpu.max", v); err != nil {
			return codec.NewError(codec.CodeUnsupported, "set cpu.max: "+err.Error())
		}
	}
	return nil
}

// errnoName returns the symbolic name of errno, such as "ENOENT".
func errnoName(errno unix.Errno) string {
	if n := unix.ErrnoName(errno); n != "" {
		return n
	}
	return "E" + strconv.Itoa(int(errno))
}
