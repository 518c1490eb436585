// SPDX-License-Identifier: Apache-2.0

package codec

//go:generate go tool msgp -file=out.go -o=out_gen.go -io=false -tests=false

// Arguments and results of the out.*, host.* and sample.* methods.

//msgp:limit arrays:131072 maps:1024
//msgp:noduplicates

// SubscribeArgs are the arguments of out.subscribe.
type SubscribeArgs struct {
	Handle uint64 `msg:"h"`
	Stream uint8  `msg:"s"`
	From   uint64 `msg:"from"`   // first offset wanted
	Credit uint64 `msg:"credit"` // initial credit in bytes; 0: 1 MiB
}

// SubscribeResult is the result of out.subscribe.
type SubscribeResult struct {
	Sub    uint32 `msg:"sub"`   // subscription id, the envelope id of its events
	Start  uint64 `msg:"start"` // first offset that will be sent (From, or later if lost)
	Length uint64 `msg:"len"`   // bytes captured so far
}

// UnsubscribeArgs are the arguments of out.unsubscribe.
type UnsubscribeArgs struct {
	Sub uint32 `msg:"sub"`
}

// ReadArgs are the arguments of out.read.
type ReadArgs struct {
	Handle uint64 `msg:"h"`
	Stream uint8  `msg:"s"`
	Offset uint64 `msg:"o"`
	Max    uint32 `msg:"max"` // at most this many bytes; capped at 256 KiB
}

// ReadResult is the result of out.read. When bytes at Offset are lost,
// Data is empty and GapTo says where readable bytes resume.
type ReadResult struct {
	Offset uint64 `msg:"o"`
	Data   []byte `msg:"d,limit=16777216"`
	Length uint64 `msg:"len"`   // bytes captured so far
	EOF    bool   `msg:"eof"`   // the stream is closed and Offset+len(Data) == Length
	GapTo  uint64 `msg:"gapto"` // nonzero: bytes [Offset, GapTo) are lost
	Why    string `msg:"why"`   // why they are lost
}

// HostInfo is the result of host.info.
type HostInfo struct {
	Version     string    `msg:"ver"`  // daemon version
	Revision    string    `msg:"rev"`  // VCS revision of the build
	Instance    []byte    `msg:"inst"` // as in WELCOME
	BootID      string    `msg:"boot"`
	Host        string    `msg:"host"`
	Kernel      string    `msg:"kernel"` // uname release
	CPUModel    string    `msg:"cpumodel"`
	CPUs        uint32    `msg:"ncpu"`
	NUMANodes   uint32    `msg:"numa"`
	MemTotal    uint64    `msg:"mem"`            // bytes
	PID         uint32    `msg:"pid"`            // the daemon's
	UID         uint32    `msg:"uid"`            // the daemon's
	Containment string    `msg:"contain"`        // "cgroup2" or "subreaper"
	CgroupVer   uint8     `msg:"cgver"`          // 2, 1 or 0
	CgroupCtl   []string  `msg:"cgctl,limit=32"` // controllers available to process cgroups
	PSI         bool      `msg:"psi"`
	Clock       ClockInfo `msg:"clock"`
	Real        uint64    `msg:"real"`              // CLOCK_REALTIME ns when answered
	Mono        uint64    `msg:"mono"`              // CLOCK_MONOTONIC ns when answered
	Methods     []string  `msg:"methods,limit=256"` // methods this daemon serves
	Exe         []byte    `msg:"exe"`               // the daemon's own binary; empty if unknown
}

// ClockInfo is the state of the kernel clock from adjtimex.
type ClockInfo struct {
	Source string `msg:"src"`    // current_clocksource
	Synced bool   `msg:"synced"` // STA_UNSYNC clear
	EstErr uint64 `msg:"esterr"` // ns
	MaxErr uint64 `msg:"maxerr"` // ns
}
