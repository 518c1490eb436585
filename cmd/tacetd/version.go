// SPDX-License-Identifier: Apache-2.0

package main

import "runtime/debug"

// version is the daemon's release; set with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// revision returns the VCS revision the binary was built from, or
// "unknown" when the build did not record one.
func revision() string {
	if r := buildRevision; r != "" {
		return r
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// buildRevision is set with -ldflags "-X main.buildRevision=$(git rev-parse HEAD)",
// for builds where the Go toolchain does not stamp VCS information.
var buildRevision string
