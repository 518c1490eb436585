// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"time"
)

// ListenConfig holds what a listener needs besides its address.
type ListenConfig struct {
	// Key seals KCP packets; it is required for kcp and unused otherwise.
	// The handshake key is ServerConfig.Key.
	Key *Key

	// DataShards and ParityShards enable KCP forward error correction;
	// zero leaves it off, which suits a LAN.
	DataShards, ParityShards int

	// TLS holds the daemon's certificate for tls://, where it is
	// required; it is unused otherwise.
	TLS *TLSConfig
}

// TCP liveness. Keepalive probes and the user timeout run in the kernel,
// so an idle connection costs the daemon no wake-ups, and a peer that
// vanished is noticed within about 30 s (15 s idle, then 3 probes 5 s
// apart) or 20 s after unacknowledged data was sent.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}

const userTimeout = 20 * time.Second

// Listen listens on a. Connections accepted on tcp and tls have
// TCP_NODELAY, kernel keepalive and TCP_USER_TIMEOUT set; a unix socket
// is made as described at listenUnix; kcp needs cfg.Key and tls cfg.TLS.
// The TLS handshake of an accepted connection runs inside
// ServerHandshake, not in Accept.
func Listen(a Addr, cfg ListenConfig) (net.Listener, error) {
	switch a.Scheme {
	case SchemeTCP:
		return listenTCP(a)
	case SchemeUnix:
		return listenUnix(a.Path)
	case SchemeKCP:
		return listenKCP(a, cfg)
	case SchemeTLS:
		return listenTLS(a, cfg)
	}
	return nil, fmt.Errorf("netstack: listen %s: unknown scheme", a)
}

func listenTCP(a Addr) (net.Listener, error) {
	// Accepted sockets inherit TCP_USER_TIMEOUT from the listening socket
	// (Linux clones the listener's options), so it is set once here.
	// Go sets TCP_NODELAY on every TCP connection itself.
	lc := net.ListenConfig{KeepAliveConfig: keepAlive, Control: controlTCP}
	ln, err := lc.Listen(context.Background(), "tcp", a.Host)
	if err != nil {
		return nil, fmt.Errorf("netstack: listen %s: %w", a, err)
	}
	return ln, nil
}

func controlTCP(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) { serr = setUserTimeout(int(fd), userTimeout) })
	if err == nil {
		err = serr
	}
	return err
}

// DialRaw connects to a without a handshake, with the same socket options
// as Listen. kcp needs a key and tls a TLSConfig: use DialKCP, DialTLS
// or Dial.
func DialRaw(ctx context.Context, a Addr) (net.Conn, error) {
	var d net.Dialer
	var network, address string
	switch a.Scheme {
	case SchemeTCP:
		d.KeepAliveConfig, d.Control = keepAlive, controlTCP
		network, address = "tcp", a.Host
	case SchemeUnix:
		network, address = "unix", a.Path
	case SchemeKCP:
		return nil, fmt.Errorf("netstack: dial %s: kcp needs a key, use DialKCP", a)
	case SchemeTLS:
		return nil, fmt.Errorf("netstack: dial %s: %w, use DialTLS", a, errTLSConfig)
	default:
		return nil, fmt.Errorf("netstack: dial %s: unknown scheme", a)
	}

	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("netstack: dial %s: %w", a, err)
	}
	return nc, nil
}
