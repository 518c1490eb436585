// SPDX-License-Identifier: Apache-2.0

// Package netstack turns an address such as "host", "tcp://host:7340",
// "unix:///run/tacet/tacetd.sock", "kcp://host:7340" or "tls://host:7340"
// into a listener or a dialer, and runs the authenticated handshake of
// protocol v1 that every transport shares (spec/PROTOCOL.md,
// "Handshake"). What it hands back is a Conn: frames in, frames out, a
// known peer.
//
// Both sides prove that they hold the same pre-shared key (see Key) with
// HMAC-SHA256 proofs over the whole HELLO and WELCOME exchange, so that a
// recorded handshake cannot be replayed, a proof cannot be reflected and
// a relay that rewrites the offer is caught. On a Unix socket a daemon
// without a key accepts only peers of its own uid or root; on every other
// transport a key is required. The optional frame.mac capability
// authenticates every frame after the handshake on plain TCP; KCP packets
// are always sealed with AES-GCM under a key derived from the same
// pre-shared key. On tls:// the stream runs in TLS 1.3 (see TLSConfig):
// the controller checks the daemon's certificate against a CA file or a
// pinned key, the daemon may require client certificates, and the HMAC
// handshake runs inside TLS all the same, so frame.mac is not granted.
//
// Liveness costs no timer of ours. TCP connections carry kernel
// keepalive (15 s idle, 3 probes 5 s apart) and a 20 s TCP_USER_TIMEOUT.
// KCP has neither, so the caller pings on its own keepalive tick and
// calls Conn.Tick there: Tick reports how long nothing arrived, and moves
// an idle KCP session from a 20 ms to a 1 s update interval.
//
// A daemon guards its accept loop with a Gate, which bounds handshakes
// in progress, and reports failed handshakes through a FailureLog, which
// folds repeats into one line per reason every 10 s.
//
// The package does not decode messages after the handshake, does not log
// and leaves no goroutine running once its connections and listeners are
// closed. It is written for Linux (SO_PEERCRED, TCP_USER_TIMEOUT).
//
// The one thing a caller must know: a Conn has one reading and one
// writing goroutine at most, and a payload returned by ReadFrame is valid
// only until the next ReadFrame.
package netstack

// BUG(tls): a tls:// listener reads its certificate, key and client CA
// files once, in Listen, so a renewed certificate takes effect only when
// the daemon restarts; a GetCertificate that rereads changed files would
// fix it.
