// SPDX-License-Identifier: Apache-2.0

package sample

import (
	"bytes"

	"gitlab.com/tacet/tacet/codec"
)

// tickNs is one USER_HZ clock tick in ns; see the package doc.
const tickNs = 10_000_000

// HostReader reads the machine-wide sources. Its zero value is not
// usable; make one with NewHost.
type HostReader struct {
	stat, meminfo, loadavg file
	netdev, diskstats      file
	vmstat                 file
	psi                    [len(psiNames)]file
}

var psiNames = [...]string{"cpu", "memory", "io", "irq"}

// NewHost returns a reader of the /proc tree at root ("/proc" on a live
// machine). Files are opened on first use.
func NewHost(root string) *HostReader {
	h := &HostReader{
		stat:      newFile(root+"/stat", 8<<10),
		meminfo:   newFile(root+"/meminfo", 4<<10),
		loadavg:   newFile(root+"/loadavg", 256),
		netdev:    newFile(root+"/net/dev", 4<<10),
		diskstats: newFile(root+"/diskstats", 4<<10),
		vmstat:    newFile(root+"/vmstat", 8<<10),
	}
	for i, n := range psiNames {
		h.psi[i] = newFile(root+"/pressure/"+n, 256)
	}
	return h
}

// Close closes every file the reader opened.
func (h *HostReader) Close() {
	for _, f := range []*file{&h.stat, &h.meminfo, &h.loadavg, &h.netdev, &h.diskstats, &h.vmstat} {
		f.close()
	}
	for i := range h.psi {
		h.psi[i].close()
	}
}

// Read fills the host records of s for the sources in src, reusing their
// storage, and appends to s.Miss each source it could not read. It does
// not touch s.Proc or the clocks.
func (h *HostReader) Read(src Sources, s *codec.Sample) {
	s.CPU, s.Mem, s.Load, s.PSI = s.CPU[:0], s.Mem[:0], s.Load[:0], s.PSI[:0]
	s.Net, s.Disk, s.VM = s.Net[:0], s.Disk[:0], s.VM[:0]
	if src&(CPU|Load) != 0 {
		h.readStat(src, s)
	}
	if src&Load != 0 && len(s.Load) == 1 {
		if b, err := h.loadavg.read(); err == nil {
			parseLoadavg(b, &s.Load[0])
		}
	}
	if src&Mem != 0 {
		h.readInto(&h.meminfo, codec.SourceMem, s, func(b []byte) {
			var m *codec.Mem
			s.Mem, m = grow(s.Mem)
			parseMeminfo(b, m)
		})
	}
	if src&PSI != 0 {
		h.readPSI(s)
	}
	if src&Net != 0 {
		h.readInto(&h.netdev, codec.SourceNet, s, func(b []byte) { s.Net = parseNetDev(b, s.Net) })
	}
	if src&Disk != 0 {
		h.readInto(&h.diskstats, codec.SourceDisk, s, func(b []byte) { s.Disk = parseDiskstats(b, s.Disk) })
	}
	if src&VM != 0 {
		h.readInto(&h.vmstat, codec.SourceVM, s, func(b []byte) {
			var v *codec.VM
			s.VM, v = grow(s.VM)
			parseVMStat(b, v)
		})
	}
}

// readInto reads f and hands it to parse, or records the source as
// missed. parse is a closure over s that the compiler keeps on the stack.
func (h *HostReader) readInto(f *file, name string, s *codec.Sample, parse func([]byte)) {
	b, err := f.read()
	if err != nil {
		s.Miss = append(s.Miss, name)
		return
	}
	parse(b)
}

func (h *HostReader) readStat(src Sources, s *codec.Sample) {
	b, err := h.stat.read()
	if err != nil {
		if src&CPU != 0 {
			s.Miss = append(s.Miss, codec.SourceCPU)
		}
		if src&Load != 0 {
			s.Miss = append(s.Miss, codec.SourceLoad)
		}
		return
	}
	var l codec.Load
	cpus := parseStat(b, s.CPU, &l)
	if src&CPU != 0 {
		s.CPU = cpus
	}
	if src&Load != 0 {
		var p *codec.Load
		s.Load, p = grow(s.Load)
		*p = l
	}
}

