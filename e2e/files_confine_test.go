// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	tc "gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// confineDirs makes base/dst, in which a put or get is confined, and
// base/outside, holding one file, which nothing may touch. dst holds
// links: "abs" and "up" lead to outside (an absolute and a relative
// link), "inner" to dst/sub.
func confineDirs(t *testing.T) (dst, outside string) {
	t.Helper()
	base := t.TempDir()
	dst, outside = filepath.Join(base, "dst"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(dst, "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, to := range map[string]string{"abs": outside, "up": "../outside", "inner": "sub"} {
		if err := os.Symlink(to, filepath.Join(dst, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dst, outside
}

// untouched fails the test if outside holds anything but its secret.
func untouched(t *testing.T, outside string) {
	t.Helper()
	ents, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"secret"}) {
		t.Errorf("outside the destination: %v, want only [secret]", names)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "secret\n" {
		t.Errorf("the file outside was rewritten: %q", b)
	}
}

// wantFileError checks that err is the daemon's error code, with the
// field or errno that says why.
func wantFileError(t *testing.T, err error, code *tc.Error, field string, errno syscall.Errno) {
	t.Helper()
	var te *tc.Error
	switch {
	case !errors.As(err, &te):
		t.Errorf("got %v, want %s", err, code.Name)
	case !errors.Is(err, code):
		t.Errorf("got %v, want %s", err, code.Name)
	case field != "" && te.Field != field:
		t.Errorf("got field %q in %v, want %q", te.Field, err, field)
	case errno != 0 && te.Errno != errno:
		t.Errorf("got errno %d in %v, want %v", te.Errno, err, errno)
	}
}

// TestFilePutConfined sends file.put requests whose path leaves their
// root, lexically or through a link found on the daemon's side: each is
// refused with a structured error and nothing appears outside.
func TestFilePutConfined(t *testing.T) {
	dst, outside := confineDirs(t)
	c := dialAll(t, []*daemon{startDaemon(t)})[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	data := []byte("payload\n")
	put := func(path, root string, dir bool) error {
		a := codec.PutArgs{Path: []byte(path), Root: []byte(root), Size: uint64(len(data)),
			SHA: sha(data), Mode: 0o644, MkDirs: true, Dir: dir, Data: data}
		if dir {
			a.Size, a.SHA, a.Data = 0, nil, nil
		}
		return c.Call(ctx, codec.MethodFilePut, &a, &codec.PutResult{})
	}
	for _, tt := range []struct {
		name, path, root string
		dir              bool
		code             *tc.Error
		field            string
		errno            syscall.Errno
	}{
		{"dot-dot", dst + "/sub/../../outside/x", dst, false, tc.ErrBadArgs, "path", 0},
		{"dot-dot that stays", dst + "/sub/../x", dst, false, tc.ErrBadArgs, "path", 0},
		{"absolute elsewhere", outside + "/x", dst, false, tc.ErrBadArgs, "path", 0},
		{"prefix is not a parent", dst + "x/y", dst, false, tc.ErrBadArgs, "path", 0},
		{"relative root", dst + "/x", "dst", false, tc.ErrBadArgs, "root", 0},
		{"the root as a file", dst, dst, false, tc.ErrBadArgs, "path", 0},
		{"absolute link", dst + "/abs/x", dst, false, tc.ErrPermission, "", syscall.EXDEV},
		{"relative link out", dst + "/up/x", dst, false, tc.ErrPermission, "", syscall.EXDEV},
		{"link out, missing dirs", dst + "/abs/new/deeper/x", dst, false, tc.ErrPermission, "", syscall.EXDEV},
		{"directory through a link", dst + "/up/newdir", dst, true, tc.ErrPermission, "", syscall.EXDEV},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantFileError(t, put(tt.path, tt.root, tt.dir), tt.code, tt.field, tt.errno)
		})
	}

	// A link that stays beneath the root is followed; one at the target's
	// own name is replaced by the file, not written through.
	if err := put(dst+"/inner/ok", dst, false); err != nil {
		t.Errorf("put through a link inside the root: %v", err)
	} else if b, _ := os.ReadFile(filepath.Join(dst, "sub", "ok")); string(b) != string(data) {
		t.Errorf("dst/sub/ok holds %q", b)
	}
	if err := put(dst+"/abs", dst, false); err != nil {
		t.Errorf("put over a link: %v", err)
	} else if st, err := os.Lstat(filepath.Join(dst, "abs")); err != nil || !st.Mode().IsRegular() {
		t.Errorf("dst/abs after a put over it: %v, %v", st, err)
	}
	untouched(t, outside)
}

// TestFilePutTreeConfined puts a tree whose destination already holds a
// link out where one of the tree's directories goes, and a tree that
// holds a link itself: the first put is refused, the link in the second
// is not followed, and nothing appears outside.
func TestFilePutTreeConfined(t *testing.T) {
	dst, outside := confineDirs(t)
	c := dialAll(t, []*daemon{startDaemon(t)})[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "abs"), 0o755)
	os.WriteFile(filepath.Join(src, "abs", "x"), []byte("x"), 0o644)
	_, err := c.Put(ctx, src, dst)
	wantFileError(t, err, tc.ErrPermission, "", syscall.EXDEV)
	untouched(t, outside)

	// The local tree's own link to a file outside it is skipped.
	src2 := t.TempDir()
	os.WriteFile(filepath.Join(src2, "plain"), []byte("plain"), 0o644)
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(src2, "leak"))
	remote := filepath.Join(dst, "sub", "tree2")
	r, err := c.Put(ctx, src2, remote)
	if err != nil {
		t.Fatal(err)
	}
	if r.Files != 1 {
		t.Errorf("put %d files, want 1", r.Files)
	}
	if _, err := os.Lstat(filepath.Join(remote, "leak")); !os.IsNotExist(err) {
		t.Errorf("the local link was carried: %v", err)
	}
	untouched(t, outside)
}

