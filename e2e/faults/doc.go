// SPDX-License-Identifier: Apache-2.0

// Package faults holds tests of tacetd under faults: a network partition
// in the middle of a run, a controller killed mid-run, a lease across a
// silent cut of the network. Each test builds hosts in network
// namespaces on a bridge (netstack/netns), runs a real tacetd in each
// host, and drives them with the Go client from a controller host, as an
// experiment on a testbed would.
//
// The tests need root and $TACET_NETNS_PREFIX, which `make netns` sets;
// elsewhere they skip and say why. They use $TACETD_BIN, and the `tacet`
// binary beside it, or build both.
//
// The package has no code outside its tests.
package faults
