// SPDX-License-Identifier: Apache-2.0

package core

import (
	"os"

	"gitlab.com/tacet/tacet/codec"
)

// Welcome returns the daemon's part of a WELCOME: who it is and its
// clocks. The handshake fills in the rest.
func (e *Engine) Welcome() codec.Welcome {
	host, _ := os.Hostname()
	t := now()
	return codec.Welcome{
		Instance: e.cfg.Instance, BootID: readTrim("/proc/sys/kernel/random/boot_id"),
		Daemon: e.cfg.Version, Host: host, Real: t.real, Mono: t.mono,
	}
}
