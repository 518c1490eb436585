// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestExpandNodeSet(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"node1", []string{"node1"}},
		{"node-[1-3,7]", []string{"node-1", "node-2", "node-3", "node-7"}},
		{"node[08-11]", []string{"node08", "node09", "node10", "node11"}},
		{"node[1-2]", []string{"node1", "node2"}},
		{"r[1-2]n[1-3]", []string{"r1n1", "r1n2", "r1n3", "r2n1", "r2n2", "r2n3"}},
		{"10.0.0.[1-3]:7340", []string{"10.0.0.1:7340", "10.0.0.2:7340", "10.0.0.3:7340"}},
		{"127.0.0.1:[7340-7341]", []string{"127.0.0.1:7340", "127.0.0.1:7341"}},
		{"[::1]:7340", []string{"[::1]:7340"}},
		{"[::1]:[7340-7341],[fe80::1]", []string{"[::1]:7340", "[::1]:7341", "[fe80::1]"}},
		{"a,b, c ,a", []string{"a", "b", "c"}},
		{"n[1-9/4]", []string{"n1", "n5", "n9"}},
		{"n[3]", []string{"n3"}},
		{"tcp://h[1-2]:7000", []string{"tcp://h1:7000", "tcp://h2:7000"}},
		{"unix:///run/tacet/a.sock", []string{"unix:///run/tacet/a.sock"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expandNodeSet(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("expandNodeSet(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestExpandNodeSetErrors(t *testing.T) {
	tests := []struct {
		in     string
		col    int // 1-based
		reason string
	}{
		{"node[1-3", 5, "'[' without ']'"},
		{"node1-3]", 8, "']' without '['"},
		{"a,,b", 3, "empty host name"},
		{"n[3-1]", 3, "runs backwards"},
		{"n[1,,2]", 5, "empty range"},
		{"n[1-x]", 3, "is not N, N-M or N-M/STEP"},
		{"n[a]", 3, "is not N"},
		{"n[1-5/0]", 3, "step 0"},
		{"n[0-99999999]", 3, "more than"},
		{"n[1-999]m[1-999]", 10, "more than"},
		{"@nope", 1, "unknown group"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := expandNodeSet(tt.in)
			var ne *nodeSetError
			if !errors.As(err, &ne) {
				t.Fatalf("expandNodeSet(%q) error %v, want a nodeSetError", tt.in, err)
			}
			if ne.Pos+1 != tt.col || !strings.Contains(ne.Reason, tt.reason) {
				t.Errorf("error %q at column %d, want %q at column %d", ne.Reason, ne.Pos+1, tt.reason, tt.col)
			}
		})
	}
}

func TestSchedulerGroups(t *testing.T) {
	dir := t.TempDir()
	nodeFile := filepath.Join(dir, "nodes")
	os.WriteFile(nodeFile, []byte("n1\nn1\nn2\n\n# comment\nn2\nn3\n"), 0o644)
	t.Setenv(oarNodeFileEnv, nodeFile)
	t.Setenv(slurmNodeSetEnv, "gpu[01-02],cpu1")

	got, err := expandNodeSet("@oar,@slurm")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"n1", "n2", "n3", "gpu01", "gpu02", "cpu1"}; !slices.Equal(got, want) {
		t.Errorf("@oar,@slurm = %q, want %q", got, want)
	}

	t.Setenv(slurmNodeSetEnv, "")
	if _, err := expandNodeSet("@slurm"); err == nil || !strings.Contains(err.Error(), "not set") {
		t.Errorf("@slurm without the variable: %v", err)
	}
}

func TestSelectHosts(t *testing.T) {
	hostFile := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(hostFile, []byte("h[3-4]\nh1\n"), 0o644)
	tests := []struct {
		w, x, file string
		want       []string
		wantErr    bool
	}{
		{"", "", "", []string{""}, false},
		{"h[1-5]", "h[2,4]", "", []string{"h1", "h3", "h5"}, false},
		{"h[1-2]:7000", "h1", "", []string{"h2:7000"}, false},
		{"h[1-2]", "", hostFile, []string{"h1", "h2", "h3", "h4"}, false},
		{"", "h3", hostFile, []string{"h4", "h1"}, false},
		{"h1", "h1", "", nil, true},
		{"", "h1", "", nil, true},
		{"h[1-2", "", "", nil, true},
		{"h1", "", filepath.Join(t.TempDir(), "absent"), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.w+"-x"+tt.x, func(t *testing.T) {
			got, err := selectHosts(tt.w, tt.x, tt.file)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err != nil && statusFor(err) != exitUsage {
				t.Errorf("error %v is not a usage error", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("hosts %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFoldNodeSet(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"n1", "n2", "n3", "n7"}, "n[1-3,7]"},
		{[]string{"n01", "n02", "n10"}, "n[01-02,10]"},
		{[]string{"n9", "n10", "n11"}, "n[9-11]"},
		{[]string{"127.0.0.1:7001", "127.0.0.1:7002"}, "127.0.0.1:[7001-7002]"},
		{[]string{"a", "n5"}, "a,n5"},
		{[]string{"r1n1", "r1n2", "r2n1"}, "r1n[1-2],r2n1"},
	}
	for _, tt := range tests {
		got := foldNodeSet(tt.in)
		if got != tt.want {
			t.Errorf("foldNodeSet(%q) = %q, want %q", tt.in, got, tt.want)
		}
		back, err := expandNodeSet(got)
		if err != nil || !sameSet(back, tt.in) {
			t.Errorf("expandNodeSet(%q) = %q, %v; want %q back", got, back, err, tt.in)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	s := &sink{stderr: &out}
	w := &prefixWriter{s: s, w: &out, label: "h1"}
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\nthr"))
	if got := out.String(); got != "h1: one\nh1: two\n" {
		t.Errorf("before flush: %q", got)
	}
	w.flush()
	if got := out.String(); got != "h1: one\nh1: two\nh1: thr\n" {
		t.Errorf("after flush: %q", got)
	}
}

func TestWriteGathered(t *testing.T) {
	var out bytes.Buffer
	writeGathered(&out, []string{"n1", "n2", "n3", "n4"},
		[][]byte{[]byte("same\n"), []byte("other"), []byte("same\n"), nil})
	want := "----------\nn[1,3] (2)\n----------\nsame\n" + "------\nn2 (1)\n------\nother\n"
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestExpandVar(t *testing.T) {
	got := expandVar("{host}/{addr}/{index}/{count}/{other}", "node3:7000", 2, 8)
	if want := "node3/node3:7000/2/8/{other}"; got != want {
		t.Errorf("expandVar = %q, want %q", got, want)
	}
}

func TestCommonStatus(t *testing.T) {
	tests := []struct {
		in   []int
		want int
	}{
		{nil, 0},
		{[]int{0, 0}, 0},
		{[]int{3, 3}, 3},
		{[]int{0, 126}, 1},
		{[]int{2, 3}, 1},
	}
	for _, tt := range tests {
		rs := make([]hostResult, len(tt.in))
		for i, s := range tt.in {
			rs[i].status = s
		}
		if got := commonStatus(rs); got != tt.want {
			t.Errorf("commonStatus(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestParseAt(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                          {},
		"+2s":                       now.Add(2 * time.Second),
		"2026-01-02T03:04:06.5Z":    now.Add(1500 * time.Millisecond),
		"2026-01-02T04:04:05+01:00": now,
	} {
		got, err := parseAt(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseAt(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"+-1s", "tomorrow", "+x"} {
		if _, err := parseAt(in, now); statusFor(err) != exitUsage {
			t.Errorf("parseAt(%q): %v, want a usage error", in, err)
		}
	}
}
