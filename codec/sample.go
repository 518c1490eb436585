// SPDX-License-Identifier: Apache-2.0

package codec

//go:generate go tool msgp -file=sample.go -o=sample_gen.go -io=false -tests=false

// Arguments, results and event body of the sample.* methods (sections
// 11.15 and 12.5 of spec/PROTOCOL.md). Counters are cumulative as the
// kernel keeps them; times are ns and sizes bytes, converted from the
// kernel's ticks, kB and sectors.

//msgp:limit arrays:131072 maps:1024
//msgp:noduplicates

// Sample source names, as in SampleArgs.Sources and Sample.Miss.
const (
	SourceCPU  = "cpu"
	SourceMem  = "mem"
	SourceLoad = "load"
	SourcePSI  = "psi"
	SourceNet  = "net"
	SourceDisk = "disk"
	SourceVM   = "vm"
	SourceProc = "proc"
)

// SampleArgs are the arguments of sample.once and sample.subscribe.
type SampleArgs struct {
	Sources []string `msg:"src,limit=16"`    // empty: every source the daemon can read
	Handles []uint64 `msg:"h,limit=4096"`    // "proc": started processes, with their descendants
	PIDs    []uint32 `msg:"pids,limit=4096"` // "proc": other processes, without descendants
	Devs    [][]byte `msg:"dev,limit=1024"`  // "net", "disk": names to include; empty: all
	Period  uint64   `msg:"period"`          // ns; sample.subscribe only
}

// SampleSubResult is the result of sample.subscribe.
type SampleSubResult struct {
	Sub    uint32 `msg:"sub"`    // subscription id, the envelope id of its events
	Period uint64 `msg:"period"` // ns, after rounding
}

// Sample is the result of sample.once and the body of a "sample" event.
type Sample struct {
	K    string       `msg:"k"`
	Seq  uint64       `msg:"seq"`  // number in its subscription; 0 for sample.once
	Real uint64       `msg:"real"` // CLOCK_REALTIME ns when reading began
	Mono uint64       `msg:"mono"` // CLOCK_MONOTONIC ns, the same instant
	Dur  uint64       `msg:"dur"`  // MONO ns spent reading every source
	Self Cost         `msg:"self"`
	Miss []string     `msg:"miss,limit=16"` // sources asked for but not readable
	CPU  []CPU        `msg:"cpu"`
	Mem  []Mem        `msg:"mem,limit=1"`
	Load []Load       `msg:"load,limit=1"`
	PSI  []PSI        `msg:"psi,limit=8"`
	Net  []Net        `msg:"net"`
	Disk []Disk       `msg:"disk"`
	VM   []VM         `msg:"vm,limit=1"`
	Proc []ProcSample `msg:"proc"`
}

// Cost is what the daemon itself used, from getrusage and /proc/self.
type Cost struct {
	UserNs  uint64 `msg:"utime"`
	SysNs   uint64 `msg:"stime"`
	NVCSw   uint64 `msg:"nvcsw"`
	NIVCSw  uint64 `msg:"nivcsw"`
	RSS     uint64 `msg:"rss"` // bytes now
	Threads uint32 `msg:"threads"`
}

// CPU is one line of /proc/stat: "cpu" for the sum, then "cpuN".
type CPU struct {
	Name    string `msg:"name"`
	User    uint64 `msg:"user"`
	Nice    uint64 `msg:"nice"`
	System  uint64 `msg:"system"`
	Idle    uint64 `msg:"idle"`
	IOWait  uint64 `msg:"iowait"`
	IRQ     uint64 `msg:"irq"`
	SoftIRQ uint64 `msg:"softirq"`
	Steal   uint64 `msg:"steal"`
}

// Mem holds the essentials of /proc/meminfo, in bytes.
type Mem struct {
	Total     uint64 `msg:"total"`
	Free      uint64 `msg:"free"`
	Avail     uint64 `msg:"avail"`
	Buffers   uint64 `msg:"buffers"`
	Cached    uint64 `msg:"cached"`
	Shmem     uint64 `msg:"shmem"`
	Slab      uint64 `msg:"slab"`
	Dirty     uint64 `msg:"dirty"`
	Writeback uint64 `msg:"writeback"`
	SwapTotal uint64 `msg:"swaptotal"`
	SwapFree  uint64 `msg:"swapfree"`
}

