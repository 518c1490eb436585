// SPDX-License-Identifier: Apache-2.0

package netstack

import "testing"

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in   string
		want Addr
		err  bool
	}{
		{"host", Addr{Scheme: "tcp", Host: "host:7340"}, false},
		{"host:9", Addr{Scheme: "tcp", Host: "host:9"}, false},
		{"10.0.0.1", Addr{Scheme: "tcp", Host: "10.0.0.1:7340"}, false},
		{"[::1]:7341", Addr{Scheme: "tcp", Host: "[::1]:7341"}, false},
		{"[::1]", Addr{Scheme: "tcp", Host: "[::1]:7340"}, false},
		{"::1", Addr{Scheme: "tcp", Host: "[::1]:7340"}, false},
		{"tcp://h:1", Addr{Scheme: "tcp", Host: "h:1"}, false},
		{"tcp://:7340", Addr{Scheme: "tcp", Host: ":7340"}, false},
		{"kcp://h", Addr{Scheme: "kcp", Host: "h:7340"}, false},
		{"tls://h:2", Addr{Scheme: "tls", Host: "h:2"}, false},
		{"unix:///run/tacet/tacetd.sock", Addr{Scheme: "unix", Path: "/run/tacet/tacetd.sock"}, false},
		{"unix://@tacet", Addr{Scheme: "unix", Path: "@tacet"}, false},
		{"/run/x.sock", Addr{Scheme: "unix", Path: "/run/x.sock"}, false},
		{"unix://relative", Addr{}, true},
		{"http://h", Addr{}, true},
		{"h:99999", Addr{}, true},
		{"h:x", Addr{}, true},
		{"", Addr{}, true},
		{"tcp://h/path", Addr{}, true},
		{"fe80::zz", Addr{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAddr(tt.in, 0)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("ParseAddr(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.err)
			}
			if err == nil {
				again, err := ParseAddr(got.String(), 0)
				if err != nil || again != got {
					t.Errorf("String %q does not parse back: %+v, %v", got.String(), again, err)
				}
			}
		})
	}
	if a, _ := ParseAddr("h", 9000); a.Host != "h:9000" {
		t.Errorf("default port not used: %+v", a)
	}
}
