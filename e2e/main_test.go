// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// tacetdBin is the daemon binary every test starts.
var tacetdBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain finds or builds the daemon, then runs the tests; it is apart
// from TestMain so that the temporary build directory is removed.
func runMain(m *testing.M) int {
	if bin := os.Getenv("TACETD_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: TACETD_BIN:", err)
			return 1
		}
		tacetdBin = abs
		return m.Run()
	}

	dir, err := os.MkdirTemp("", "tacet-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	tacetdBin = filepath.Join(dir, "tacetd")
	cmd := exec.Command("go", "build", "-race", "-o", tacetdBin, "./cmd/tacetd")
	cmd.Dir = ".." // the module root, from the package directory go test runs in
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build -race ./cmd/tacetd: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// scaled returns def, or full when TACET_SCALE=full.
func scaled[T any](def, full T) T {
	if os.Getenv("TACET_SCALE") == "full" {
		return full
	}
	return def
}
