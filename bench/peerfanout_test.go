// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/internal/testproc"
	"gitlab.com/tacet/tacet/netstack"
)

// peerFanout is the number of hosts every tool of BenchmarkPeerFanout
// works on at once: the default of tacet and clush; pdsh's is 32 and is
// raised to it.
const peerFanout = 64

// BenchmarkPeerFanout measures the time to run true on N loopback hosts
// and collect every exit status, for N of 1, 10 and 100 (1 and 10 in a
// smoke run): `tacet -w 127.0.0.1:[P-P+N-1] run -- true` against N
// tacetd, one per port, beside `pdsh -R ssh` and `clush` on N aliases of
// one private sshd. The three tools run in turn for each N in every
// iteration, in a rotating order. Each is a fresh command, so its start
// (a Go binary, a C one, and Python) is part of its time.
func BenchmarkPeerFanout(b *testing.B) {
	sizes := []int{1, 10, 100}
	if smoke() {
		sizes = sizes[:2]
	}
	s := startSSHD(b)
	pdsh := peerTool(b, "pdsh", "pdsh")
	clush := peerTool(b, "clush", "clustershell")
	tacet := tacetCLI(b)
	f := startFleet(b, sizes[len(sizes)-1])

	names := []string{"tacet", "pdsh", "clush"}
	pdshEnv := []string{"PDSH_SSH_ARGS_APPEND=-F " + s.config}
	tacetEnv := []string{"TACET_KEY_FILE=" + f.keyFile}
	argv := func(tool string, n int) []string {
		hosts := "h[1-" + strconv.Itoa(n) + "]"
		switch tool {
		case "pdsh":
			return []string{pdsh, "-R", "ssh", "-f", strconv.Itoa(peerFanout), "-w", hosts, "true"}
		case "clush":
			return []string{clush, "-S", "-f", strconv.Itoa(peerFanout), "-o", "-F " + s.config,
				"-w", hosts, "true"}
		}
		return []string{tacet, "-w", f.hostSet(n), "run", "--", "true"}
	}
	run := func(tool string, n int) (time.Duration, error) {
		env := map[string][]string{"tacet": tacetEnv, "pdsh": pdshEnv}[tool]
		return runQuiet(env, argv(tool, n)...)
	}
	for _, n := range sizes[:1] { // warm the caches of every binary once
		for _, tool := range names {
			if _, err := run(tool, n); err != nil {
				b.Fatal(err)
			}
		}
	}

	took := make(map[string]samples) // by tool and size, "pdsh-10"
	for i := 0; b.Loop(); i++ {
		for _, n := range sizes {
			for _, k := range rotation(i, len(names)) {
				dt, err := run(names[k], n)
				if err != nil {
					b.Fatal(err)
				}
				key := names[k] + "-" + strconv.Itoa(n)
				took[key] = append(took[key], float64(dt)/1e6)
			}
		}
	}
	b.StopTimer()

	for _, n := range sizes {
		sfx := "-" + strconv.Itoa(n)
		for _, tool := range names {
			b.ReportMetric(took[tool+sfx].median(), tool+sfx+"-ms")
		}
		for _, peer := range names[1:] {
			// How many times tacet's time the peer takes, paired.
			r := ratios(took[peer+sfx], took["tacet"+sfx])
			b.ReportMetric(r.median(), peer+"/tacet"+sfx)
			b.ReportMetric(r.min(), peer+"/tacet"+sfx+"-min")
			b.ReportMetric(r.max(), peer+"/tacet"+sfx+"-max")
		}
	}
}

// tacetCLI returns the tacet command line: $TACET_BIN, else bin/tacet
// beside $TACETD_BIN_NORACE or $TACETD_BIN, else one built here.
func tacetCLI(b testing.TB) string {
	b.Helper()
	if p := os.Getenv("TACET_BIN"); p != "" && !isRaceBuild(p) {
		return p
	}
	return build(b, "tacet", "gitlab.com/tacet/tacet/cmd/tacet")
}

// fleet is a tacetd on each of a block of consecutive loopback ports,
// all with one key, so that one node set names the first N of them.
type fleet struct {
	base    int
	keyFile string
}

func (f *fleet) hostSet(n int) string {
	if n == 1 {
		return "127.0.0.1:" + strconv.Itoa(f.base)
	}
	return fmt.Sprintf("127.0.0.1:[%d-%d]", f.base, f.base+n-1)
}

// startFleet starts n daemons on consecutive free ports and waits until
// each answers; each is stopped by its PID when the benchmark ends.
func startFleet(b testing.TB, n int) *fleet {
	b.Helper()
	bin := tacetd(b)
	dir := b.TempDir()
	key, err := netstack.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	// The daemons refuse a socket in a directory other users may enter.
	if err := os.Chmod(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	f := &fleet{base: freeBlock(b, n), keyFile: filepath.Join(dir, "key")}
	if err := key.WriteFile(f.keyFile); err != nil {
		b.Fatal(err)
	}

	daemons := make([]*daemon, n)
	for i := range daemons {
		d := &daemon{b: b, key: key,
			unix: "unix://" + filepath.Join(dir, "s"+strconv.Itoa(i)+".sock"),
			tcp:  "tcp://127.0.0.1:" + strconv.Itoa(f.base+i)}
		d.launch(bin, []string{"--listen", d.unix, "--listen", d.tcp, "--key-file", f.keyFile,
			"--state-dir", filepath.Join(dir, "state"+strconv.Itoa(i))})
		daemons[i] = d
		b.Cleanup(d.stop)
	}
	for _, d := range daemons {
		if err := d.waitReady(); err != nil {
			b.Fatalf("tacetd on %s: %v\n%s", d.tcp, err, d.Out.String())
		}
	}
	return f
}

// freeBlock returns the first of n consecutive loopback ports that were
// all free a moment ago, from 20000 up, apart from the e2e tests' ports.
func freeBlock(b testing.TB, n int) int {
	b.Helper()
	base, err := testproc.FreeBlock(20000, n)
	if err != nil {
		b.Fatal(err)
	}
	return base
}
