// SPDX-License-Identifier: Apache-2.0

package client

import "gitlab.com/tacet/tacet/codec"

// Event is a change in a process that the daemon reported: to the
// connection that started it and to those reading its output. Exactly
// one of State, Exit and Failed is set, as Kind says.
type Event struct {
	Kind   string // codec.EventState, codec.EventExit or codec.EventFailed
	Handle uint64
	State  *codec.State
	Exit   *codec.Exit
	Failed *codec.Failed
}

// Events returns the channel of process events, which is closed when the
// connection ends. It holds the latest 256 events; when the caller does
// not keep up, the oldest are dropped and counted by Dropped, so that a
// caller that never reads costs nothing but that memory.
func (c *Client) Events() <-chan Event { return c.events }

// Dropped returns how many events were dropped because Events was full.
func (c *Client) Dropped() uint64 { return c.dropped.Load() }
