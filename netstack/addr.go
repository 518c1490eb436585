// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultPort is the daemon's TCP and KCP port.
const DefaultPort = 7340

// Schemes of an Addr.
const (
	SchemeTCP  = "tcp"
	SchemeUnix = "unix"
	SchemeKCP  = "kcp"
	SchemeTLS  = "tls"
)

// Addr is a parsed transport address. Host is "host:port" for the
// network schemes; Path is the socket path for unix, starting with "@"
// for a Linux abstract socket.
type Addr struct {
	Scheme string
	Host   string
	Path   string
}

// String returns the address in the form ParseAddr reads.
func (a Addr) String() string {
	if a.Scheme == SchemeUnix {
		return "unix://" + a.Path
	}
	return a.Scheme + "://" + a.Host
}

// ParseAddr parses "host", "host:port", "[::1]:7340", "tcp://h:p",
// "kcp://h:p", "tls://h:p", "unix:///path" or "unix://@abstract". An
// address without a scheme is tcp; a bare absolute path is unix. A
// missing port is defaultPort, or DefaultPort when defaultPort is 0.
func ParseAddr(s string, defaultPort int) (Addr, error) {
	if defaultPort == 0 {
		defaultPort = DefaultPort
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = SchemeTCP, s
		if strings.HasPrefix(s, "/") {
			scheme = SchemeUnix
		}
	}

	switch scheme {
	case SchemeUnix:
		if rest == "" || (rest[0] != '/' && rest[0] != '@') {
			return Addr{}, fmt.Errorf("netstack: address %q: unix socket path must be absolute or start with @", s)
		}
		return Addr{Scheme: SchemeUnix, Path: rest}, nil
	case SchemeTCP, SchemeKCP, SchemeTLS:
		host, err := hostPort(rest, defaultPort)
		if err != nil {
			return Addr{}, fmt.Errorf("netstack: address %q: %v", s, err)
		}
		return Addr{Scheme: scheme, Host: host}, nil
	}
	return Addr{}, fmt.Errorf("netstack: address %q: unknown scheme %q (want tcp, unix, kcp or tls)", s, scheme)
}

// hostPort returns s as "host:port", adding port when s has none. A bare
// IPv6 address ("::1") is taken as a host without a port. Port 0 is
// accepted, for listening on a port the kernel chooses, and so is an
// empty host (":7340"), for listening on every interface.
func hostPort(s string, port int) (string, error) {
	if s == "" || strings.ContainsAny(s, "/?#@ ") {
		return "", fmt.Errorf("want host or host:port")
	}
	switch {
	case strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "["):
		if net.ParseIP(s) == nil {
			return "", fmt.Errorf("bad IPv6 address")
		}
		return net.JoinHostPort(s, strconv.Itoa(port)), nil
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		return net.JoinHostPort(s[1:len(s)-1], strconv.Itoa(port)), nil
	case !strings.Contains(s, ":"):
		return net.JoinHostPort(s, strconv.Itoa(port)), nil
	}

	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", err
	}
	if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("bad port %q", p)
	}
	return net.JoinHostPort(host, p), nil
}
