// SPDX-License-Identifier: Apache-2.0

package core

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
)

// hostInfo answers host.info. It is read on demand through procfs, whose
// allocations do not matter for a request this rare.
func (e *Engine) hostInfo() *codec.HostInfo {
	hi := &codec.HostInfo{
		Version: e.cfg.Version, Revision: e.cfg.Revision, Instance: e.cfg.Instance,
		BootID: readTrim("/proc/sys/kernel/random/boot_id"), CPUs: uint32(runtime.NumCPU()),
		PID: uint32(os.Getpid()), UID: uint32(os.Getuid()), Containment: e.Containment(),
		Methods: served, Exe: []byte(e.cfg.Exe),
	}
	hi.Host, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		hi.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if fs, err := procfs.NewDefaultFS(); err == nil {
		if ci, err := fs.CPUInfo(); err == nil && len(ci) > 0 {
			hi.CPUModel = ci[0].ModelName
		}
		if mi, err := fs.Meminfo(); err == nil && mi.MemTotal != nil {
			hi.MemTotal = *mi.MemTotal * 1024
		}
	}
	nodes, _ := filepath.Glob("/sys/devices/system/node/node[0-9]*")
	hi.NUMANodes = uint32(len(nodes))
	hi.CgroupVer = cgroupVersion()
	if e.cg != nil {
		hi.CgroupCtl = e.cg.ctrl
	}
	_, err := os.Stat("/proc/pressure/cpu")
	hi.PSI = err == nil
	hi.Clock = clockInfo()
	t := now()
	hi.Real, hi.Mono = t.real, t.mono
	return hi
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// cgroupVersion reports 2 when a cgroup v2 hierarchy is mounted, 1 when
// only v1 hierarchies are, else 0.
func cgroupVersion() uint8 {
	if cgroup2Mount() != "" {
		return 2
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err == nil {
		return 1
	}
	return 0
}

// clockInfo reads the kernel clock's discipline state with adjtimex.
func clockInfo() codec.ClockInfo {
	ci := codec.ClockInfo{Source: readTrim("/sys/devices/system/clocksource/clocksource0/current_clocksource")}
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return ci
	}
	ci.Synced = state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
	ci.EstErr = uint64(tx.Esterror) * 1000 // µs to ns
	ci.MaxErr = uint64(tx.Maxerror) * 1000
	return ci
}
