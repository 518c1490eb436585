// SPDX-License-Identifier: Apache-2.0

package codec

import "io/fs"

// FileMode returns the mode field of PutArgs, GetResult and the file
// entries for m: the permission bits, with setuid, setgid and sticky in
// their octal places (04000, 02000, 01000), where Go keeps them apart.
func FileMode(m fs.FileMode) uint32 {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

// GoFileMode is the inverse of FileMode: the fs.FileMode that os.Chmod
// takes for a mode field.
func GoFileMode(v uint32) fs.FileMode {
	m := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
