// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// makeTree writes n files under root in nested directories: most small,
// a few over the one-request size, an empty one, executables, and modes
// and modification times that vary, so that a copy that lost any of them
// shows.
func makeTree(t *testing.T, root string, n int) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 11))
	modes := []os.FileMode{0o644, 0o600, 0o755, 0o444, 0o640, 0o700, 0o4755}
	dirModes := []os.FileMode{0o755, 0o700, 0o750, 0o1777}
	var dirs []string
	for i := range n {
		// 100 files a directory, every tenth directory two levels deeper.
		d := filepath.Join(root, fmt.Sprintf("d%03d", i/100))
		if (i/100)%10 == 3 {
			d = filepath.Join(d, "deeper", "still")
		}
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			dirs = append(dirs, d)
		}
		size := r.IntN(2048)
		switch {
		case i == 0:
			size = 0
		case i%2500 == 1:
			size = 300<<10 + r.IntN(1000) // several chunks
		}
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		p := filepath.Join(d, fmt.Sprintf("f%05d", i))
		mode := modes[i%len(modes)]
		if i == 1 {
			p, mode = filepath.Join(root, "run.sh"), 0o755
			data = []byte("#!/bin/sh\necho ok\n")
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		setTimeMode(t, p, mode, time.Unix(1_600_000_000+int64(r.IntN(1e8)), int64(r.IntN(1e9))))
	}
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	dirs = append(dirs, filepath.Join(root, "empty"), filepath.Join(root, "d003", "deeper"))
	// Directories last, deepest first: writing into one changes its time.
	for i := len(dirs) - 1; i >= 0; i-- {
		setTimeMode(t, dirs[i], fs.ModeDir|dirModes[i%len(dirModes)],
			time.Unix(1_500_000_000+int64(i)*1000, int64(i)))
	}
}

func setTimeMode(t *testing.T, p string, mode os.FileMode, mtime time.Time) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// sameTree compares two trees with diff -r, then every entry's mode and
// modification time, which diff does not look at.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	if out, err := exec.Command("diff", "-r", a, b).CombinedOutput(); err != nil {
		t.Fatalf("diff -r %s %s: %v\n%.2000s", a, b, err, out)
	}
	n := 0
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		sa, err := os.Lstat(p)
		if err != nil {
			return err
		}
		sb, err := os.Lstat(filepath.Join(b, rel))
		if err != nil {
			return err
		}
		if sa.Mode() != sb.Mode() || !sa.ModTime().Equal(sb.ModTime()) {
			n++
			if n <= 10 {
				t.Errorf("%s: mode %v, mtime %v; want %v, %v", rel, sb.Mode(), sb.ModTime(),
					sa.Mode(), sa.ModTime())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		t.Errorf("%d entries differ in mode or time", n)
	}
}

// TestFileTreeRoundTrip puts a tree of many small files to a daemon and
// gets it back: the copy must be identical, modes and times included.
// 10,000 files in every run: with -race on 2 cores the whole test takes
// about 20 s, most of it making and comparing the trees.
func TestFileTreeRoundTrip(t *testing.T) {
	const n = 10000
	src := filepath.Join(t.TempDir(), "tree")
	makeTree(t, src, n)
	d := startDaemon(t)
	c := dialAll(t, []*daemon{d})[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	remote := filepath.Join(t.TempDir(), "dst", "tree")
	start := time.Now()
	r, err := c.Put(ctx, src, remote)
	if err != nil {
		t.Fatal(err)
	}
	putTime := time.Since(start)
	if r.Files != n {
		t.Errorf("put %d files, want %d", r.Files, n)
	}
	sameTree(t, src, remote)

	back := t.TempDir()
	start = time.Now()
	g, err := c.Get(ctx, remote, back)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files: put in %v, got back in %v", n, putTime.Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond))
	if g.Files != n || g.Dirs != r.Dirs {
		t.Errorf("got %d files and %d dirs, want %d and %d", g.Files, g.Dirs, n, r.Dirs)
	}
	sameTree(t, src, filepath.Join(back, "tree"))
}

// TestFileTreeDirTimesWithWindow puts and gets a tree whose one
// directory holds as many small files as travel at a time, so that all
// of them are in flight when the directory's turn comes: the time set on
// it must survive the files written into it.
func TestFileTreeDirTimesWithWindow(t *testing.T) {
	src := filepath.Join(t.TempDir(), "tree")
	for _, dir := range []string{"a"} {
		for i := range 16 {
			p := filepath.Join(src, dir, fmt.Sprintf("f%02d", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte{byte(i)}, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, dir := range []string{"a", ""} { // deepest first
		setTimeMode(t, filepath.Join(src, dir), 0o755, time.Unix(1_500_000_000, 0))
	}
	d := startDaemon(t)
	c := dialAll(t, []*daemon{d})[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 20 {
		remote := filepath.Join(t.TempDir(), "tree")
		if _, err := c.Put(ctx, src, remote); err != nil {
			t.Fatal(err)
		}
		sameTree(t, src, remote)
		back := t.TempDir()
		if _, err := c.Get(ctx, remote, back); err != nil {
			t.Fatal(err)
		}
		sameTree(t, src, filepath.Join(back, "tree"))
		if t.Failed() {
			t.Fatalf("round %d", i)
		}
	}
}
