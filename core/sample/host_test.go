// SPDX-License-Identifier: Apache-2.0

package sample

import (
	"testing"

	"github.com/prometheus/procfs"
	"github.com/prometheus/procfs/blockdevice"

	"gitlab.com/tacet/tacet/codec"
)

const fixture = "testdata/proc"

func readHost(t *testing.T, root string, src Sources) *codec.Sample {
	t.Helper()
	h := NewHost(root)
	t.Cleanup(h.Close)
	var s codec.Sample
	h.Read(src, &s)
	return &s
}

// TestHostFixture reads the fake /proc of testdata: 256 CPUs with an intr
// line of 3000 counters (larger than the first buffer), no PSI.
func TestHostFixture(t *testing.T) {
	s := readHost(t, fixture, Host)
	if len(s.CPU) != 257 || s.CPU[0].Name != "cpu" || s.CPU[256].Name != "cpu255" {
		t.Fatalf("%d CPUs, first %q", len(s.CPU), s.CPU[0].Name)
	}
	if c := s.CPU[255]; c.User != 100*tickNs || c.System != 10*tickNs || c.Idle != 1254*tickNs {
		t.Errorf("cpu254 %+v", c)
	}
	wantLoad := codec.Load{Avg1: 0.52, Avg5: 1.25, Avg15: 3.5, Threads: 2411, Running: 3, Blocked: 1,
		Ctxt: 987654321, Forks: 123456}
	if len(s.Load) != 1 || s.Load[0] != wantLoad {
		t.Errorf("load %+v, want %+v", s.Load, wantLoad)
	}
	wantMem := codec.Mem{Total: 16303380 << 10, Free: 1234567 << 10, Avail: 9876543 << 10,
		Buffers: 111111 << 10, Cached: 2222222 << 10, Shmem: 44444 << 10, Slab: 555555 << 10,
		Dirty: 128 << 10, Writeback: 4 << 10, SwapTotal: 2097148 << 10, SwapFree: 2000000 << 10}
	if len(s.Mem) != 1 || s.Mem[0] != wantMem {
		t.Errorf("mem %+v, want %+v", s.Mem, wantMem)
	}
	if len(s.Net) != 2 || string(s.Net[1].Dev) != "eth0" || s.Net[1].RxDrop != 2 || s.Net[1].TxBytes != 54321 ||
		s.Net[1].TxDrop != 4 || s.Net[0].RxBytes != 5368721239 {
		t.Errorf("net %+v", s.Net)
	}
	d := s.Disk[0]
	if len(s.Disk) != 2 || string(d.Dev) != "nvme0n1" || d.RdBytes != 80000*512 || d.WrTime != 600e6 ||
		d.InFlight != 1 || d.WTime != 900e6 || string(s.Disk[1].Dev) != "sda" {
		t.Errorf("disk %+v", s.Disk)
	}
	wantVM := codec.VM{PgFault: 123456789, PgMajFault: 1234, PgPgIn: 1000, PgPgOut: 2000, PSwpIn: 3,
		PSwpOut: 4, PgScan: 303, PgSteal: 31, OOMKill: 2}
	if len(s.VM) != 1 || s.VM[0] != wantVM {
		t.Errorf("vm %+v, want %+v", s.VM, wantVM)
	}
	if len(s.PSI) != 0 || len(s.Miss) != 1 || s.Miss[0] != codec.SourcePSI {
		t.Errorf("psi %+v, miss %q; want no PSI, miss [psi]", s.PSI, s.Miss)
	}
}

func TestPSIFixture(t *testing.T) {
	s := readHost(t, "testdata/psi", PSI)
	want := []codec.PSI{
		{Res: "cpu", Some10: 0.5, Some60: 0.12, Some300: 0.03, Some: 1234567000},
		{Res: "memory", Some10: 1.5, Some60: 0.75, Some300: 0.25, Some: 98000,
			Full10: 0.25, Full60: 0.12, Full300: 0.06, Full: 45000},
	}
	if len(s.PSI) != 2 || s.PSI[0] != want[0] || s.PSI[1] != want[1] || len(s.Miss) != 0 {
		t.Fatalf("psi %+v miss %q", s.PSI, s.Miss)
	}
}

// TestHostFixtureProcfs parses the fixture with procfs as well.
func TestHostFixtureProcfs(t *testing.T) {
	s := readHost(t, fixture, Host)
	fs, err := procfs.NewFS(fixture)
	if err != nil {
		t.Fatal(err)
	}
	st, err := fs.Stat()
	if err != nil {
		t.Fatal(err)
	}
	checkCPUs(t, s.CPU, st)
	checkNet(t, fs, s.Net, s.Net)
}

func checkCPUs(t *testing.T, got []codec.CPU, st procfs.Stat) {
	t.Helper()
	if len(got) != len(st.CPU)+1 {
		t.Fatalf("%d CPU records, procfs has %d CPUs", len(got), len(st.CPU))
	}
	sec := func(ns uint64) float64 { return float64(ns) / 1e9 }
	if c := got[0]; !near(sec(c.User), st.CPUTotal.User) || !near(sec(c.Idle), st.CPUTotal.Idle) {
		t.Errorf("cpu total %+v, procfs %+v", c, st.CPUTotal)
	}
}

