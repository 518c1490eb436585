// SPDX-License-Identifier: Apache-2.0

package codec

//go:generate go tool msgp -file=proc.go -o=proc_gen.go -io=false -tests=false

// Arguments and results of the proc.* methods. See spec/PROTOCOL.md for
// the meaning of every field; comments here give units and clocks.

//msgp:limit arrays:131072 maps:1024
//msgp:noduplicates

// StartArgs are the arguments of proc.start.
type StartArgs struct {
	Argv    [][]byte   `msg:"argv"` // argv[0] is looked up in PATH if it has no '/'
	Env     EnvSpec    `msg:"env"`
	Cwd     []byte     `msg:"cwd"` // empty: the daemon's working directory
	Stdin   StdinSpec  `msg:"stdin"`
	Output  OutSpec    `msg:"out"`
	User    string     `msg:"user"`  // name or number; daemon must be root
	Group   string     `msg:"group"` // name or number; daemon must be root
	Rlimits []Rlimit   `msg:"rlim,limit=64"`
	CPUs    []uint16   `msg:"cpus,limit=8192"` // affinity; empty: inherit the daemon's
	Nice    Int        `msg:"nice"`            // applied when HasNice
	HasNice bool       `msg:"hasnice"`
	Pgroup  string     `msg:"pg"` // "" or "pgrp": own process group; "session": setsid; "inherit"
	Cgroup  CgroupSpec `msg:"cg"`
	Timeout uint64     `msg:"timeout"` // ns after exec before SIGTERM; 0: none
	Grace   uint64     `msg:"grace"`   // ns between SIGTERM and SIGKILL; 0: 2 s
	Tag     string     `msg:"tag"`     // idempotency key chosen by the caller
	Stage   bool       `msg:"stage"`   // hold before execve until proc.release or At
	At      uint64     `msg:"at"`      // CLOCK_REALTIME ns to release a staged start; 0: on proc.trigger
	Lease   uint64     `msg:"lease"`   // ns; kill the tree when the starting connection is gone this long; 0: none
	Collect [][]byte   `msg:"collect"` // paths to keep with the records after exit
}

// EnvSpec says how to build the child's environment.
type EnvSpec struct {
	Mode  string   `msg:"mode"`  // "" or "inherit": start from the daemon's; "clear": start empty
	Set   [][]byte `msg:"set"`   // "KEY=VALUE" entries, applied in order
	Unset [][]byte `msg:"unset"` // keys removed after Set
}

// StdinSpec says what the child's standard input is.
type StdinSpec struct {
	Mode string `msg:"mode"` // "" or "none": /dev/null; "pipe": written with proc.stdin; "file"
	Path []byte `msg:"path"` // for "file"
}

// OutSpec says how stdout and stderr are captured and kept.
type OutSpec struct {
	PTY     bool   `msg:"pty"`     // one pseudo-terminal for stdin, stdout and stderr (stream 3)
	Rows    uint16 `msg:"rows"`    // pty window size
	Cols    uint16 `msg:"cols"`    // pty window size
	MemOnly bool   `msg:"memonly"` // keep output in memory only, no spool file
}

// Rlimit sets one resource limit. Infinity is 2^64-1.
type Rlimit struct {
	Name string `msg:"r"` // "nofile", "nproc", "core", "stack", "as", "cpu", "fsize", "memlock", ...
	Soft uint64 `msg:"soft"`
	Hard uint64 `msg:"hard"`
}

// CgroupSpec sets limits on the process's own cgroup, where the
// controllers exist.
type CgroupSpec struct {
	MemMax    uint64 `msg:"memmax"`    // bytes, memory.max; 0: no limit
	CPUQuota  uint64 `msg:"cpuquota"`  // µs per CPUPeriod, cpu.max; 0: no limit
	CPUPeriod uint64 `msg:"cpuperiod"` // µs; 0: 100000
}

// StartResult is the result of proc.start.
type StartResult struct {
	Handle uint64 `msg:"h"`
	PID    uint32 `msg:"pid"`
	New    bool   `msg:"new"` // false when the tag named an existing process
	State  string `msg:"state"`
}

// HandleArgs names one process: proc.status, proc.wait, proc.release.
type HandleArgs struct {
	Handle uint64 `msg:"h"`
}

// TriggerArgs releases staged processes: proc.trigger.
type TriggerArgs struct {
	Handles []uint64 `msg:"h"`
	At      uint64   `msg:"at"` // CLOCK_REALTIME ns; 0: now
}

// SignalArgs are the arguments of proc.signal.
type SignalArgs struct {
	Handle uint64 `msg:"h"`
	Signal uint8  `msg:"sig"`
	Tree   bool   `msg:"tree"` // every descendant too, however it detached
	At     uint64 `msg:"at"`   // CLOCK_REALTIME ns; 0: now
}

// SignalResult is the result of proc.signal: when the daemon sent the
// signal, which for a signal at an instant shows how late it was.
type SignalResult struct {
	Real uint64 `msg:"real"` // CLOCK_REALTIME ns
	Mono uint64 `msg:"mono"` // CLOCK_MONOTONIC ns
}

// FreezeArgs are the arguments of proc.freeze.
type FreezeArgs struct {
	Handle uint64 `msg:"h"`
	Thaw   bool   `msg:"thaw"`
}

// StdinArgs are the arguments of proc.stdin.
type StdinArgs struct {
	Handle uint64 `msg:"h"`
	Data   []byte `msg:"d,limit=16777216"`
	EOF    bool   `msg:"eof"` // close the pipe after Data
}

// ResizeArgs change the window size of a process's pseudo-terminal.
type ResizeArgs struct {
	Handle uint64 `msg:"h"`
	Rows   uint16 `msg:"rows"`
	Cols   uint16 `msg:"cols"`
}

// ListResult is the result of proc.list.
type ListResult struct {
	Procs []ProcInfo `msg:"procs,limit=16384"`
}

// ProcInfo describes one process: the result of proc.status.
type ProcInfo struct {
	Handle  uint64   `msg:"h"`
	PID     uint32   `msg:"pid"`
	Tag     string   `msg:"tag"`
	State   string   `msg:"state"` // "staged", "running", "exited", "failed"
	Argv    [][]byte `msg:"argv"`
	Real    uint64   `msg:"real"` // CLOCK_REALTIME ns of the start request
	Mono    uint64   `msg:"mono"` // CLOCK_MONOTONIC ns of the start request
	Lengths []uint64 `msg:"len"`  // bytes captured so far per stream; element i is stream i+1
	Exit    Exit     `msg:"exit"` // valid when State is "exited"
	Fail    Failed   `msg:"fail"` // valid when State is "failed"
}
