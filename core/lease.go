// SPDX-License-Identifier: Apache-2.0

package core

import (
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// A lease ends a process whose controller is gone (spec 16.8). A closed
// connection is seen at once (sessionEnded), but a network cut that sends
// no FIN and no RST leaves a TCP connection open until keepalive or the
// user timeout gives up, 20 to 30 s later, and a KCP one for 15 s. So
// while a leased process runs, the loop also watches how long its owner
// has been silent: past a third of the lease it sends the owner a PING,
// which a live controller answers, and past the whole lease it ends the
// process. Only a running leased process costs these wake-ups.

// minLeaseCheck bounds how often an owner's silence is looked at, for
// leases too short to mean anything on a network.
const minLeaseCheck = 10 * time.Millisecond

// leaseCheck returns how often p's owner's silence is looked at.
func (p *proc) leaseCheck() time.Duration {
	return max(p.lease/3, minLeaseCheck)
}

// watchLease starts watching the silence of p's owner, if p has a lease.
func (e *Engine) watchLease(p *proc) {
	if p.lease <= 0 || p.owner == nil {
		return
	}
	p.leaseT = time.AfterFunc(p.leaseCheck(), func() { e.post(func() { e.checkLease(p) }) })
	p.timers = append(p.timers, p.leaseT)
}

// checkLease ends p when its owner has been silent for the lease, pings
// the owner when it has been silent for a while, and looks again later.
// Once the owner's connection is closed, the timer sessionEnded armed
// takes over.
func (e *Engine) checkLease(p *proc) {
	s := p.owner
	if s == nil || (p.state != stateRunning && p.state != stateStaged) {
		return
	}
	now := monoNow()
	silent := time.Duration(now - min(now, s.heard.Load()))
	if silent >= p.lease {
		e.terminate(p, "lease")
		return
	}
	period := p.leaseCheck()
	if silent >= period && time.Duration(now-s.pinged) >= period {
		s.pinged = now
		s.ping()
	}
	p.leaseT.Reset(min(period, p.lease-silent))
}

// ping queues a PING to the controller; its PONG, like any frame, tells
// the reader that the controller is still there.
func (s *session) ping() {
	s.mu.Lock()
	s.pingID++
	id := s.pingID
	s.mu.Unlock()
	s.control(func(b []byte) ([]byte, error) {
		p := codec.Ping{T1: realNow()}
		return p.MarshalMsg(codec.AppendEnvelope(b, codec.KindPing, id))
	})
}
