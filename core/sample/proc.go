// SPDX-License-Identifier: Apache-2.0

package sample

import (
	"bytes"
	"os"
	"strconv"

	"gitlab.com/tacet/tacet/codec"
)

// Target is a process to sample.
type Target struct {
	Handle uint64 // the daemon's handle, 0 for a bare pid
	PID    int
	// Start is the process's starttime (ns after boot), which with PID
	// names one process: a pid reused by another process has another
	// start, and that process is not reported. 0 means the process that
	// has PID when first read; ProcReader then remembers its start per
	// handle.
	Start uint64
	// Tree asks for the process's descendants too, found in Cgroup's
	// cgroup.procs when Cgroup (a cgroup v2 directory) is set, else by
	// following /proc/PID/task/PID/children.
	Tree   bool
	Cgroup string
}

// ProcReader reads per-process sources. It keeps the files of every
// process it has read open until a read no longer finds the process, so
// that steady-state sampling opens nothing and allocates nothing; a new
// process costs its opens once.
type ProcReader struct {
	root   string
	pageSz uint64
	gen    uint64
	procs  map[int]*procFiles
	starts map[uint64]uint64 // handle's main process start, learned at first read
	cgs    map[string]*cgFiles
	queue  []int // descendants still to visit, reused
}

// procFiles are the open files of one process.
type procFiles struct {
	pid                     int
	start                   uint64
	seen                    uint64 // gen of the last read that found it
	stat, statm, status, io file
	children                file
}

type cgFiles struct {
	seen               uint64
	procs, cpu, memory file
}

// NewProcs returns a reader of the processes of the /proc tree at root.
func NewProcs(root string) *ProcReader {
	return &ProcReader{root: root, pageSz: uint64(os.Getpagesize()),
		procs: map[int]*procFiles{}, starts: map[uint64]uint64{}, cgs: map[string]*cgFiles{}}
}

// Close closes every file the reader holds.
func (r *ProcReader) Close() {
	r.gen++
	r.sweep()
}

// Read appends one record per target process, and per descendant of
// targets with Tree, to out, and returns it. A process that no longer
// exists, or whose start differs from the target's, has no record.
func (r *ProcReader) Read(ts []Target, out []codec.ProcSample) []codec.ProcSample {
	r.gen++
	for i := range ts {
		out = r.readTarget(&ts[i], out)
	}
	r.sweep()
	return out
}

func (r *ProcReader) readTarget(t *Target, out []codec.ProcSample) []codec.ProcSample {
	start := t.Start
	if start == 0 && t.Handle != 0 {
		start = r.starts[t.Handle]
	}
	n := len(out)
	out, ok := r.readOne(t.PID, t.Handle, start, out)
	if !ok {
		return out
	}
	if start == 0 && t.Handle != 0 {
		r.starts[t.Handle] = out[n].Start
	}
	if t.Cgroup != "" {
		out = r.readCgroup(t, out, n)
	} else if t.Tree {
		out = r.readChildren(t, out)
	}
	return out
}

// readOne appends the record of pid, if it exists and has start (any
// start when 0), and reports whether it did.
func (r *ProcReader) readOne(pid int, h, start uint64, out []codec.ProcSample) ([]codec.ProcSample, bool) {
	pf := r.open(pid)
	if pf == nil {
		return out, false
	}
	b, err := pf.stat.read()
	if err != nil {
		r.drop(pf)
		return out, false
	}
	var p *codec.ProcSample
	out, p = grow(out)
	state := p.State
	*p = codec.ProcSample{Handle: h, PID: uint32(pid), State: state}
	if !parseProcStat(b, p, r.pageSz) || (start != 0 && p.Start != start) {
		return out[:len(out)-1], false
	}
	if pf.start != 0 && pf.start != p.Start {
		// The files were opened for an earlier process with this pid.
		r.drop(pf)
		return out[:len(out)-1], false
	}
	pf.start, pf.seen = p.Start, r.gen
	if b, err := pf.statm.read(); err == nil {
		parseStatm(b, p, r.pageSz)
	}
	if b, err := pf.status.read(); err == nil {
		parseStatus(b, p)
	}
	if b, err := pf.io.read(); err == nil {
		parseIO(b, p)
	}
	return out, true
}

// open returns the files of pid, opening them the first time.
func (r *ProcReader) open(pid int) *procFiles {
	if pf := r.procs[pid]; pf != nil {
		return pf
	}
	dir := r.root + "/" + strconv.Itoa(pid)
	pf := &procFiles{pid: pid,
		stat: newFile(dir+"/stat", 512), statm: newFile(dir+"/statm", 128),
		status: newFile(dir+"/status", 2048), io: newFile(dir+"/io", 256),
		children: newFile(dir+"/task/"+strconv.Itoa(pid)+"/children", 256)}
	if _, err := pf.stat.read(); err != nil {
		return nil
	}
	r.procs[pid] = pf
	return pf
}

func (r *ProcReader) drop(pf *procFiles) {
	for _, f := range []*file{&pf.stat, &pf.statm, &pf.status, &pf.io, &pf.children} {
		f.close()
	}
	if r.procs[pf.pid] == pf {
		delete(r.procs, pf.pid)
	}
}

// sweep closes the files of processes and cgroups the last read did not
// find.
func (r *ProcReader) sweep() {
	for _, pf := range r.procs {
		if pf.seen != r.gen {
			r.drop(pf)
		}
	}
	for dir, cf := range r.cgs {
		if cf.seen != r.gen {
			cf.procs.close()
			cf.cpu.close()
			cf.memory.close()
			delete(r.cgs, dir)
		}
	}
}

