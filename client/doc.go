// SPDX-License-Identifier: Apache-2.0

// Package client is what a Go controller imports to drive tacetd, the
// per-machine daemon, over protocol v1 (spec/PROTOCOL.md): start
// processes, signal and wait for them, read their output, ask the host
// for its clocks. It speaks only the wire protocol and never imports the
// daemon's own packages.
//
// A Client is one authenticated connection. Any number of goroutines may
// call its methods at once: every request gets its own id and responses
// are matched to calls as they arrive, in whatever order the daemon sends
// them. One goroutine reads the connection and hands each frame to its
// owner: a response to its call, an out, gap or eos event to its Stream,
// a state, exit or failed event to Events and to the Process it names.
// That goroutine never waits for a slow caller: a Stream holds at most
// its credit window, because the daemon sends no more than the credit it
// was granted, and Events drops its oldest entry when nobody reads it.
//
// The one thing a caller must know: a dropped connection ends every call
// and Stream on it with an error for which errors.Is(err, ErrConnLost)
// holds, and a Client is not reconnected by itself. The processes go on
// in the daemon; Follow and Redialer resume reading their output from
// the last offset on a new connection.
//
// The package does not log and starts no goroutine that outlives Close.
package client
