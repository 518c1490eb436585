// SPDX-License-Identifier: Apache-2.0

package netns

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// PrefixEnv names the environment variable whose value starts the name
// of every namespace and link a test makes.
const PrefixEnv = "TACET_NETNS_PREFIX"

// Require skips t unless it runs as root with $TACET_NETNS_PREFIX set
// and iproute2 installed, and returns the prefix.
func Require(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: network namespace tests need root (make netns runs them)")
	}
	prefix := os.Getenv(PrefixEnv)
	if prefix == "" {
		t.Skipf("skipping: $%s is not set; make netns sets it", PrefixEnv)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: no ip command (install iproute2)")
	}
	return prefix
}

// NS is a network namespace made by New.
type NS struct {
	Name string
}

// New makes the namespace prefix+suffix with its loopback up, after
// deleting a leftover of the same name, and deletes it at cleanup.
func New(t testing.TB, name string) *NS {
	t.Helper()
	if len(name) > 15 {
		t.Fatalf("netns: name %q is longer than Linux's 15 characters for links", name)
	}
	if fileExists("/run/netns/" + name) {
		if err := IP("netns", "del", name); err != nil {
			t.Fatalf("netns: delete leftover namespace: %v", err)
		}
	}
	if err := IP("netns", "add", name); err != nil {
		t.Fatal(err)
	}
	ns := &NS{Name: name}
	t.Cleanup(func() {
		if err := IP("netns", "del", name); err != nil {
			t.Errorf("netns: %v", err)
		}
	})
	if err := ns.IP("link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	return ns
}

// IP runs ip with args and returns its output in the error when it fails.
func IP(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// IP runs ip -n with the namespace's name and args.
func (ns *NS) IP(args ...string) error {
	return IP(append([]string{"-n", ns.Name}, args...)...)
}

// Start starts cmd inside the namespace. It forks from a thread switched
// into the namespace rather than through ip netns exec, which would give
// the child a new /sys and hide the cgroup2 tree from it.
// cmd.SysProcAttr.Pdeathsig must be unset: it fires when the forking
// thread ends, which Do makes it do at once.
func (ns *NS) Start(cmd *exec.Cmd) error {
	return ns.Do(cmd.Start)
}

// Do runs fn on an OS thread switched into the namespace. Sockets and TUN
// devices fn creates belong to the namespace and may be used from any
// goroutine afterwards. Goroutines fn starts run in the namespace of
// whatever thread the scheduler gives them, so fn should create its
// sockets itself. The thread is never given back to other goroutines:
// its goroutine exits locked, which makes the runtime end the thread.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netns: open %s: %w", ns.Name, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("netns: setns %s: %w", ns.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
