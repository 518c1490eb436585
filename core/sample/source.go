// SPDX-License-Identifier: Apache-2.0

package sample

import (
	"fmt"

	"gitlab.com/tacet/tacet/codec"
)

// Sources is a set of sample sources.
type Sources uint16

// The sources of spec/PROTOCOL.md section 11.15.
const (
	CPU Sources = 1 << iota
	Mem
	Load
	PSI
	Net
	Disk
	VM
	Proc

	// Host is every machine-wide source.
	Host = CPU | Mem | Load | PSI | Net | Disk | VM
	// All is every source.
	All = Host | Proc
)

var sourceNames = [...]string{codec.SourceCPU, codec.SourceMem, codec.SourceLoad, codec.SourcePSI,
	codec.SourceNet, codec.SourceDisk, codec.SourceVM, codec.SourceProc}

// ParseSources returns the set named by names; no names means All.
func ParseSources(names []string) (Sources, error) {
	if len(names) == 0 {
		return All, nil
	}
	var s Sources
	for _, n := range names {
		i := 0
		for i < len(sourceNames) && sourceNames[i] != n {
			i++
		}
		if i == len(sourceNames) {
			return 0, fmt.Errorf("unknown sample source %q", n)
		}
		s |= 1 << i
	}
	return s, nil
}

// Names appends the names of the sources in s to dst, in table order.
func (s Sources) Names(dst []string) []string {
	for i, n := range sourceNames {
		if s&(1<<i) != 0 {
			dst = append(dst, n)
		}
	}
	return dst
}
