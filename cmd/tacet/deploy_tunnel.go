// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"gitlab.com/tacet/tacet/client"
)

// A host that ssh reaches only through another, with ProxyJump or
// ProxyCommand in the user's config, is usually out of the controller's
// reach for anything but ssh. deploy then starts its daemon on loopback
// and tacet reaches it through `ssh -W`, one ssh session per connection,
// whose stdin and stdout are the stream; the deployment records which
// hosts go that way (deployedHost.Tunnel), so later `tacet -d NAME`
// commands do the same.
//
// TODO: every connection costs a new ssh session through the jump host,
// which is slow for many hosts unless the user's ssh config shares one
// (ControlMaster auto, ControlPersist); deploy could offer that with
// its own control socket.

// tunnelTarget returns where ssh -W connects on the host for a daemon
// listening on bind:port: loopback when it listens on every address.
func tunnelTarget(bind string, port int) string {
	switch bind {
	case "", "0.0.0.0":
		bind = "127.0.0.1"
	case "::":
		bind = "::1"
	}
	return net.JoinHostPort(bind, fmt.Sprint(port))
}

// dialer returns a function that connects to target, as the host dest
// sees it, through ssh -W.
func (s *sshRunner) dialer(dest, target string) func(ctx context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		// A socket pair rather than pipes: ssh reads and writes one
		// descriptor, and our end is a net.Conn with deadlines.
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("ssh -W: %w", err)
		}
		ours, theirs := os.NewFile(uintptr(fds[0]), "ssh -W"), os.NewFile(uintptr(fds[1]), "ssh -W")
		defer ours.Close()
		defer theirs.Close()

		// Not CommandContext: ctx bounds the dial, and the connection
		// outlives it.
		cmd := exec.Command("ssh", append(s.optionArgs(), "-W", target, "--", dest)...)
		c := &sshConn{cmd: cmd, done: make(chan struct{})}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = theirs, theirs, &c.stderr
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("run ssh: %w", err)
		}
		go func() {
			cmd.Wait()
			close(c.done)
		}()
		if c.Conn, err = net.FileConn(ours); err != nil {
			c.kill()
			return nil, fmt.Errorf("ssh -W: %w", err)
		}
		return c, nil
	}
}

// sshConn is the stream of an ssh -W process.
type sshConn struct {
	net.Conn
	cmd    *exec.Cmd
	stderr bytes.Buffer // read only after done is closed
	done   chan struct{}
	once   sync.Once
}

// Read and Write turn a broken stream into ssh's own error, such as a
// refused key or an unreachable jump host, when ssh failed.
func (c *sshConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	return n, c.cause(err)
}

func (c *sshConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, c.cause(err)
}

// cause returns ssh's error when the stream failed because ssh did, and
// err otherwise. ssh that failed exits at once; it is given a second.
func (c *sshConn) cause(err error) error {
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() || errors.Is(err, net.ErrClosed) {
		return err
	}
	select {
	case <-c.done:
		if st := c.cmd.ProcessState; !st.Success() {
			return &sshError{Status: st.ExitCode(), Line: lastLine(c.stderr.Bytes())}
		}
	case <-time.After(time.Second):
	}
	return err
}

// Close ends the stream, which makes ssh exit; it is killed if it has
// not after 2 s.
func (c *sshConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		select {
		case <-c.done:
		case <-time.After(2 * time.Second):
			c.kill()
		}
	})
	return err
}

func (c *sshConn) kill() {
	c.cmd.Process.Kill()
	<-c.done
}

// tunnelOptions returns the dial options of a host of the deployment:
// through ssh when it was deployed so.
func (d *deployment) tunnelOptions(h *deployedHost) []client.Option {
	if h == nil || h.Tunnel == "" {
		return nil
	}
	ssh := &sshRunner{config: d.SSHConfig, options: d.SSHOptions}
	return []client.Option{client.WithDialer(ssh.dialer(h.sshDest(), h.Tunnel))}
}

// sshDest returns the ssh destination of the host: its target without
// the daemon's port.
func (h *deployedHost) sshDest() string {
	if host, _, err := net.SplitHostPort(h.Target); err == nil {
		return host
	}
	return h.Target
}
