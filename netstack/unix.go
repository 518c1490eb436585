// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// listenUnix listens on a Unix socket. For a path, the parent directory
// is created with mode 0700 if missing, and an existing one must belong
// to this user and be closed to others. A socket file left by a daemon
// that died is removed, but only after a connect to it was refused, so
// that a running daemon is never displaced. The socket gets mode 0600.
// An abstract socket ("@name") has no file; SO_PEERCRED guards it.
func listenUnix(path string) (net.Listener, error) {
	if path[0] == '@' {
		ln, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("netstack: listen unix %s: %w", path, err)
		}
		return ln, nil
	}

	if err := checkSocketDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("netstack: listen unix %s: %w", path, err)
	}
	if err := removeStale(path); err != nil {
		return nil, fmt.Errorf("netstack: listen unix %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("netstack: listen unix %s: %w", path, err)
	}

	// The socket was created under the process umask; the 0700 directory
	// keeps other users away from it until this chmod.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("netstack: listen unix %s: %w", path, err)
	}
	return ln, nil
}

// checkSocketDir creates dir with mode 0700, or checks that an existing
// dir belongs to the effective user and grants nothing to others: in a
// shared place such as /tmp, another user could have made it first.
func checkSocketDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if perm := st.Mode().Perm(); perm&0o007 != 0 {
		return fmt.Errorf("socket directory %s has mode %#o, open to other users; run chmod 700 %s",
			dir, perm, dir)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("socket directory %s belongs to uid %d, not to uid %d", dir, sys.Uid, os.Geteuid())
	}
	return nil
}

// removeStale removes a socket file at path that nothing listens on.
func removeStale(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket", path)
	}

	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("another process is listening on %s", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("probe %s: %w", path, err)
	}
	return os.Remove(path)
}
