// SPDX-License-Identifier: Apache-2.0

package netns

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Bridge is a switch for hosts made with AddHost: a namespace of its own
// that holds a Linux bridge, with one veth pair per host, the host's end
// inside the host's namespace as eth0 and the other end a port of the
// bridge. Nothing is made in the namespace of the test process, so
// tests of different prefixes may use the same addresses.
//
// Cut and Restore make a host's link silent and back, with an nftables
// rule in the switch namespace: a cut link drops every frame to and from
// the host and sends no FIN, RST or ICMP error, and the host's own
// interface stays up, as when a switch further away fails.
type Bridge struct {
	t        testing.TB
	sw       *NS
	tag      string // starts the names of the namespaces, after the prefix
	attached int    // namespaces plugged in by Attach, which names their ports
}

// Host is one namespace on a Bridge, with its address.
type Host struct {
	*NS
	Addr string // the address without its prefix length, such as "198.18.1.1"
	port string // the bridge's end of the host's veth pair
	br   *Bridge
}

// cutTable is the nftables table in the switch namespace that holds the
// set of cut ports.
const cutTable = "tacetcut"

// NewBridge makes the switch namespace prefix+"-"+tag+"sw", with a bridge
// br0 and an nftables table whose set of ports drops their frames. It
// skips t as Require does. Cleanup deletes the namespace, and with it
// the bridge and the ports; hosts delete their own namespaces.
func NewBridge(t testing.TB, tag string) *Bridge {
	t.Helper()
	prefix := Require(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipping: no nft command (install nftables)")
	}
	b := &Bridge{t: t, tag: prefix + "-" + tag}
	b.sw = New(t, b.tag+"sw")
	for _, args := range [][]string{
		{"link", "add", "br0", "type", "bridge"},
		{"link", "set", "br0", "up"},
	} {
		if err := b.sw.IP(args...); err != nil {
			t.Fatal(err)
		}
	}
	ruleset := fmt.Sprintf(`table bridge %[1]s {
	set cut { type ifname; }
	chain forward {
		type filter hook forward priority 0; policy accept;
		iifname @cut drop
		oifname @cut drop
	}
}
`, cutTable)
	if err := b.sw.NFT(ruleset); err != nil {
		t.Fatal(err)
	}
	return b
}

// AddHost makes the namespace prefix+"-"+tag+name with eth0 addressed
// cidr (such as "198.18.1.1/24", in 198.18.0.0/15) and plugged into the
// bridge. The whole namespace name must fit Linux's 15 characters.
func (b *Bridge) AddHost(name, cidr string) *Host {
	b.t.Helper()
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil || !netip.MustParsePrefix("198.18.0.0/15").Contains(pfx.Addr()) {
		b.t.Fatalf("netns: host %s: address %q is not a prefix in 198.18.0.0/15", name, cidr)
	}
	ns := New(b.t, b.tag+name)
	h := &Host{NS: ns, Addr: pfx.Addr().String(), port: "p-" + name, br: b}
	if len(h.port) > 15 {
		b.t.Fatalf("netns: host name %q is too long for a port name", name)
	}
	b.plug(h, "eth0", cidr)
	return h
}

// Attach plugs a namespace that is already a host, of this bridge or
// another, into the bridge as well, with its end of the new veth pair
// named dev (not eth0, which AddHost used) and addressed cidr. A gateway
// between two bridges is a host of one attached to the other; it routes
// between them once NS.Forward is called.
func (b *Bridge) Attach(ns *NS, dev, cidr string) *Host {
	b.t.Helper()
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil || !netip.MustParsePrefix("198.18.0.0/15").Contains(pfx.Addr()) {
		b.t.Fatalf("netns: %s: address %q is not a prefix in 198.18.0.0/15", ns.Name, cidr)
	}
	b.attached++
	h := &Host{NS: ns, Addr: pfx.Addr().String(), port: fmt.Sprintf("a-%d", b.attached), br: b}
	b.plug(h, dev, cidr)
	return h
}

// plug makes the veth pair of h, its end dev in h's namespace with cidr.
func (b *Bridge) plug(h *Host, dev, cidr string) {
	b.t.Helper()
	ns := h.NS
	// The pair is made inside the switch namespace with its peer put
	// straight into the host's, so no link name ever exists in the
	// namespace of the test process.
	steps := []struct {
		ns   *NS
		args []string
	}{
		{b.sw, []string{"link", "add", h.port, "type", "veth", "peer", "name", dev, "netns", ns.Name}},
		{b.sw, []string{"link", "set", h.port, "master", "br0", "up"}},
		{ns, []string{"addr", "add", cidr, "dev", dev}},
		{ns, []string{"link", "set", dev, "up"}},
	}
	for _, s := range steps {
		if err := s.ns.IP(s.args...); err != nil {
			b.t.Fatal(err)
		}
	}
}

// Cut makes h's link silent: from now on the bridge drops every frame to
// or from h, and neither side hears of it.
func (h *Host) Cut() error {
	return h.br.sw.NFT(fmt.Sprintf("add element bridge %s cut { %q }\n", cutTable, h.port))
}

// Restore undoes Cut.
func (h *Host) Restore() error {
	return h.br.sw.NFT(fmt.Sprintf("delete element bridge %s cut { %q }\n", cutTable, h.port))
}

// Forward makes the namespace route packets between its interfaces, as
// a gateway between two bridges must.
func (ns *NS) Forward() error {
	return ns.Do(func() error {
		// /proc/sys/net shows the namespace of the thread that opens it.
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0)
	})
}

// NFT runs the nftables script in the namespace, given on nft's stdin.
func (ns *NS) NFT(script string) error {
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft in %s: %v: %s", ns.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