// readPSI reads every pressure file there is; with none, "psi" is missed.
func (h *HostReader) readPSI(s *codec.Sample) {
	for i := range h.psi {
		b, err := h.psi[i].read()
		if err != nil {
			continue
		}
		var p *codec.PSI
		s.PSI, p = grow(s.PSI)
		*p = codec.PSI{Res: psiNames[i]}
		parsePSI(b, p)
	}
	if len(s.PSI) == 0 {
		s.Miss = append(s.Miss, codec.SourcePSI)
	}
}

// parseStat parses /proc/stat: one CPU record per cpu line, written into
// the storage of cpus, and the scheduler counters into l.
func parseStat(b []byte, cpus []codec.CPU, l *codec.Load) []codec.CPU {
	cpus = cpus[:0]
	var v [8]uint64
	for i := 0; i < len(b); {
		var ln []byte
		ln, i = line(b, i)
		key, j := field(ln, 0)
		switch {
		case bytes.HasPrefix(key, []byte("cpu")):
			fields(ln, j, v[:])
			var c *codec.CPU
			cpus, c = grow(cpus)
			setName(&c.Name, key)
			c.User, c.Nice, c.System, c.Idle = v[0]*tickNs, v[1]*tickNs, v[2]*tickNs, v[3]*tickNs
			c.IOWait, c.IRQ, c.SoftIRQ, c.Steal = v[4]*tickNs, v[5]*tickNs, v[6]*tickNs, v[7]*tickNs
		case string(key) == "ctxt":
			l.Ctxt = firstNumber(ln, j)
		case string(key) == "processes":
			l.Forks = firstNumber(ln, j)
		case string(key) == "procs_running":
			l.Running = uint32(firstNumber(ln, j))
		case string(key) == "procs_blocked":
			l.Blocked = uint32(firstNumber(ln, j))
		}
	}
	return cpus
}

func firstNumber(b []byte, i int) uint64 {
	f, _ := field(b, i)
	return atou(f)
}

// parseLoadavg parses "0.52 0.58 0.59 2/1234 56789" into l.
func parseLoadavg(b []byte, l *codec.Load) {
	var f []byte
	i := 0
	f, i = field(b, i)
	l.Avg1 = atof(f)
	f, i = field(b, i)
	l.Avg5 = atof(f)
	f, i = field(b, i)
	l.Avg15 = atof(f)
	f, _ = field(b, i)
	if k := bytes.IndexByte(f, '/'); k >= 0 {
		l.Threads = uint32(atou(f[k+1:]))
	}
}

// parseMeminfo parses the lines of /proc/meminfo we keep; values are kB.
func parseMeminfo(b []byte, m *codec.Mem) {
	*m = codec.Mem{}
	for i := 0; i < len(b); {
		var ln []byte
		ln, i = line(b, i)
		k := bytes.IndexByte(ln, ':')
		if k < 0 {
			continue
		}
		var dst *uint64
		switch string(ln[:k]) {
		case "MemTotal":
			dst = &m.Total
		case "MemFree":
			dst = &m.Free
		case "MemAvailable":
			dst = &m.Avail
		case "Buffers":
			dst = &m.Buffers
		case "Cached":
			dst = &m.Cached
		case "Shmem":
			dst = &m.Shmem
		case "Slab":
			dst = &m.Slab
		case "Dirty":
			dst = &m.Dirty
		case "Writeback":
			dst = &m.Writeback
		case "SwapTotal":
			dst = &m.SwapTotal
		case "SwapFree":
			dst = &m.SwapFree
		default:
			continue
		}
		*dst = firstNumber(ln, k+1) * 1024
	}
}

