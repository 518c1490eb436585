// SPDX-License-Identifier: Apache-2.0

// Package e2e holds end-to-end tests of tacetd: each test starts the real
// daemon binary with a fresh key and state directory, connects through
// netstack over loopback TCP or a Unix socket, and speaks protocol v1 with
// a small driver of its own (codec frames only, no client package), so
// that what is checked is what a controller on the wire would see.
//
// The tests need Linux and are meant to run as root on a machine with a
// cgroup v2 hierarchy; tree kills are checked against /proc. They use
// $TACETD_BIN when it is set (make unit sets it to a -race build), else
// they build ./cmd/tacetd with -race once. TACET_SCALE=full makes the
// load tests and the slow-reader waits longer.
//
// The package has no code outside its tests.
package e2e
