// SPDX-License-Identifier: Apache-2.0

package core

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/core/journal"
)

// TestRemoveEmptyCgroups runs the cleanup on a tree of plain directories,
// where rmdir refuses a non-empty directory as the kernel refuses a
// populated cgroup: a file in a directory stands for its processes.
func TestRemoveEmptyCgroups(t *testing.T) {
	root := t.TempDir()
	mk := func(path string, member bool) string {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if member {
			if err := os.WriteFile(filepath.Join(p, "cgroup.procs"), []byte("1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}

	dir := mk("tacet-aa", false)
	empty := mk("tacet-aa/p50000000001", false)
	populated := mk("tacet-aa/p50000000002", true)
	adopted := mk("tacet-aa/p50000000003", false)
	other := mk("tacet-aa/scratch", false)
	if removeEmptyCgroups(dir, map[string]bool{adopted: true}) {
		t.Error("a directory with cgroups left in it was reported gone")
	}
	for _, c := range []struct {
		path string
		want bool
	}{{empty, false}, {populated, true}, {adopted, true}, {other, true}, {dir, true}} {
		if exists(c.path) != c.want {
			t.Errorf("%s: exists %v, want %v", c.path, !c.want, c.want)
		}
	}

	dir = mk("tacet-bb", false)
	mk("tacet-bb/p1", false)
	mk("tacet-bb/pff", false)
	if !removeEmptyCgroups(dir, nil) || exists(dir) {
		t.Error("a directory of empty cgroups is still there")
	}
	if !removeEmptyCgroups(filepath.Join(root, "tacet-cc"), nil) {
		t.Error("a directory that does not exist was reported left")
	}
}

// TestIsInstanceCgroup accepts only a daemon's directory under the
// cgroup2 mount, whatever a damaged journal says.
func TestIsInstanceCgroup(t *testing.T) {
	const mnt = "/sys/fs/cgroup"
	for _, c := range []struct {
		dir  string
		want bool
	}{
		{"/sys/fs/cgroup/tacet-0a1b2c3d", true},
		{"/sys/fs/cgroup/system.slice/tacetd.service/tacet-0a1b2c3d", true},
		{"/sys/fs/cgroup/system.slice", false},
		{"/sys/fs/cgroup", false},
		{"/sys/fs/cgroup/../tacet-0a1b2c3d", false},
		{"/sys/fs/cgroupx/tacet-0a1b2c3d", false},
		{"/tmp/tacet-0a1b2c3d", false},
		{"sys/fs/cgroup/tacet-0a1b2c3d", false},
		{"", false},
	} {
		if got := isInstanceCgroup(mnt, c.dir); got != c.want {
			t.Errorf("isInstanceCgroup(%q, %q) = %v, want %v", mnt, c.dir, got, c.want)
		}
	}
}

// TestCarryOverRemovesCgroups runs three engines in turn on one state
// directory, each stopped leaving its processes, as a killed daemon
// would. Each removes what the ones before left of their cgroup
// directories but the cgroup of the process still running, which it
// can kill as a tree; the directory goes when that process is released.
func TestCarryOverRemovesCgroups(t *testing.T) {
	cfg := Config{StateDir: t.TempDir()}
	e1, tc, stop := runEngine(t, cfg)
	if e1.cg == nil {
		t.Skip("no writable cgroup v2 hierarchy (run as root to cover the cleanup)")
	}
	tc.wait(tc.start("exit 0").Handle)
	live := tc.start("sleep 300 & printf 'started\\n'; wait")
	liveCg := filepath.Join(e1.cg.dir, "p"+strconv.FormatUint(live.Handle, 16))
	t.Cleanup(func() {
		// Should the test fail before the third engine ends it.
		os.WriteFile(filepath.Join(liveCg, "cgroup.kill"), []byte("1"), 0)
	})
	for tc.status(live.Handle).Lengths[0] == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	// The cgroup of a start whose journal record a crash cut off.
	stray := filepath.Join(e1.cg.dir, "p"+strconv.FormatUint(live.Handle+100, 16))
	if err := os.Mkdir(stray, 0o755); err != nil {
		t.Fatal(err)
	}
	stop()

	e2, _, stop := runEngine(t, cfg)
	if exists(stray) || !exists(liveCg) {
		t.Fatalf("after the first restart: stray cgroup left %v, running process's cgroup left %v",
			exists(stray), exists(liveCg))
	}
	recs, err := journal.Read(journalPath(cfg.StateDir))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := journal.Replay(recs).Cgroups, []string{e2.cg.dir, e1.cg.dir}; !slices.Equal(got, want) {
		t.Fatalf("journal names cgroup directories %q, want %q", got, want)
	}
	stop()

	// The second engine's directory, which held no process, is named in
	// its journal only.
	cfg.KillOnExit = true
	_, tc, _ = runEngine(t, cfg)
	if exists(e2.cg.dir) || !exists(liveCg) {
		t.Fatalf("after the second restart: empty directory left %v, running process's cgroup left %v",
			exists(e2.cg.dir), exists(liveCg))
	}
	if _, cerr := tc.call(codec.MethodSignal, &codec.SignalArgs{Handle: live.Handle, Signal: 9, Tree: true}); cerr != nil {
		t.Fatal(cerr)
	}
	if ex := tc.wait(live.Handle); !ex.Unknown || ex.Why != "tree" {
		t.Fatalf("exit of the carried-over process: %+v", ex)
	}
	waitUnpopulated(t, liveCg)
	if _, cerr := tc.call(codec.MethodRelease, &codec.HandleArgs{Handle: live.Handle}); cerr != nil {
		t.Fatal(cerr)
	}
	if exists(liveCg) || exists(e1.cg.dir) {
		t.Errorf("after the release: process cgroup left %v, first engine's directory left %v",
			exists(liveCg), exists(e1.cg.dir))
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// waitUnpopulated waits until the cgroup dir holds no process, or is
// gone: the processes of a tree killed through cgroup.kill leave it one
// by one after the main one's exit is reported.
func waitUnpopulated(t *testing.T, dir string) {
	t.Helper()
	cg := &cgroup{dir: dir, fd: -1}
	for start := time.Now(); exists(dir) && cg.populated(); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("cgroup %s still holds %v", dir, cg.pids())
		}
	}
}
