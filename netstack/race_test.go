// SPDX-License-Identifier: Apache-2.0

//go:build race

package netstack

// raceEnabled is set when the race detector runs, which changes
// allocation counts.
const raceEnabled = true
