// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"io/fs"
	"testing"
)

func TestFileMode(t *testing.T) {
	for _, c := range []struct {
		m fs.FileMode
		v uint32
	}{
		{0o644, 0o644},
		{0o755 | fs.ModeSetuid, 0o4755},
		{0o2750&0o777 | fs.ModeSetgid, 0o2750},
		{0o777 | fs.ModeSticky, 0o1777},
		{0o700 | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky, 0o7700},
	} {
		if got := FileMode(c.m); got != c.v {
			t.Errorf("FileMode(%v) = %#o, want %#o", c.m, got, c.v)
		}
		if got := GoFileMode(c.v); got != c.m {
			t.Errorf("GoFileMode(%#o) = %v, want %v", c.v, got, c.m)
		}
	}
	if got := FileMode(fs.ModeDir | 0o755); got != 0o755 {
		t.Errorf("a directory's type bits leak into its mode: %#o", got)
	}
}
