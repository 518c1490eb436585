// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunCollect runs `tacet run --collect` against a real daemon: the
// file the process wrote is fetched into --collect-dir/HOST, and a path
// it did not write is reported by name and errno without failing the run.
func TestRunCollect(t *testing.T) {
	fanoutBins(t)
	d := startDaemon(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := d.key.WriteFile(keyFile); err != nil {
		t.Fatal(err)
	}
	result := filepath.Join(dir, "result.txt")
	into := filepath.Join(dir, "collected")

	cmd := exec.Command(tacetBin, "-w", d.tcp, "--key-file", keyFile, "run",
		"--collect", result, "--collect", filepath.Join(dir, "absent"), "--collect-dir", into,
		"--", "sh", "-c", "echo 42 > "+result)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tacet run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "absent: ENOENT") {
		t.Errorf("the missing path is not reported: %s", out)
	}
	host := strings.TrimPrefix(d.tcp, "tcp://")
	got, err := os.ReadFile(filepath.Join(into, host, "result.txt"))
	if err != nil || string(got) != "42\n" {
		t.Fatalf("collected file: %q, %v (output %s)", got, err, out)
	}
}
