// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	tc "gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// The file tests start real daemons on loopback. Every daemon shares the
// test's file system, so each host is given a directory of its own.

// bigFile writes n pseudo-random bytes (a fixed seed) to a new file and
// returns its path and SHA-256.
func bigFile(t *testing.T, n int64) (string, [32]byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	r := rand.NewChaCha8([32]byte{42})
	if _, err := io.CopyN(io.MultiWriter(f, h), r, n); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return p, sum
}

func sumFile(t *testing.T, p string) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// dialAll dials every daemon with its own key.
func dialAll(t *testing.T, ds []*daemon) []*tc.Client {
	t.Helper()
	cs := make([]*tc.Client, len(ds))
	for i, d := range ds {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := tc.Dial(ctx, d.tcp, tc.WithKey(d.key))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs[i] = c
	}
	return cs
}

// TestFilePutGetMany puts one large file to 8 daemons at once and gets
// it back from each: every copy must have the file's SHA-256, its mode
// and its modification time. 64 MiB, or 1 GiB with TACET_SCALE=full.
func TestFilePutGetMany(t *testing.T) {
	const hosts = 8
	size := scaled[int64](64<<20, 1<<30)
	src, want := bigFile(t, size)
	mtime := time.Unix(1_700_000_000, 123456789)
	os.Chmod(src, 0o640)
	os.Chtimes(src, mtime, mtime)

	ds := make([]*daemon, hosts)
	for i := range ds {
		ds[i] = startDaemon(t)
	}
	cs := dialAll(t, ds)
	root := t.TempDir()
	remote := func(i int) string { return filepath.Join(root, "host"+strconv.Itoa(i), "data", "big.bin") }

	ctx, cancel := context.WithTimeout(context.Background(), scaled(2*time.Minute, 10*time.Minute))
	defer cancel()
	start := time.Now()
	errs := make(chan error, hosts)
	for i, c := range cs {
		go func() {
			_, err := c.Put(ctx, src, remote(i))
			errs <- err
		}()
	}
	for range hosts {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	putTime := time.Since(start)
	t.Logf("put %d MiB to %d daemons in %v: %.0f MiB/s in all",
		size>>20, hosts, putTime.Round(time.Millisecond), float64(size*hosts)/(1<<20)/putTime.Seconds())

	for i := range hosts {
		st, err := os.Stat(remote(i))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o640 || !st.ModTime().Equal(mtime) || st.Size() != size {
			t.Errorf("host %d: mode %v, mtime %v, size %d; want 0640, %v, %d",
				i, st.Mode(), st.ModTime(), st.Size(), mtime, size)
		}
		parts, _ := filepath.Glob(filepath.Join(filepath.Dir(remote(i)), ".*.part"))
		if len(parts) > 0 {
			t.Errorf("host %d: part files left: %v", i, parts)
		}
	}

	back := t.TempDir()
	start = time.Now()
	for i, c := range cs {
		go func() {
			_, err := c.Get(ctx, remote(i), filepath.Join(back, strconv.Itoa(i)))
			errs <- err
		}()
	}
	for range hosts {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("got %d MiB back from %d daemons in %v", size>>20, hosts, time.Since(start).Round(time.Millisecond))
	for i := range hosts {
		got := filepath.Join(back, strconv.Itoa(i), "big.bin")
		if sumFile(t, got) != want {
			t.Errorf("host %d: the file got back differs from the file put", i)
		}
		if st, err := os.Stat(got); err != nil || st.Mode().Perm() != 0o640 || !st.ModTime().Equal(mtime) {
			t.Errorf("host %d: got back with %v, %v", i, st.Mode(), st.ModTime())
		}
	}
}

// TestFilePutResume cuts the connection in the middle of a put; a second
// put must send only what the daemon's part file lacks.
func TestFilePutResume(t *testing.T) {
	size := scaled[int64](64<<20, 1<<30)
	src, want := bigFile(t, size)
	d := startDaemon(t)
	remote := filepath.Join(t.TempDir(), "big.bin")

	c1 := dialAll(t, []*daemon{d})[0]
	var acked atomic.Int64
	cut := func(p tc.Progress) {
		if p.BytesDone >= size/2 && acked.CompareAndSwap(0, p.BytesDone) {
			go c1.Close() // from another goroutine: Close waits for the reader
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r1, err := c1.Put(ctx, src, remote, tc.WithProgress(cut))
	if err == nil {
		t.Fatalf("put survived its connection being closed: %+v", r1)
	}
	if !errors.Is(err, tc.ErrConnLost) {
		t.Logf("first put: %v", err)
	}
	if _, err := os.Stat(remote); err == nil {
		t.Fatal("the target exists after an interrupted put")
	}

	// The daemon's worker may still be writing what it had queued.
	time.Sleep(200 * time.Millisecond)
	c2 := dialAll(t, []*daemon{d})[0]
	r2, err := c2.Put(ctx, src, remote)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first put: %d bytes acknowledged of %d before the cut; second put sent %d", acked.Load(), size, r2.Sent)
	if r2.Sent > size-acked.Load() || r2.Sent == 0 {
		t.Errorf("second put sent %d bytes; at most %d were missing", r2.Sent, size-acked.Load())
	}
	if sumFile(t, remote) != want {
		t.Error("the resumed file differs from the source")
	}
}

// TestFileTreeAndCollect puts a small tree, gets it back, and collects a
// file a process leaves behind.
func TestFileTreeAndCollect(t *testing.T) {
	d := startDaemon(t)
	c := dialAll(t, []*daemon{d})[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	src := filepath.Join(t.TempDir(), "tree")
	old := time.Unix(1_600_000_000, 0)
	for _, f := range []struct {
		name string
		mode os.FileMode
		size int
	}{{"a.txt", 0o644, 10}, {"sub/b.bin", 0o755, 300 << 10}, {"sub/deep/c", 0o600, 0}} {
		p := filepath.Join(src, f.name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, make([]byte, f.size), f.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, f.mode)
		os.Chtimes(p, old, old)
	}
	os.Mkdir(filepath.Join(src, "empty"), 0o700)
	os.Chtimes(filepath.Join(src, "sub"), old, old)

	remote := filepath.Join(t.TempDir(), "x", "tree")
	r, err := c.Put(ctx, src, remote)
	if err != nil {
		t.Fatal(err)
	}
	if r.Files != 3 {
		t.Errorf("put %d files, want 3", r.Files)
	}
	back := t.TempDir()
	if _, err := c.Get(ctx, remote, back); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.txt", "sub/b.bin", "sub/deep/c", "empty", "sub"} {
		a, _ := os.Stat(filepath.Join(src, name))
		b, err := os.Stat(filepath.Join(back, "tree", name))
		if err != nil {
			t.Fatal(err)
		}
		if a.Mode() != b.Mode() || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime()) {
			t.Errorf("%s: got %v %d %v, want %v %d %v", name, b.Mode(), b.Size(), b.ModTime(),
				a.Mode(), a.Size(), a.ModTime())
		}
	}

	work := t.TempDir()
	p, err := c.Start(ctx, &codec.StartArgs{Argv: argv("/bin/sh", "-c", "echo result > out.txt"),
		Cwd: []byte(work), Collect: argv("out.txt", "missing")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(work, "out.txt")) // the next run's clean-up
	local := t.TempDir()
	files, _, err := p.CollectTo(ctx, local)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[1].Sys != "ENOENT" || len(files[0].Kept) == 0 {
		t.Fatalf("collected %+v", files)
	}
	if b, _ := os.ReadFile(filepath.Join(local, "out.txt")); string(b) != "result\n" {
		t.Errorf("collected out.txt holds %q", b)
	}
	if err := p.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(string(files[0].Kept)); err == nil {
		t.Error("the kept copy outlives proc.release")
	}
}

// TestFilePutVsScp times one put of the large file to a daemon beside scp
// of the same file to a private sshd on loopback, in the same run, and
// reports the ratio. It fails only if the put is more than 4 times
// slower; the numbers are for the report.
func TestFilePutVsScp(t *testing.T) {
	sshd := findSSHD(t)
	size := scaled[int64](64<<20, 1<<30)
	src, want := bigFile(t, size)
	d := startDaemon(t)
	c := dialAll(t, []*daemon{d})[0]
	ssh := startTestSSHD(t, sshd)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var best, bestScp time.Duration
	for i := range 3 {
		dst := filepath.Join(t.TempDir(), "put.bin")
		start := time.Now()
		if _, err := c.Put(ctx, src, dst); err != nil {
			t.Fatal(err)
		}
		el := time.Since(start)
		if sumFile(t, dst) != want {
			t.Fatal("put copy differs")
		}
		os.Remove(dst)

		sdst := filepath.Join(t.TempDir(), "scp.bin")
		start = time.Now()
		cmd := exec.CommandContext(ctx, "scp", "-q", "-F", ssh.config, src, "bench:"+sdst)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scp: %v\n%s", err, out)
		}
		sel := time.Since(start)
		os.Remove(sdst)
		t.Logf("round %d: put %v (%.0f MiB/s), scp %v (%.0f MiB/s)", i, el.Round(time.Millisecond),
			float64(size)/(1<<20)/el.Seconds(), sel.Round(time.Millisecond), float64(size)/(1<<20)/sel.Seconds())
		if best == 0 || el < best {
			best = el
		}
		if bestScp == 0 || sel < bestScp {
			bestScp = sel
		}
	}
	ratio := best.Seconds() / bestScp.Seconds()
	t.Logf("best of 3, %d MiB: put %v, scp %v; put/scp time ratio %.2f", size>>20,
		best.Round(time.Millisecond), bestScp.Round(time.Millisecond), ratio)
	if ratio > 4 {
		t.Errorf("put is %.1f times slower than scp", ratio)
	}
}

func findSSHD(t *testing.T) string {
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
		if _, err := os.Stat(p); err == nil {
			if _, err := exec.LookPath("scp"); err == nil {
				return p
			}
		}
	}
	t.Skip("needs sshd and scp: apt-get install -y openssh-server openssh-client")
	return ""
}

type testSSH struct{ config string }

// startTestSSHD runs a private sshd on a free loopback port, as
// cmd/tacet/deploy_sshd_test.go does, with a client config whose host
// "bench" reaches it.
func startTestSSHD(t *testing.T, sshd string) *testSSH {
	t.Helper()
	if os.Geteuid() == 0 {
		os.MkdirAll("/run/sshd", 0o755)
	}
	dir := t.TempDir()
	port := freePort(t)
	for _, k := range []string{"host_key", "id"} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "id.pub"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("authorized_keys", string(pub))
	write("sshd_config", fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host_key
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp %s
`, port, dir, dir, dir, sftpServer()))
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	write("ssh_config", fmt.Sprintf(`Host bench
	HostName 127.0.0.1
	Port %d
	User %s
	IdentityFile %s/id
	IdentitiesOnly yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
`, port, u.Username, dir))

	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	log := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("sshd log:\n%s", log)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := (&netDialer{}).dial(port)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd not listening on %d: %v\n%s", port, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &testSSH{config: filepath.Join(dir, "ssh_config")}
}

type netDialer struct{}

func (netDialer) dial(port int) (io.Closer, error) {
	return net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
}

// sftpServer is the sftp subsystem scp uses by default since OpenSSH 9.
func sftpServer() string {
	for _, p := range []string{"/usr/lib/openssh/sftp-server", "/usr/libexec/sftp-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "internal-sftp"
}