// TestFileGetConfined gets through links that lead out of the root the
// get names, and gets a tree into a local directory holding a link out:
// nothing is read from outside the remote tree, and nothing is written
// outside the local directory.
func TestFileGetConfined(t *testing.T) {
	dst, outside := confineDirs(t)
	os.WriteFile(filepath.Join(dst, "sub", "f"), []byte("in the tree\n"), 0o644)
	c := dialAll(t, []*daemon{startDaemon(t)})[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	get := func(path, root string) error {
		return c.Call(ctx, codec.MethodFileGet, &codec.GetArgs{Path: []byte(path), Root: []byte(root),
			List: true}, &codec.GetResult{})
	}
	for _, tt := range []struct {
		name, path string
		code       *tc.Error
		field      string
		errno      syscall.Errno
	}{
		{"absolute link", dst + "/abs/secret", tc.ErrPermission, "", syscall.EXDEV},
		{"relative link out", dst + "/up/secret", tc.ErrPermission, "", syscall.EXDEV},
		{"dot-dot", dst + "/../outside/secret", tc.ErrBadArgs, "path", 0},
		{"absolute elsewhere", outside + "/secret", tc.ErrBadArgs, "path", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantFileError(t, get(tt.path, dst), tt.code, tt.field, tt.errno)
			a := codec.GetArgs{Path: []byte(tt.path), Root: []byte(dst)}
			var r codec.GetResult
			wantFileError(t, c.Call(ctx, codec.MethodFileGet, &a, &r), tt.code, tt.field, tt.errno)
		})
	}
	if err := get(dst+"/inner/f", dst); err != nil {
		t.Errorf("a get through a link inside the root: %v", err)
	}

	// A tree got whole leaves its links out.
	back := t.TempDir()
	if _, err := c.Get(ctx, dst, back); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"abs", "up", "inner"} {
		if _, err := os.Lstat(filepath.Join(back, "dst", name)); !os.IsNotExist(err) {
			t.Errorf("the remote link %s was carried: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(back, "dst", "sub", "f")); string(b) != "in the tree\n" {
		t.Errorf("sub/f got back as %q", b)
	}

	// A local directory whose subdirectory is a link out is not written
	// through.
	local := t.TempDir()
	os.MkdirAll(filepath.Join(local, "dst"), 0o755)
	os.Symlink(outside, filepath.Join(local, "dst", "sub"))
	_, err := c.Get(ctx, dst, local)
	if err == nil {
		t.Error("a get wrote through a local link that leads out")
	}
	untouched(t, outside)
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
