// SPDX-License-Identifier: Apache-2.0

package codec

//go:generate go tool msgp -file=events.go -o=events_gen.go -io=false -tests=false

// Event bodies. Every event map starts with "k", the event name, so that a
// reader can dispatch on it; unknown names are ignored by controllers.

//msgp:limit arrays:131072 maps:1024
//msgp:noduplicates

// Event names.
const (
	EventOut    = "out"
	EventGap    = "gap"
	EventEOS    = "eos"
	EventState  = "state"
	EventExit   = "exit"
	EventFailed = "failed"
	EventSample = "sample"
)

// Stream numbers.
const (
	Stdout = 1
	Stderr = 2
	PTY    = 3 // stdout and stderr merged on a pseudo-terminal
)

// Out carries bytes of one stream (event "out"; the envelope id is the
// subscription id).
type Out struct {
	K      string `msg:"k"`
	Handle uint64 `msg:"h"`
	Stream uint8  `msg:"s"`
	Offset uint64 `msg:"o"` // stream offset of Data[0]
	Mono   uint64 `msg:"t"` // CLOCK_MONOTONIC ns when the daemon read the first byte
	Data   []byte `msg:"d,limit=16777216"`
}

// Gap says that bytes [From, To) of a stream are lost (event "gap").
type Gap struct {
	K      string `msg:"k"`
	Handle uint64 `msg:"h"`
	Stream uint8  `msg:"s"`
	From   uint64 `msg:"from"`
	To     uint64 `msg:"to"`
	Why    string `msg:"why"` // "mem-budget", "disk-budget", "disk-error", "retention", "restart"
}

// EOS says that a stream ended at Length bytes and that the subscriber has
// been sent all of them (event "eos").
type EOS struct {
	K      string `msg:"k"`
	Handle uint64 `msg:"h"`
	Stream uint8  `msg:"s"`
	Length uint64 `msg:"len"`
}

// State reports a change of a process's state (event "state").
type State struct {
	K      string `msg:"k"`
	Handle uint64 `msg:"h"`
	PID    uint32 `msg:"pid"`
	State  string `msg:"state"` // "staged", "running", "exited", "failed"
	Real   uint64 `msg:"real"`  // CLOCK_REALTIME ns of the change
	Mono   uint64 `msg:"mono"`  // CLOCK_MONOTONIC ns of the change
}

// Exit reports how a process ended (event "exit", and proc.wait's result).
type Exit struct {
	K       string   `msg:"k"`
	Handle  uint64   `msg:"h"`
	PID     uint32   `msg:"pid"`
	Code    uint8    `msg:"code"`    // exit status when Signal is 0
	Signal  uint8    `msg:"sig"`     // signal that ended it, 0 if it exited
	Core    bool     `msg:"core"`    // a core dump was written
	Unknown bool     `msg:"unknown"` // the daemon restarted and could not wait for it
	Why     string   `msg:"why"`     // "" or "timeout", "tree", "lease", "oom", "shutdown"
	Usage   Rusage   `msg:"ru"`      // wait4's rusage of the process and its reaped children
	Cgroup  CgUsage  `msg:"cgru"`    // the process's cgroup, when it had one
	Times   Times    `msg:"times"`
	Lengths []uint64 `msg:"len"`  // bytes captured per stream at exit; element i is stream i+1
	Open    bool     `msg:"open"` // a descendant still holds an output stream open; eos follows
}

// Rusage is the resource usage from wait4.
type Rusage struct {
	UserNs uint64 `msg:"utime"`  // ns of user CPU
	SysNs  uint64 `msg:"stime"`  // ns of system CPU
	MaxRSS uint64 `msg:"maxrss"` // KiB
	MinFlt uint64 `msg:"minflt"`
	MajFlt uint64 `msg:"majflt"`
	InBlk  uint64 `msg:"inblock"`
	OutBlk uint64 `msg:"oublock"`
	NVCSw  uint64 `msg:"nvcsw"`
	NIVCSw uint64 `msg:"nivcsw"`
}

// CgUsage is the usage read from the process's cgroup before removal.
type CgUsage struct {
	Valid   bool   `msg:"valid"`
	UserNs  uint64 `msg:"utime"`   // cpu.stat user_usec, in ns
	SysNs   uint64 `msg:"stime"`   // cpu.stat system_usec, in ns
	MemPeak uint64 `msg:"mempeak"` // memory.peak bytes, 0 if unknown
	OOMKill uint64 `msg:"oomkill"` // memory.events oom_kill
}

// Times are the instants of a process's life, each in both clocks (ns).
// A zero value means the instant did not happen.
type Times struct {
	StartReal   uint64 `msg:"sreal"` // request accepted, just before fork
	StartMono   uint64 `msg:"smono"`
	ReleaseReal uint64 `msg:"rreal"` // staged start: the release woke up at its instant
	ReleaseMono uint64 `msg:"rmono"`
	ExecReal    uint64 `msg:"xreal"` // just before execve; staged: just after its release
	ExecMono    uint64 `msg:"xmono"`
	EndReal     uint64 `msg:"ereal"` // reaped
	EndMono     uint64 `msg:"emono"`
}

// Failed reports a spawn failure (event "failed").
type Failed struct {
	K      string `msg:"k"`
	Handle uint64 `msg:"h"`
	Step   string `msg:"step"` // "chdir", "setuid", "stdin", "rlimit", "affinity", "execve", ...
	Errno  uint32 `msg:"errno"`
	Sys    string `msg:"sys"` // symbolic errno, e.g. "ENOENT"
	Real   uint64 `msg:"real"`
	Mono   uint64 `msg:"mono"`
}
