// SPDX-License-Identifier: Apache-2.0

// Package netns is a test harness: it makes network namespaces joined by
// a link that the test process itself carries, packet by packet, so that
// a test can drop and delay IP packets the same way for TCP and for KCP
// without tc or netem. Each namespace holds a TUN device; a Link reads
// the packets one namespace sends and writes them into the other after a
// fixed delay, dropping a seeded random share of them.
//
// For several hosts on one network, NewBridge makes a switch namespace
// and AddHost plugs namespaces into it through veth pairs, each with an
// address from 198.18.0.0/15; Host.Cut and Host.Restore make one host's
// link silent (every frame dropped, no FIN, no RST) and bring it back.
// Bridge.Attach plugs a host of one bridge into another, and NS.Forward
// makes it a gateway between them.
//
// Everything needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for setns), and
// tests that use it skip, saying so, without root or without
// $TACET_NETNS_PREFIX, which `make netns` sets (docs/ci.md). Namespaces
// and devices are named with that prefix, leftovers of the same name are
// deleted first, and t.Cleanup deletes what a test made.
//
// The one thing a caller must know: a socket belongs to the namespace it
// was created in, whatever thread uses it later, so a test dials from a
// namespace by creating the socket inside NS.Do, then uses it anywhere.
package netns