// readChildren follows /proc/PID/task/PID/children from t.PID down. It
// sees only children forked by each process's main thread: a process
// started without a cgroup whose other threads fork is not fully seen.
func (r *ProcReader) readChildren(t *Target, out []codec.ProcSample) []codec.ProcSample {
	r.queue = append(r.queue[:0], t.PID)
	for k := 0; k < len(r.queue) && k < 1<<16; k++ {
		pid := r.queue[k]
		pf := r.procs[pid]
		if pf == nil {
			continue
		}
		b, err := pf.children.read()
		if err != nil {
			continue
		}
		for i := 0; i < len(b); {
			var f []byte
			f, i = field(b, i)
			if len(f) == 0 {
				break
			}
			child := int(atou(f))
			var ok bool
			if out, ok = r.readOne(child, t.Handle, 0, out); ok {
				r.queue = append(r.queue, child)
			}
		}
	}
	return out
}

// readCgroup adds the other members of t's cgroup, and the cgroup's
// usage to the main process's record out[main].
func (r *ProcReader) readCgroup(t *Target, out []codec.ProcSample, main int) []codec.ProcSample {
	cf := r.cgs[t.Cgroup]
	if cf == nil {
		cf = &cgFiles{procs: newFile(t.Cgroup+"/cgroup.procs", 256),
			cpu: newFile(t.Cgroup+"/cpu.stat", 512), memory: newFile(t.Cgroup+"/memory.current", 64)}
		r.cgs[t.Cgroup] = cf
	}
	cf.seen = r.gen
	if b, err := cf.cpu.read(); err == nil {
		out[main].CgCPU = keyed(b, "usage_usec") * 1000
	}
	if b, err := cf.memory.read(); err == nil {
		out[main].CgMem = atou(b)
	}
	if !t.Tree {
		return out
	}
	b, err := cf.procs.read()
	if err != nil {
		return out
	}
	for i := 0; i < len(b); {
		var ln []byte
		ln, i = line(b, i)
		if pid := int(atou(ln)); pid != 0 && pid != t.PID {
			out, _ = r.readOne(pid, t.Handle, 0, out)
		}
	}
	return out
}

// keyed returns the value of the "key value" line of b named key.
func keyed(b []byte, key string) uint64 {
	for i := 0; i < len(b); {
		var ln []byte
		ln, i = line(b, i)
		k, j := field(ln, 0)
		if string(k) == key {
			return firstNumber(ln, j)
		}
	}
	return 0
}

// stateNames holds the one-letter states as strings, so that a record's
// state costs no allocation.
var stateNames = func() (s [128]string) {
	for c := range s {
		s[c] = string(rune(c))
	}
	return
}()

// parseProcStat parses /proc/PID/stat. The command name, in parentheses,
// may hold spaces and parentheses itself, so the fields are counted from
// the last ')'. Field numbers below are those of proc(5).
func parseProcStat(b []byte, p *codec.ProcSample, pageSz uint64) bool {
	k := bytes.LastIndexByte(b, ')')
	if k < 0 {
		return false
	}
	var v [37]uint64 // fields 3 (state) to 39 (processor)
	i := k + 1
	for n := range v {
		var f []byte
		f, i = field(b, i)
		if n == 0 && len(f) > 0 && f[0] < 128 {
			p.State = stateNames[f[0]]
		}
		v[n] = atou(f)
	}
	at := func(field int) uint64 { return v[field-3] }
	p.PPID = uint32(at(4))
	p.MinFlt, p.MajFlt = at(10), at(12)
	p.UserNs, p.SysNs = at(14)*tickNs, at(15)*tickNs
	p.Threads = uint32(at(20))
	p.Start = at(22) * tickNs
	p.VSize, p.RSS = at(23), at(24)*pageSz
	p.CPU = uint32(at(39))
	return true
}

// parseStatm takes resident and shared pages from /proc/PID/statm, which
// the kernel computes as stat's rss is, at the same instant as shared.
func parseStatm(b []byte, p *codec.ProcSample, pageSz uint64) {
	var v [3]uint64
	fields(b, 0, v[:])
	p.RSS, p.Shared = v[1]*pageSz, v[2]*pageSz
}

// parseStatus takes the context switch counts from /proc/PID/status.
func parseStatus(b []byte, p *codec.ProcSample) {
	for i := 0; i < len(b); {
		var ln []byte
		ln, i = line(b, i)
		k := bytes.IndexByte(ln, ':')
		if k < 0 {
			continue
		}
		switch string(ln[:k]) {
		case "voluntary_ctxt_switches":
			p.NVCSw = firstNumber(ln, k+1)
		case "nonvoluntary_ctxt_switches":
			p.NIVCSw = firstNumber(ln, k+1)
		}
	}
}

// parseIO parses /proc/PID/io.
func parseIO(b []byte, p *codec.ProcSample) {
	for i := 0; i < len(b); {
		var ln []byte
		ln, i = line(b, i)
		k := bytes.IndexByte(ln, ':')
		if k < 0 {
			continue
		}
		switch v := firstNumber(ln, k+1); string(ln[:k]) {
		case "rchar":
			p.RChar = v
		case "wchar":
			p.WChar = v
		case "read_bytes":
			p.RdBytes = v
		case "write_bytes":
			p.WrBytes = v
		}
	}
}
