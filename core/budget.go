// SPDX-License-Identifier: Apache-2.0

package core

import "sync/atomic"

// budget is a daemon-wide allowance of bytes, shared by all streams: one
// for the memory of output rings, one for the disk of spool files. A
// stream that cannot take from its budget keeps what it has and loses its
// oldest bytes instead, recording a gap.
type budget struct {
	limit int64
	used  atomic.Int64
}

// take reserves n bytes and reports whether they were available.
func (b *budget) take(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// give returns n bytes to the budget.
func (b *budget) give(n int64) { b.used.Add(-n) }
