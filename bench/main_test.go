// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"debug/buildinfo"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// tmpRoot holds what the benchmarks build; TestMain removes it.
var tmpRoot string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "tacet-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	tmpRoot = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// smoke reports whether this is a smoke run, with small sizes: asked for
// with TACET_BENCH_SMOKE=1, or implied by -benchtime=1x as CI gives it
// unless TACET_BENCH_SMOKE=0 says otherwise.
func smoke() bool {
	switch os.Getenv("TACET_BENCH_SMOKE") {
	case "1":
		return true
	case "0":
		return false
	}
	f := flag.Lookup("test.benchtime")
	return f != nil && f.Value.String() == "1x"
}

// buildOnce maps a program's name to its *builtProgram.
var buildOnce sync.Map

type builtProgram struct {
	once sync.Once
	path string
	err  error
}

// tacetd returns the path of a tacetd built without -race: the race
// detector slows the daemon several times over, which would measure the
// detector rather than the daemon.
func tacetd(b testing.TB) string {
	b.Helper()
	for _, env := range []string{"TACETD_BIN_NORACE", "TACETD_BIN"} {
		if p := os.Getenv(env); p != "" && !isRaceBuild(p) {
			return p
		}
	}
	return build(b, "tacetd", "gitlab.com/tacet/tacet/cmd/tacetd")
}

// isRaceBuild reports whether the Go binary at path was built with
// -race, or cannot be read as one.
func isRaceBuild(path string) bool {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return true
	}
	for _, s := range info.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// build builds the package pkg once per test binary, without -race.
func build(b testing.TB, name, pkg string) string {
	b.Helper()
	v, _ := buildOnce.LoadOrStore(name, new(builtProgram))
	bp := v.(*builtProgram)
	bp.once.Do(func() {
		bp.path = filepath.Join(tmpRoot, name)
		cmd := exec.Command(goTool(), "build", "-o", bp.path, pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			bp.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if bp.err != nil {
		b.Fatal(bp.err)
	}
	return bp.path
}

// buildC compiles the C program src (such as testdata/refsampler.c)
// with gcc -O2 and flags into the benchmark's temporary directory and
// returns the binary's path.
func buildC(b *testing.B, src string, flags ...string) string {
	b.Helper()
	gcc := peerTool(b, "gcc", "gcc")
	name := strings.TrimSuffix(filepath.Base(src), ".c")
	bin := filepath.Join(b.TempDir(), name)
	args := append(append([]string{"-O2"}, flags...), "-o", bin, src)
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		b.Fatalf("gcc -O2 %s: %v\n%s", filepath.Base(src), err, out)
	}
	return bin
}

func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}
