// SPDX-License-Identifier: Apache-2.0

package netns

import (
	"os"
	"testing"
)

// Addresses of a Pair, in 198.18.0.0/15, which is reserved for
// benchmarking and never routed: A is 198.18.0.1/30 and B 198.18.0.2/30.
const (
	AddrA = "198.18.0.1"
	AddrB = "198.18.0.2"
)

// Pair makes namespaces prefix+"-"+tag+"a" and ...+"b", each with a TUN
// device of the same name, addressed AddrA and AddrB on one /30, and a
// Link between the devices. Cleanup closes the link and deletes both.
func Pair(t testing.TB, prefix, tag string, cfg LinkConfig) (a, b *NS, l *Link) {
	t.Helper()
	base := prefix + "-" + tag
	a, b = New(t, base+"a"), New(t, base+"b")
	fa := a.tun(t, AddrA)
	fb := b.tun(t, AddrB)
	l = NewLink(fa, fb, cfg)
	t.Cleanup(func() { l.Close() })
	return a, b, l
}

// tun opens a TUN device named like the namespace and gives it addr/30.
func (ns *NS) tun(t testing.TB, addr string) *os.File {
	t.Helper()
	f, err := ns.OpenTUN(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"addr", "add", addr + "/30", "dev", ns.Name},
		{"link", "set", ns.Name, "up"},
	} {
		if err := ns.IP(args...); err != nil {
			f.Close()
			t.Fatal(err)
		}
	}
	return f
}
