// SPDX-License-Identifier: Apache-2.0

package core

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// TestReleaseRemovesKilledCgroup releases processes whose trees outlive
// them: the release kills each tree through its cgroup, whose members
// leave it only after the kill returns, and the cgroup must still go
// once they have.
func TestReleaseRemovesKilledCgroup(t *testing.T) {
	e, tc, _ := runEngine(t, Config{StateDir: t.TempDir()})
	if e.cg == nil {
		t.Skip("no writable cgroup v2 hierarchy (run as root to cover cgroup removal)")
	}
	var dirs []string
	for range 5 {
		// The shell ends at once; its sleeps stay in its cgroup.
		r := tc.start("sleep 300 & sleep 300 & exit 0")
		tc.wait(r.Handle)
		dir := filepath.Join(e.cg.dir, "p"+strconv.FormatUint(r.Handle, 16))
		if !exists(dir) {
			t.Fatalf("the cgroup of a tree that outlives its process is gone before the release")
		}
		if _, cerr := tc.call(codec.MethodRelease, &codec.HandleArgs{Handle: r.Handle}); cerr != nil {
			t.Fatal(cerr)
		}
		dirs = append(dirs, dir)
	}
	for _, dir := range dirs {
		// The kernel, not a timer of the daemon, says when: a bound, not a
		// speed, so that a loaded machine does not fail the test.
		for start := time.Now(); exists(dir); time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("cgroup %s of a released, killed tree is still there after 10 s", dir)
			}
		}
	}
}
