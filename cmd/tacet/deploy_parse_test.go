// SPDX-License-Identifier: Apache-2.0

package main

import (
	"slices"
	"testing"
)

func TestParseTargets(t *testing.T) {
	tests := []struct {
		name, w string
		want    []deployTarget
		wantErr bool
	}{
		{"alias", "node1", []deployTarget{{"node1", "node1", 7340, "lab@node1"}}, false},
		{"port", "node1:7401", []deployTarget{{"node1:7401", "node1", 7401, "lab@node1"}}, false},
		{"user", "me@n2:9", []deployTarget{{"me@n2:9", "me@n2", 9, "lab@me_n2"}}, false},
		{"ipv6", "[::1]:7401", []deployTarget{{"[::1]:7401", "::1", 7401, "lab@__1"}}, false},
		{"range", "n[1-2]", []deployTarget{{"n1", "n1", 7340, "lab@n1"}, {"n2", "n2", 7340, "lab@n2"}}, false},
		{"bad port", "n1:0", nil, true},
		{"url", "tcp://n1:7340", nil, true},
		{"option", "-oProxyCommand=x", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTargets(tt.w, "lab", 7340)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseTargets(%q) error %v, want error %v", tt.w, err, tt.wantErr)
			}
			if !tt.wantErr && !slices.Equal(got, tt.want) {
				t.Errorf("parseTargets(%q) = %+v, want %+v", tt.w, got, tt.want)
			}
		})
	}
}

func TestSSHOutput(t *testing.T) {
	stderr := "Warning: Permanently added '[127.0.0.1]:22' (ED25519) to the list of known hosts.\r\n" +
		"ssh: connect to host n4 port 22: Connection refused\r\n" +
		"Warning: Permanently added 'x' to the list of known hosts.\n"
	if got, want := lastLine([]byte(stderr)), "ssh: connect to host n4 port 22: Connection refused"; got != want {
		t.Errorf("lastLine = %q, want %q", got, want)
	}
	kv := keyValues([]byte("base=/home/a b/.tacet\nnoise\npid=12\n"))
	if kv["base"] != "/home/a b/.tacet" || kv["pid"] != "12" || len(kv) != 2 {
		t.Errorf("keyValues = %v", kv)
	}
	if got, want := shellQuote("it's"), `'it'\''s'`; got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}

func TestApplyDeployment(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	d := &deployment{Name: "lab", KeyFile: "/k", Hosts: []deployedHost{
		{Target: "n1", Addr: "tcp://10.0.0.1:7340"}, {Target: "n2", Addr: "kcp://10.0.0.2:7340"}}}
	if err := d.save(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		o         options
		cmd       string
		wantHosts []string
		wantKey   string
		wantErr   bool
	}{
		{"hosts and key", options{hosts: []string{""}, deployment: "lab"}, "ps", []string{"tcp://10.0.0.1:7340", "kcp://10.0.0.2:7340"}, "/k", false},
		{"key given", options{hosts: []string{""}, deployment: "lab", keyFile: "/mine"}, "ps", []string{"tcp://10.0.0.1:7340", "kcp://10.0.0.2:7340"}, "/mine", false},
		{"with -w", options{hosts: []string{"n1"}, deployment: "lab"}, "ps", nil, "", true},
		{"unknown", options{hosts: []string{""}, deployment: "nope"}, "ps", nil, "", true},
		{"bad name", options{hosts: []string{""}, deployment: "../x"}, "ps", nil, "", true},
		{"deploy reads the name", options{hosts: []string{""}, deployment: "new"}, "deploy", []string{""}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.applyDeployment(tt.cmd)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !slices.Equal(tt.o.hosts, tt.wantHosts) || tt.o.keyFile != tt.wantKey {
				t.Errorf("hosts %q key %q, want %q %q", tt.o.hosts, tt.o.keyFile, tt.wantHosts, tt.wantKey)
			}
		})
	}
}

// route sends a host through ssh when ssh itself goes through a jump
// host, or when told to, with the daemon on loopback unless --bind
// says otherwise, and refuses KCP that way.
func TestDeployRoute(t *testing.T) {
	direct := sshTarget{host: "10.0.0.1"}
	jumped := sshTarget{host: "10.0.0.1", via: "ProxyJump gw"}
	for _, tc := range []struct {
		name         string
		dp           deployer
		to           sshTarget
		bind, tunnel string
		fails        bool
	}{
		{"auto, direct", deployer{tunnel: "auto", transport: "tcp", bind: "0.0.0.0"}, direct, "0.0.0.0", "", false},
		{"auto, jumped", deployer{tunnel: "auto", transport: "tcp", bind: "0.0.0.0"}, jumped, "127.0.0.1", "127.0.0.1:7340", false},
		{"no, jumped", deployer{tunnel: "no", transport: "tcp", bind: "0.0.0.0"}, jumped, "0.0.0.0", "", false},
		{"yes, direct", deployer{tunnel: "yes", transport: "tcp", bind: "0.0.0.0"}, direct, "127.0.0.1", "127.0.0.1:7340", false},
		{"yes, --bind ::", deployer{tunnel: "yes", transport: "tcp", bind: "::", bindSet: true}, direct, "::", "[::1]:7340", false},
		{"yes, --bind an address", deployer{tunnel: "yes", transport: "tcp", bind: "10.0.0.1", bindSet: true}, direct, "10.0.0.1", "10.0.0.1:7340", false},
		{"auto, jumped, kcp", deployer{tunnel: "auto", transport: "kcp", bind: "0.0.0.0"}, jumped, "", "", true},
		{"auto, direct, kcp", deployer{tunnel: "auto", transport: "kcp", bind: "0.0.0.0"}, direct, "0.0.0.0", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bind, tunnel, err := tc.dp.route(tc.to, 7340)
			if (err != nil) != tc.fails || bind != tc.bind || tunnel != tc.tunnel {
				t.Errorf("route: bind %q, tunnel %q, error %v; want %q, %q, error %v",
					bind, tunnel, err, tc.bind, tc.tunnel, tc.fails)
			}
		})
	}
}
