// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"context"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/tacet/tacet/codec"
)

func TestUnixSocketFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	path := filepath.Join(dir, "tacetd.sock")
	a := Addr{Scheme: SchemeUnix, Path: path}
	ln, err := Listen(a, ListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	wantMode := func(p string, want fs.FileMode) {
		t.Helper()
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s has mode %#o, want %#o", p, got, want)
		}
	}
	wantMode(dir, 0o700)
	wantMode(path, 0o600)

	// The daemon without a key serves its own uid, which SO_PEERCRED gives.
	s := startServer(t, ln, &ServerConfig{})
	c, err := Dial(context.Background(), "unix://"+path, &ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := s.result(); err != nil {
		t.Fatal(err)
	}
	if sc := <-s.conns; sc.Peer().UID != os.Getuid() || sc.Welcome().Auth != authNone {
		t.Errorf("peer %+v, auth %q", sc.Peer(), sc.Welcome().Auth)
	}
	echo(t, c, 3)

	// A second daemon must not displace the first. Its probe is a
	// connection the first daemon sees fail.
	if ln2, err := Listen(a, ListenConfig{}); err == nil {
		ln2.Close()
		t.Fatal("second listener on a live socket succeeded")
	} else if !strings.Contains(err.Error(), "another process is listening") {
		t.Errorf("second listener: %v", err)
	}
	wantCode(t, s.result(), codec.CodeProtocol, false)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("socket of the first daemon: %v", err)
	}
}

func TestUnixStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "tacetd.sock")
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close() // leaves the file, as a daemon killed with SIGKILL does

	ln, err := Listen(Addr{Scheme: SchemeUnix, Path: path}, ListenConfig{})
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln.Close()
}

func TestUnixRefusesDirectory(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the socket path
		want  string
	}{
		{"world-accessible dir", func(t *testing.T, dir string) string {
			os.Chmod(dir, 0o755)
			return filepath.Join(dir, "tacetd.sock")
		}, "open to other users"},
		{"not a socket", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "tacetd.sock")
			os.WriteFile(p, nil, 0o600)
			return p
		}, "not a socket"},
		{"dir owned by another user", func(t *testing.T, dir string) string {
			if os.Geteuid() != 0 {
				t.Skip("skipping: needs root to give a directory away")
			}
			if err := os.Chown(dir, 12345, 12345); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "tacetd.sock")
		}, "belongs to uid 12345"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := tt.setup(t, dir)
			ln, err := Listen(Addr{Scheme: SchemeUnix, Path: path}, ListenConfig{})
			if err == nil {
				ln.Close()
				t.Fatal("listen succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
}

func TestDefaultPaths(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	if got := DefaultSocketPath(); got != "/run/user/1000/tacet/tacetd.sock" {
		t.Errorf("DefaultSocketPath = %q", got)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	want := "/tmp/tacet-" + itoa(os.Geteuid()) + "/tacetd.sock"
	if os.Geteuid() == 0 {
		want = "/run/tacet/tacetd.sock"
	}
	if got := DefaultSocketPath(); got != want {
		t.Errorf("DefaultSocketPath = %q, want %q", got, want)
	}

	t.Setenv("XDG_CONFIG_HOME", "/home/u/.cfg")
	want = "/home/u/.cfg/tacet/key"
	if os.Geteuid() == 0 {
		want = "/etc/tacet/key"
	}
	if got := DefaultKeyPath(); got != want {
		t.Errorf("DefaultKeyPath = %q, want %q", got, want)
	}
}
