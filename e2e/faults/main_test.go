// SPDX-License-Identifier: Apache-2.0

package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// tacetdBin and tacetBin are the daemon and the command line the tests run.
var tacetdBin, tacetBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain finds the binaries, $TACETD_BIN and the tacet beside it, or
// builds those that are missing into a directory removed afterwards.
func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tacet-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	if bin := os.Getenv("TACETD_BIN"); bin != "" {
		if tacetdBin, err = filepath.Abs(bin); err != nil {
			fmt.Fprintln(os.Stderr, "faults: TACETD_BIN:", err)
			return 1
		}
		if cli := filepath.Join(filepath.Dir(tacetdBin), "tacet"); fileExists(cli) {
			tacetBin = cli
		}
	}
	for _, b := range []struct {
		path *string
		pkg  string
	}{{&tacetdBin, "./cmd/tacetd"}, {&tacetBin, "./cmd/tacet"}} {
		if *b.path != "" {
			continue
		}
		*b.path = filepath.Join(dir, filepath.Base(b.pkg))
		cmd := exec.Command("go", "build", "-o", *b.path, b.pkg)
		cmd.Dir = "../.." // the module root, from the package directory
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "faults: go build %s: %v\n%s", b.pkg, err, out)
			return 1
		}
	}
	return m.Run()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
