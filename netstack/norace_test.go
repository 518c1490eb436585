// SPDX-License-Identifier: Apache-2.0

//go:build !race

package netstack

const raceEnabled = false