// Load is /proc/loadavg with the scheduler counters of /proc/stat.
type Load struct {
	Avg1    float64 `msg:"avg1"`
	Avg5    float64 `msg:"avg5"`
	Avg15   float64 `msg:"avg15"`
	Threads uint32  `msg:"threads"`
	Running uint32  `msg:"running"`
	Blocked uint32  `msg:"blocked"`
	Ctxt    uint64  `msg:"ctxt"`
	Forks   uint64  `msg:"forks"`
}

// PSI is one file of /proc/pressure.
type PSI struct {
	Res     string  `msg:"res"` // "cpu", "memory", "io", "irq"
	Some10  float64 `msg:"some10"`
	Some60  float64 `msg:"some60"`
	Some300 float64 `msg:"some300"`
	Some    uint64  `msg:"some"` // ns
	Full10  float64 `msg:"full10"`
	Full60  float64 `msg:"full60"`
	Full300 float64 `msg:"full300"`
	Full    uint64  `msg:"full"` // ns
}

// Net is one interface of /proc/net/dev.
type Net struct {
	Dev     []byte `msg:"dev,limit=64"`
	RxBytes uint64 `msg:"rxbytes"`
	RxPkts  uint64 `msg:"rxpkts"`
	RxErrs  uint64 `msg:"rxerrs"`
	RxDrop  uint64 `msg:"rxdrop"`
	TxBytes uint64 `msg:"txbytes"`
	TxPkts  uint64 `msg:"txpkts"`
	TxErrs  uint64 `msg:"txerrs"`
	TxDrop  uint64 `msg:"txdrop"`
}

// Disk is one line of /proc/diskstats.
type Disk struct {
	Dev      []byte `msg:"dev,limit=64"`
	RdIOs    uint64 `msg:"rdios"`
	RdMerges uint64 `msg:"rdmerges"`
	RdBytes  uint64 `msg:"rdbytes"`
	RdTime   uint64 `msg:"rdtime"` // ns
	WrIOs    uint64 `msg:"wrios"`
	WrMerges uint64 `msg:"wrmerges"`
	WrBytes  uint64 `msg:"wrbytes"`
	WrTime   uint64 `msg:"wrtime"` // ns
	InFlight uint64 `msg:"inflight"`
	IOTime   uint64 `msg:"iotime"` // ns
	WTime    uint64 `msg:"wtime"`  // ns
}

// VM holds the essentials of /proc/vmstat.
type VM struct {
	PgFault    uint64 `msg:"pgfault"`
	PgMajFault uint64 `msg:"pgmajfault"`
	PgPgIn     uint64 `msg:"pgpgin"`
	PgPgOut    uint64 `msg:"pgpgout"`
	PSwpIn     uint64 `msg:"pswpin"`
	PSwpOut    uint64 `msg:"pswpout"`
	PgScan     uint64 `msg:"pgscan"`  // sum of pgscan_*
	PgSteal    uint64 `msg:"pgsteal"` // sum of pgsteal_*
	OOMKill    uint64 `msg:"oomkill"`
}

// ProcSample is one process, from /proc/PID/stat, statm, status and io,
// and for the main process of a handle with a cgroup, from the cgroup.
type ProcSample struct {
	Handle  uint64 `msg:"h"` // the started process it belongs to; 0 for a pid from PIDs
	PID     uint32 `msg:"pid"`
	PPID    uint32 `msg:"ppid"`
	Start   uint64 `msg:"start"`   // ns after boot (starttime); with PID, names the process
	State   string `msg:"state"`   // "R", "S", "D", ...
	CPU     uint32 `msg:"cpu"`     // CPU it last ran on
	Threads uint32 `msg:"threads"` // count
	UserNs  uint64 `msg:"utime"`
	SysNs   uint64 `msg:"stime"`
	MinFlt  uint64 `msg:"minflt"`
	MajFlt  uint64 `msg:"majflt"`
	NVCSw   uint64 `msg:"nvcsw"`  // voluntary context switches
	NIVCSw  uint64 `msg:"nivcsw"` // involuntary context switches
	VSize   uint64 `msg:"vsize"`  // bytes
	RSS     uint64 `msg:"rss"`    // bytes
	Shared  uint64 `msg:"shared"` // bytes of RSS backed by files or shmem (statm shared)
	RChar   uint64 `msg:"rchar"`
	WChar   uint64 `msg:"wchar"`
	RdBytes uint64 `msg:"rdbytes"`
	WrBytes uint64 `msg:"wrbytes"`
	CgCPU   uint64 `msg:"cgcpu"` // ns, the whole tree's cgroup CPU; 0 without
	CgMem   uint64 `msg:"cgmem"` // bytes, the whole tree's memory.current; 0 without
}
