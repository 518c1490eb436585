// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"io"
	"sync"

	"gitlab.com/tacet/tacet/codec"
)

// jsonLines writes one JSON object per line; goroutines may share it.
type jsonLines struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newJSONLines(w io.Writer) *jsonLines { return &jsonLines{enc: json.NewEncoder(w)} }

func (j *jsonLines) write(v any) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.enc.Encode(v)
}

// exitRecord is the JSON form of an exit, with snake-case keys.
type exitRecord struct {
	Host      string   `json:"host"`
	Event     string   `json:"event"`
	ID        string   `json:"id"`
	PID       uint32   `json:"pid"`
	Status    int      `json:"status"` // what tacet exits with
	Code      uint8    `json:"code"`
	Signal    string   `json:"signal,omitempty"`
	Core      bool     `json:"core,omitempty"`
	Why       string   `json:"why,omitempty"`
	Unknown   bool     `json:"unknown,omitempty"`
	Lengths   []uint64 `json:"lengths"`
	UserNs    uint64   `json:"utime_ns"`
	SysNs     uint64   `json:"stime_ns"`
	MaxRSS    uint64   `json:"maxrss_kib"`
	StartReal uint64   `json:"start_real_ns"`
	StartMono uint64   `json:"start_mono_ns"`
	ExecReal  uint64   `json:"exec_real_ns,omitempty"`
	ExecMono  uint64   `json:"exec_mono_ns,omitempty"`
	EndReal   uint64   `json:"end_real_ns"`
	EndMono   uint64   `json:"end_mono_ns"`
	// Usage accounted to the process's cgroup, its whole tree included.
	CgroupValid  bool   `json:"cgroup,omitempty"`
	CgroupUserNs uint64 `json:"cgroup_utime_ns,omitempty"`
	CgroupSysNs  uint64 `json:"cgroup_stime_ns,omitempty"`
}

func newExitRecord(host string, ex *codec.Exit) exitRecord {
	r := exitRecord{
		Host: hostName(host), Event: "exit", ID: formatID(ex.Handle), PID: ex.PID,
		Status: exitStatus(ex), Code: ex.Code, Core: ex.Core, Why: ex.Why, Unknown: ex.Unknown,
		Lengths: ex.Lengths, UserNs: ex.Usage.UserNs, SysNs: ex.Usage.SysNs, MaxRSS: ex.Usage.MaxRSS,
		StartReal: ex.Times.StartReal, ExecReal: ex.Times.ExecReal, EndReal: ex.Times.EndReal,
		StartMono: ex.Times.StartMono, ExecMono: ex.Times.ExecMono, EndMono: ex.Times.EndMono,
		CgroupValid: ex.Cgroup.Valid, CgroupUserNs: ex.Cgroup.UserNs, CgroupSysNs: ex.Cgroup.SysNs,
	}
	if ex.Signal != 0 {
		r.Signal = signalName(ex.Signal)
	}
	return r
}
