// SPDX-License-Identifier: Apache-2.0

// Package sample reads machine and process counters from /proc without
// allocating: each sampler opens its files once, re-reads them with
// pread at offset 0 into a buffer it owns, and parses them by scanning
// bytes into records it reuses. The records are the wire records of
// package codec (codec.CPU, codec.Mem, ...), so that a sample is encoded
// straight from what was parsed.
//
// The package does not schedule, filter or encode: the caller says which
// sources to read and when (core does this for sample.subscribe).
//
// The one thing a caller must know: a sampler is not safe for concurrent
// use, and the records it fills alias its own storage (names, device
// names), which the next read overwrites. Copy what must outlive it.
//
// Times read in clock ticks are converted at USER_HZ = 100, the value
// every Linux architecture tacet runs on exports to user space whatever
// the kernel's HZ; like procfs we do not ask sysconf, which would need
// cgo for an answer that does not vary.
package sample