// parsePSI parses "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" and
// the "full" line, if there is one.
func parsePSI(b []byte, p *codec.PSI) {
	for i := 0; i < len(b); {
		var ln []byte
		ln, i = line(b, i)
		kind, j := field(ln, 0)
		a10, a60, a300, total := &p.Some10, &p.Some60, &p.Some300, &p.Some
		if string(kind) == "full" {
			a10, a60, a300, total = &p.Full10, &p.Full60, &p.Full300, &p.Full
		} else if string(kind) != "some" {
			continue
		}
		for j < len(ln) {
			var kv []byte
			kv, j = field(ln, j)
			k := bytes.IndexByte(kv, '=')
			if k < 0 {
				continue
			}
			switch v := kv[k+1:]; string(kv[:k]) {
			case "avg10":
				*a10 = atof(v)
			case "avg60":
				*a60 = atof(v)
			case "avg300":
				*a300 = atof(v)
			case "total":
				*total = atou(v) * 1000
			}
		}
	}
}

// parseNetDev parses /proc/net/dev: two header lines, then
// "  NAME: rx(8 fields) tx(8 fields)" per interface.
func parseNetDev(b []byte, out []codec.Net) []codec.Net {
	var v [16]uint64
	for i, n := 0, 0; i < len(b); n++ {
		var ln []byte
		ln, i = line(b, i)
		k := bytes.IndexByte(ln, ':')
		if n < 2 || k < 0 {
			continue
		}
		fields(ln, k+1, v[:])
		var r *codec.Net
		out, r = grow(out)
		dev := r.Dev
		*r = codec.Net{Dev: append(dev[:0], bytes.TrimLeft(ln[:k], " ")...),
			RxBytes: v[0], RxPkts: v[1], RxErrs: v[2], RxDrop: v[3],
			TxBytes: v[8], TxPkts: v[9], TxErrs: v[10], TxDrop: v[11]}
	}
	return out
}

// parseDiskstats parses "MAJ MIN NAME" and at least 11 counters per line.
func parseDiskstats(b []byte, out []codec.Disk) []codec.Disk {
	var v [11]uint64
	for i := 0; i < len(b); {
		var ln []byte
		ln, i = line(b, i)
		_, j := field(ln, 0)
		_, j = field(ln, j)
		name, j := field(ln, j)
		if len(name) == 0 {
			continue
		}
		fields(ln, j, v[:])
		var d *codec.Disk
		out, d = grow(out)
		dev := d.Dev
		*d = codec.Disk{Dev: append(dev[:0], name...),
			RdIOs: v[0], RdMerges: v[1], RdBytes: v[2] * 512, RdTime: v[3] * 1e6,
			WrIOs: v[4], WrMerges: v[5], WrBytes: v[6] * 512, WrTime: v[7] * 1e6,
			InFlight: v[8], IOTime: v[9] * 1e6, WTime: v[10] * 1e6}
	}
	return out
}

// parseVMStat parses the "name value" lines of /proc/vmstat we keep.
// pgscan and pgsteal sum the counters by reclaimer (kswapd, direct,
// khugepaged); the by-type counters (_anon, _file) count the same pages
// again and are left out.
func parseVMStat(b []byte, v *codec.VM) {
	*v = codec.VM{}
	for i := 0; i < len(b); {
		var ln []byte
		ln, i = line(b, i)
		key, j := field(ln, 0)
		var dst *uint64
		switch string(key) {
		case "pgfault":
			dst = &v.PgFault
		case "pgmajfault":
			dst = &v.PgMajFault
		case "pgpgin":
			dst = &v.PgPgIn
		case "pgpgout":
			dst = &v.PgPgOut
		case "pswpin":
			dst = &v.PSwpIn
		case "pswpout":
			dst = &v.PSwpOut
		case "pgscan_kswapd", "pgscan_direct", "pgscan_khugepaged":
			dst = &v.PgScan
		case "pgsteal_kswapd", "pgsteal_direct", "pgsteal_khugepaged":
			dst = &v.PgSteal
		case "oom_kill":
			dst = &v.OOMKill
		default:
			continue
		}
		*dst += firstNumber(ln, j)
	}
}
