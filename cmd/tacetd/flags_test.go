// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The config file sets what the command line leaves alone, and the
// command line wins, --listen included.
func TestConfigFileAndFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tacetd.conf")
	os.WriteFile(file, []byte("# a comment\nnice = 5\nlisten = tcp://127.0.0.1:1\nstate-dir = /from/file\non-exit = leave\n"), 0o600)

	c, err := parseFlags([]string{"--config", file, "--state-dir", "/from/flag"})
	if err != nil {
		t.Fatal(err)
	}
	if c.nice != 5 || c.stateDir != "/from/flag" || c.onExit != "leave" {
		t.Fatalf("nice %d state-dir %q on-exit %q", c.nice, c.stateDir, c.onExit)
	}
	if !reflect.DeepEqual(c.listen, []string{"tcp://127.0.0.1:1"}) {
		t.Fatalf("listen %q", c.listen)
	}

	c, err = parseFlags([]string{"--config", file, "--listen", "unix:///x"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.listen, []string{"unix:///x"}) {
		t.Fatalf("listen %q: the command line's --listen must replace the file's", c.listen)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("no-such-setting = 1\n"), 0o600)
	for name, args := range map[string][]string{
		"unknown setting": {"--config", bad},
		"missing file":    {"--config", filepath.Join(dir, "absent")},
		"bad on-exit":     {"--on-exit", "explode"},
		"stray argument":  {"extra"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestDefaultListeners(t *testing.T) {
	c, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.listen) != 2 || c.listen[0] != "tcp://127.0.0.1:7340" {
		t.Fatalf("default listeners %q", c.listen)
	}
}

func TestParseCPUList(t *testing.T) {
	got, err := parseCPUList("0-2,5")
	if err != nil || !reflect.DeepEqual(got, []int{0, 1, 2, 5}) {
		t.Fatalf("0-2,5: %v %v", got, err)
	}
	for _, bad := range []string{"", "a", "3-1", "-1"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// The example configuration shipped beside the systemd unit is read
// without error and means what its comments say.
func TestPackagedConfig(t *testing.T) {
	c, err := parseFlags([]string{"--config", "../../packaging/systemd/tacetd.conf"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tcp://0.0.0.0:7340", "unix:///run/tacet/tacetd.sock"}
	if !reflect.DeepEqual(c.listen, want) || c.keyFile != "/etc/tacet/key" ||
		c.stateDir != "/var/lib/tacet" || c.onExit != "kill" || c.retention.Hours() != 24 {
		t.Errorf("packaged config: listen %q key %q state %q on-exit %q retention %v",
			c.listen, c.keyFile, c.stateDir, c.onExit, c.retention)
	}
}

// TestPlaceEveryThread pins the test process to one CPU with place and
// checks that every thread of it, not only the calling one, is pinned,
// then restores the CPUs it had.
func TestPlaceEveryThread(t *testing.T) {
	var orig unix.CPUSet
	if err := unix.SchedGetaffinity(0, &orig); err != nil {
		t.Fatal(err)
	}
	first, all := -1, []string{}
	for c := 0; c < 1024; c++ {
		if orig.IsSet(c) {
			if first < 0 {
				first = c
			}
			all = append(all, strconv.Itoa(c))
		}
	}
	t.Cleanup(func() {
		if err := place(strings.Join(all, ","), 0, false); err != nil {
			t.Errorf("restore affinity: %v", err)
		}
	})
	if err := place(strconv.Itoa(first), 0, false); err != nil {
		t.Fatal(err)
	}
	tids, err := threads()
	if err != nil {
		t.Fatal(err)
	}
	if len(tids) < 2 {
		t.Fatalf("%d threads: the test needs the runtime's others", len(tids))
	}
	for _, tid := range tids {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &set); err != nil {
			continue // ended meanwhile
		}
		if set.Count() != 1 || !set.IsSet(first) {
			t.Errorf("thread %d: %d CPUs allowed, want only %d", tid, set.Count(), first)
		}
	}
}
