// SPDX-License-Identifier: Apache-2.0

// Package core owns the processes of one machine: it starts them, watches
// them, keeps their output and reports how they ended, as protocol v1
// (spec/PROTOCOL.md) describes.
//
// One goroutine, the event loop of an Engine, owns all process state.
// Connections, pipe readers, the central reaper and timers feed it by
// channel. Output does not pass through the loop: each stream keeps its
// bytes in a ring and a spool file, and each connection's writer pulls
// from the streams it subscribes to when it has credit, so a slow
// controller never makes a child wait and never makes the daemon copy
// bytes into an unbounded queue.
//
// The one thing a caller must know: the process that runs an Engine
// becomes a child subreaper and reaps with wait4(-1), so it must not use
// os/exec (or anything that waits for its own children) at the same time.
//
// The package does not know about sockets: Serve takes any connection
// that reads and writes frames, already authenticated.
package core
