// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xtaci/kcp-go/v5"
)

// The KCP session profile for a control plane on a LAN. kcp-go wakes
// every session once per update interval for as long as it is open, so
// the interval is short only while traffic flows: 20 ms then, 2 s once a
// keepalive tick found the session idle (Conn.Tick). Writes and incoming
// data are flushed at once either way; the interval governs ACK delay
// and retransmission, and ACKs are sent at once too.
//
// Keepalive pings and their pongs are traffic too, and a controller sends
// one every 5 s, so counting every byte would keep a session active for
// good. A session is busy only when more than kcpBusyBytes moved since the
// previous tick, and a write that small does not make an idle session
// active. The cost is that a lost small frame on
// an idle session is retransmitted after about two seconds.
const (
	kcpActiveInterval = 20
	kcpIdleInterval   = 2000
	kcpWindow         = 128
	kcpMTU            = 1400
	kcpBusyBytes      = 512
)

var errKCPKey = errors.New("kcp needs a key: its packets are sealed with one")

func listenKCP(a Addr, cfg ListenConfig) (net.Listener, error) {
	if cfg.Key == nil {
		return nil, fmt.Errorf("netstack: listen %s: %w", a, errKCPKey)
	}
	block, err := kcp.NewAESGCMCrypt(cfg.Key.kcpKey())
	if err != nil {
		return nil, fmt.Errorf("netstack: listen %s: %v", a, err)
	}
	l, err := kcp.ListenWithOptions(a.Host, block, cfg.DataShards, cfg.ParityShards)
	if err != nil {
		return nil, fmt.Errorf("netstack: listen %s: %w", a, err)
	}
	return &kcpListener{l: l}, nil
}

// DialKCP opens a KCP session to a, sealing its packets with a key
// derived from key. KCP has no connection setup: the session exists at
// once, and the handshake is what reaches the daemon first.
func DialKCP(a Addr, key *Key, dataShards, parityShards int) (net.Conn, error) {
	if key == nil {
		return nil, fmt.Errorf("netstack: dial %s: %w", a, errKCPKey)
	}
	block, err := kcp.NewAESGCMCrypt(key.kcpKey())
	if err != nil {
		return nil, fmt.Errorf("netstack: dial %s: %v", a, err)
	}
	s, err := kcp.DialWithOptions(a.Host, block, dataShards, parityShards)
	if err != nil {
		return nil, fmt.Errorf("netstack: dial %s: %w", a, err)
	}
	return newKCPConn(s), nil
}

// kcpListener hands out accepted sessions with our profile applied.
// Forged packets are dropped by the AEAD before a session is made;
// kcp-go bounds the sessions waiting for Accept at 128.
type kcpListener struct {
	l *kcp.Listener
}

func (l *kcpListener) Accept() (net.Conn, error) {
	s, err := l.l.AcceptKCP()
	if err != nil {
		return nil, err
	}
	return newKCPConn(s), nil
}

func (l *kcpListener) Close() error   { return l.l.Close() }
func (l *kcpListener) Addr() net.Addr { return l.l.Addr() }

// kcpConn is a KCP session that switches its update interval with its
// traffic, without a timer of its own: a write makes it active, and a
// tick that finds no traffic since the previous one makes it idle.
type kcpConn struct {
	*kcp.UDPSession
	base     time.Time
	lastRecv atomic.Int64 // time.Since(base) in ns when bytes last arrived
	recvd    atomic.Int64 // bytes read since the previous tick

	// Lock order: mu, then the session's own lock (inside SetNoDelay).
	mu     sync.Mutex
	active bool  // guarded by mu: the short interval is set
	wrote  int64 // guarded by mu: bytes written since the previous tick

	vec [1][]byte // used by the one writing goroutine only
}

func newKCPConn(s *kcp.UDPSession) *kcpConn {
	s.SetNoDelay(1, kcpActiveInterval, 2, 1)
	s.SetACKNoDelay(true)
	s.SetWindowSize(kcpWindow, kcpWindow)
	s.SetMtu(kcpMTU)
	return &kcpConn{UDPSession: s, base: time.Now(), active: true}
}

func (k *kcpConn) Read(b []byte) (int, error) {
	n, err := k.UDPSession.Read(b)
	if n > 0 {
		k.lastRecv.Store(int64(time.Since(k.base)))
		k.recvd.Add(int64(n))
	}
	return n, err
}

func (k *kcpConn) Write(b []byte) (int, error) {
	k.mu.Lock()
	k.wrote += int64(len(b))
	if !k.active && len(b) > kcpBusyBytes {
		k.active = true
		k.SetNoDelay(1, kcpActiveInterval, 2, 1)
	}
	k.mu.Unlock()

	// UDPSession.Write wraps b in a new slice of slices; the writer
	// goroutine's own array spares that allocation on every frame.
	k.vec[0] = b
	n, err := k.UDPSession.WriteBuffers(k.vec[:])
	k.vec[0] = nil
	return n, err
}

// tick returns how long nothing was received, and moves the session to
// the interval its traffic since the previous tick calls for.
func (k *kcpConn) tick() time.Duration {
	now := time.Since(k.base)
	recv := time.Duration(k.lastRecv.Load())
	moved := k.recvd.Swap(0)

	k.mu.Lock()
	moved += k.wrote
	k.wrote = 0
	busy := moved > kcpBusyBytes
	switch {
	case !busy && k.active:
		k.active = false
		k.SetNoDelay(1, kcpIdleInterval, 2, 1)
	case busy && !k.active:
		k.active = true
		k.SetNoDelay(1, kcpActiveInterval, 2, 1)
	}
	k.mu.Unlock()
	return now - recv
}
