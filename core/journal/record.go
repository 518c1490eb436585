// SPDX-License-Identifier: Apache-2.0

package journal

import "gitlab.com/tacet/tacet/codec"

//go:generate go tool msgp -file=record.go -o=record_gen.go -io=false -tests=false

//msgp:limit arrays:131072 maps:1024

// Kinds of record, the K field of Record.
const (
	KindInstance = "inst"    // a daemon instance began writing the journal
	KindStart    = "start"   // a process was started (or is carried over by a rewrite)
	KindState    = "state"   // a staged process passed its gate
	KindExit     = "exit"    // a process ended; Exit is its exit record
	KindFailed   = "failed"  // a staged process failed at release; Fail says how
	KindRelease  = "release" // the process was released: forget it
)

// Record is one entry of the journal. Which fields are set depends on K;
// the others are left out of the encoding.
type Record struct {
	K      string `msg:"k"`
	Handle uint64 `msg:"h,omitempty"`

	// KindInstance.
	Instance []byte `msg:"inst,omitempty"`
	Boot     string `msg:"boot,omitempty"` // /proc/sys/kernel/random/boot_id
	// Cgroups are the cgroup v2 directories (tacet-ID) that the instance
	// removes once they are empty: its own, and those of earlier
	// instances on the state directory that it has not removed yet. The
	// next instance removes what is left of them.
	Cgroups []string `msg:"cgs,omitempty"`

	// KindStart. PStart is field 22 of /proc/PID/stat (clock ticks after
	// boot), which tells the process apart from a later one given the
	// same pid.
	Tag     string   `msg:"tag,omitempty"`
	Argv    [][]byte `msg:"argv,omitempty"`
	PID     uint32   `msg:"pid,omitempty"`
	PStart  uint64   `msg:"pst,omitempty"`
	Pgrp    bool     `msg:"pgrp,omitempty"`    // the process leads its own group
	Cgroup  string   `msg:"cg,omitempty"`      // the cgroup's directory
	Spools  []string `msg:"spool,omitempty"`   // per stream: "" not captured, else the spool path
	MemOnly bool     `msg:"memonly,omitempty"` // captured streams are kept in memory only
	Timeout int64    `msg:"timeout,omitempty"` // ns after exec
	Grace   int64    `msg:"grace,omitempty"`
	Lease   int64    `msg:"lease,omitempty"` // ns the process outlives its starting connection
	Real    uint64   `msg:"real,omitempty"`  // when the start was accepted
	Mono    uint64   `msg:"mono,omitempty"`

	// KindStart and KindState.
	State string      `msg:"state,omitempty"`
	Times codec.Times `msg:"times"`

	Exit *codec.Exit   `msg:"exit,omitempty"`
	Fail *codec.Failed `msg:"fail,omitempty"`
}
