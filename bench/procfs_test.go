// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// userHZ is the unit of utime and stime in /proc/PID/stat. The kernel
// reports them in USER_HZ, which is 100 on every Linux ABI we run on
// whatever CONFIG_HZ is, so it is fixed here rather than read from
// sysconf.
const userHZ = 100

// procSample is what one process has used so far, read from /proc.
type procSample struct {
	ctxsw   uint64 // voluntary and involuntary context switches, all threads
	volsw   uint64 // voluntary ones: the thread slept and was woken
	ticks   uint64 // utime + stime, in 1/userHZ s
	runNs   uint64 // time on CPU from schedstat, all threads, in ns
	rssKiB  uint64 // VmRSS
	hwmKiB  uint64 // VmHWM, the peak of VmRSS
	threads int
}

// readProc reads the counters of pid under root (normally "/proc").
// Threads that exit between the listing and the read are skipped: their
// switches are lost from the sum, which only happens to a busy process.
func readProc(root string, pid int) (procSample, error) {
	var s procSample
	dir := filepath.Join(root, strconv.Itoa(pid))
	st, err := readStatus(filepath.Join(dir, "status"))
	if err != nil {
		return s, err
	}
	s.rssKiB, s.hwmKiB = st["VmRSS"], st["VmHWM"]
	if s.ticks, err = readStatTicks(filepath.Join(dir, "stat")); err != nil {
		return s, err
	}

	tasks, err := os.ReadDir(filepath.Join(dir, "task"))
	if err != nil {
		return s, err
	}
	for _, t := range tasks {
		ts, err := readStatus(filepath.Join(dir, "task", t.Name(), "status"))
		if err != nil {
			continue
		}
		s.threads++
		s.ctxsw += ts["voluntary_ctxt_switches"] + ts["nonvoluntary_ctxt_switches"]
		s.volsw += ts["voluntary_ctxt_switches"]
		s.runNs += readSchedstat(filepath.Join(dir, "task", t.Name(), "schedstat"))
	}
	return s, nil
}

// readStatus returns the numeric fields of a status file, by name; "kB"
// units are dropped, so sizes are in KiB.
func readStatus(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := make(map[string]uint64)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseUint(f[0], 10, 64); err == nil {
			m[name] = n
		}
	}
	return m, nil
}

// readStatTicks returns utime + stime from a stat file. The command name
// is in parentheses and may itself hold spaces and parentheses, so the
// fields are counted from the last ')'.
func readStatTicks(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: no command name", path)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: %d fields after the command name", path, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: utime or stime is not a number", path)
	}
	return ut + st, nil
}

// readSchedstat returns the first field of a schedstat file, the time
// spent on a CPU in ns, or 0 when the kernel has no schedstat.
func readSchedstat(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseUint(f[0], 10, 64)
	return n
}

func TestReadProc(t *testing.T) {
	s, err := readProc("testdata/proc", 4242)
	if err != nil {
		t.Fatal(err)
	}
	want := procSample{ctxsw: 10 + 2 + 300 + 40, volsw: 10 + 300, ticks: 17 + 5, runNs: 1000 + 250,
		rssKiB: 9876, hwmKiB: 12345, threads: 2}
	if s != want {
		t.Errorf("readProc = %+v, want %+v", s, want)
	}
}
