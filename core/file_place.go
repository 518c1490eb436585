// SPDX-License-Identifier: Apache-2.0

package core

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// fileSys is the file system a put writes to or a get reads from: the
// host's paths as they are (hostFS), or an *os.Root, beneath which every
// name and every symbolic link must stay. The method set is os.Root's.
type fileSys interface {
	OpenFile(name string, flag int, perm os.FileMode) (*os.File, error)
	Mkdir(name string, perm os.FileMode) error
	MkdirAll(name string, perm os.FileMode) error
	Rename(oldname, newname string) error
	Chmod(name string, mode os.FileMode) error
	Chtimes(name string, atime, mtime time.Time) error
	Stat(name string) (os.FileInfo, error)
	Remove(name string) error
	Close() error
}

// hostFS is fileSys on absolute paths, following every symbolic link.
type hostFS struct{}

func (hostFS) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
func (hostFS) Mkdir(name string, perm os.FileMode) error    { return os.Mkdir(name, perm) }
func (hostFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(name, perm) }
func (hostFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (hostFS) Chmod(name string, mode os.FileMode) error    { return os.Chmod(name, mode) }
func (hostFS) Chtimes(name string, a, m time.Time) error    { return os.Chtimes(name, a, m) }
func (hostFS) Stat(name string) (os.FileInfo, error)        { return os.Stat(name) }
func (hostFS) Remove(name string) error                     { return os.Remove(name) }
func (hostFS) Close() error                                 { return nil }

// place is where one file.put or file.get acts: name in sys. The
// request's path is kept for messages and to tell transfers apart.
type place struct {
	sys  fileSys
	name string // absolute in hostFS, relative to the root in an os.Root
	path string // the request's path, cleaned
	root *os.Root
}

// openPlace resolves the path of a file.put or file.get. Without root it
// is the host's path. With root, path must be root or lie beneath it,
// without a ".." element, and every use of it goes through root, which
// refuses a symbolic link leading out (os.Root follows only relative
// links that stay beneath it). mkroot creates root first if it is
// missing; file refuses root itself, before anything is created. The
// caller closes the place.
func openPlace(root, path []byte, mkroot, file bool) (place, *codec.Error) {
	clean, cerr := checkPath(path)
	if cerr != nil || len(root) == 0 {
		return place{sys: hostFS{}, name: clean, path: clean}, cerr
	}
	if root[0] != '/' {
		return place{}, badArgs("root", "root is not absolute")
	}
	for _, el := range strings.Split(string(path), "/") {
		if el == ".." {
			return place{}, badArgs("path", "the path has a .. element, which may leave root")
		}
	}
	r := filepath.Clean(string(root))
	rel, ok := strings.CutPrefix(clean, r)
	switch {
	case !ok || (rel != "" && rel[0] != '/' && r != "/"):
		return place{}, badArgs("path", "the path is not beneath root")
	case rel == "" && file:
		return place{}, badArgs("path", "the path of a file is its root, a directory")
	case rel == "":
		rel = "."
	default:
		rel = strings.TrimPrefix(rel, "/")
	}

	if mkroot {
		if err := os.MkdirAll(r, 0o755); err != nil {
			return place{}, fileError("create "+r, err)
		}
	}
	or, err := os.OpenRoot(r)
	if err != nil {
		return place{}, fileError("open root "+r, err)
	}
	if !file {
		return place{sys: or, name: rel, path: clean, root: or}, nil
	}

	// A file put acts in its directory only, opened here as a root of
	// its own: the path is walked once, not at every step of the
	// transfer. The steps name the part file and the target, which the
	// rename replaces, so the narrower root refuses nothing more.
	defer or.Close()
	dir := filepath.Dir(rel)
	if mkroot {
		if err := or.MkdirAll(dir, 0o755); err != nil {
			return place{}, fileError("create the directory of "+clean, err)
		}
	}
	sub, err := or.OpenRoot(dir)
	if err != nil {
		return place{}, fileError("open the directory of "+clean, err)
	}
	return place{sys: sub, name: filepath.Base(rel), path: clean, root: sub}, nil
}

func (p place) Close() {
	if p.sys != nil {
		p.sys.Close()
	}
}

// walkFS returns the file system and name under which a listing walks
// the place. Listing never follows a symbolic link below the listed
// path, with or without a root.
func (p place) walkFS() (fs.FS, string) {
	if p.root != nil {
		return p.root.FS(), p.name
	}
	if p.name == "/" {
		return os.DirFS("/"), "."
	}
	return os.DirFS("/"), p.name[1:]
}

// errEscapes is the error os.Root returns for a name or a symbolic link
// that leads out of it. The os package does not export it, so it is
// taken, once, from a name that must escape.
var errEscapes = sync.OnceValue(func() error {
	r, err := os.OpenRoot(os.TempDir())
	if err != nil {
		return nil
	}
	defer r.Close()
	_, err = r.Stat("../x")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
})

// isEscape reports whether err says a name led out of an os.Root.
func isEscape(err error) bool {
	esc := errEscapes()
	return esc != nil && errors.Is(err, esc)
}