func checkNet(t *testing.T, fs procfs.FS, before, after []codec.Net) {
	t.Helper()
	nd, err := fs.NetDev()
	if err != nil {
		t.Fatal(err)
	}
	if len(nd) != len(before) {
		t.Fatalf("%d interfaces, procfs %d", len(before), len(nd))
	}
	for i, n := range before {
		p, ok := nd[string(n.Dev)]
		if !ok {
			t.Errorf("interface %q not in procfs", n.Dev)
			continue
		}
		if !between(n.RxBytes, p.RxBytes, after[i].RxBytes) || !between(n.TxPkts, p.TxPackets, after[i].TxPkts) {
			t.Errorf("%s: ours %+v, procfs %+v", n.Dev, n, p)
		}
	}
}

// near reports whether two float seconds agree to within a tick.
func near(a, b float64) bool { return a-b < 0.011 && b-a < 0.011 }

// between reports whether counter b, read between a and c, lies between.
func between(a, b, c uint64) bool { return a <= b && b <= c }

// TestHostLive compares a live read with procfs's. Counters read by
// procfs between two of our reads must lie between them.
func TestHostLive(t *testing.T) {
	h := NewHost("/proc")
	t.Cleanup(h.Close)
	var a, c codec.Sample
	h.Read(Host, &a)
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		t.Fatal(err)
	}
	st, err := fs.Stat()
	if err != nil {
		t.Fatal(err)
	}
	mi, _ := fs.Meminfo()
	la, _ := fs.LoadAvg()
	bd, _ := blockdevice.NewFS("/proc", "/sys")
	disks, derr := bd.ProcDiskstats()
	psi, perr := fs.PSIStatsForResource("cpu")
	c.Net = make([]codec.Net, 0, len(a.Net)) // keep a's device names apart
	h.Read(Host, &c)

	checkCPUs(t, a.CPU, st)
	if !between(a.Load[0].Ctxt, st.ContextSwitches, c.Load[0].Ctxt) ||
		!between(a.Load[0].Forks, st.ProcessCreated, c.Load[0].Forks) {
		t.Errorf("load %+v %+v, procfs ctxt %d forks %d", a.Load[0], c.Load[0], st.ContextSwitches, st.ProcessCreated)
	}
	if la != nil && (la.Load15 < a.Load[0].Avg15-0.05 || la.Load15 > c.Load[0].Avg15+0.05) {
		t.Errorf("load15 %v..%v, procfs %v", a.Load[0].Avg15, c.Load[0].Avg15, la.Load15)
	}
	if mi.MemTotal == nil || *mi.MemTotal*1024 != a.Mem[0].Total || *mi.SwapTotal*1024 != a.Mem[0].SwapTotal {
		t.Errorf("mem %+v, procfs total %v", a.Mem[0], mi.MemTotal)
	}
	checkNet(t, fs, a.Net, c.Net)
	if derr == nil {
		if len(disks) != len(a.Disk) {
			t.Fatalf("%d disks, procfs %d", len(a.Disk), len(disks))
		}
		for i, d := range disks {
			if string(a.Disk[i].Dev) != d.Info.DeviceName ||
				!between(a.Disk[i].RdIOs, d.IOStats.ReadIOs, c.Disk[i].RdIOs) ||
				!between(a.Disk[i].WrBytes, d.IOStats.WriteSectors*512, c.Disk[i].WrBytes) {
				t.Errorf("disk %d: ours %+v, procfs %+v", i, a.Disk[i], d)
			}
		}
	}
	if perr == nil && (len(a.PSI) == 0 || !between(a.PSI[0].Some, psi.Some.Total*1000, c.PSI[0].Some)) {
		t.Errorf("psi %+v, procfs %+v", a.PSI, psi.Some)
	}
	if perr != nil && (len(a.PSI) != 0) {
		t.Errorf("psi %+v where procfs has none", a.PSI)
	}
}

// TestHostNoAlloc checks that a warm host read allocates nothing.
func TestHostNoAlloc(t *testing.T) {
	for _, root := range []string{"/proc", fixture} {
		h := NewHost(root)
		var s codec.Sample
		h.Read(Host, &s)
		n := testing.AllocsPerRun(100, func() {
			s.Miss = s.Miss[:0]
			h.Read(Host, &s)
		})
		h.Close()
		if n != 0 {
			t.Errorf("%s: %v allocations per host read", root, n)
		}
	}
}

func BenchmarkHost(b *testing.B) {
	h := NewHost("/proc")
	defer h.Close()
	var s codec.Sample
	b.ReportAllocs()
	for b.Loop() {
		s.Miss = s.Miss[:0]
		h.Read(Host, &s)
	}
}
