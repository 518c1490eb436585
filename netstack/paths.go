// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"os"
	"path/filepath"
	"strconv"
)

// DefaultKeyPath returns where the key file is looked for: /etc/tacet/key
// for root, otherwise tacet/key under $XDG_CONFIG_HOME or ~/.config. It
// returns "" when neither variable nor a home directory is known.
func DefaultKeyPath() string {
	if os.Geteuid() == 0 {
		return "/etc/tacet/key"
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "tacet", "key")
}

// DefaultSocketPath returns the daemon's Unix socket:
// $XDG_RUNTIME_DIR/tacet/tacetd.sock, or without XDG_RUNTIME_DIR
// /run/tacet/tacetd.sock for root and /tmp/tacet-$UID/tacetd.sock for
// other users.
func DefaultSocketPath() string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, "tacet", "tacetd.sock")
	}
	uid := os.Geteuid()
	if uid == 0 {
		return "/run/tacet/tacetd.sock"
	}
	return "/tmp/tacet-" + strconv.Itoa(uid) + "/tacetd.sock"
}
