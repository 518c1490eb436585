// SPDX-License-Identifier: Apache-2.0

// Package testproc runs the programs that this module's tests and
// benchmarks drive, tacetd above all, as children that end with the
// test: told to stop by SIGTERM should the test binary die, and killed
// by their PID only. It also picks free loopback ports for them.
package testproc

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Buffer is a bytes.Buffer that one writer, such as a child's output
// copier, and other readers may use at once.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the number of complete lines written so far.
func (b *Buffer) Lines() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Count(b.buf.Bytes(), []byte{'\n'})
}

// Proc is a started child whose stdout and stderr both go to Out.
type Proc struct {
	Cmd    *exec.Cmd
	Out    *Buffer
	Exited chan struct{} // closed once the child has been waited for
	Err    error         // how it ended, valid once Exited is closed
}

// Start starts bin with args, env added to this process's environment,
// and its output appended to out, a new Buffer if nil; it waits for the
// child in the background. A child started again after it ended, as a
// restarted daemon, may so keep writing where its predecessor did.
func Start(bin string, args, env []string, out *Buffer) (*Proc, error) {
	if out == nil {
		out = new(Buffer)
	}
	p := &Proc{Cmd: exec.Command(bin, args...), Out: out, Exited: make(chan struct{})}
	if env != nil {
		p.Cmd.Env = append(os.Environ(), env...)
	}
	p.Cmd.Stdout, p.Cmd.Stderr = p.Out, p.Out
	p.Cmd.WaitDelay = 2 * time.Second
	// Should the test binary die, the child is told to stop rather than
	// left behind with its own children.
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		p.Err = p.Cmd.Wait()
		close(p.Exited)
	}()
	return p, nil
}

// PID is the child's process id.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Running reports whether the child has not exited.
func (p *Proc) Running() bool {
	select {
	case <-p.Exited:
		return false
	default:
		return true
	}
}

// Kill ends the child with SIGKILL, by its PID, and waits for it.
func (p *Proc) Kill() {
	if !p.Running() {
		return
	}
	p.Cmd.Process.Kill()
	<-p.Exited
}

// Term sends SIGTERM and waits up to timeout for the child to exit; it
// reports whether it did.
func (p *Proc) Term(timeout time.Duration) bool {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// WaitReady calls probe every 20 ms until it succeeds, the child exits,
// or timeout passes.
func (p *Proc) WaitReady(timeout time.Duration, probe func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := probe()
		if err == nil {
			return nil
		}
		select {
		case <-p.Exited:
			return errors.New("exited before answering: " + ExitString(p.Err))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %v: %w", timeout, err)
		}
	}
}

// ExitString says how a child ended, given what Wait returned.
func ExitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// FreePort returns a loopback port of network "tcp" or "udp" that was
// free a moment ago.
func FreePort(network string) (int, error) {
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// FreeBlock returns the first of n consecutive loopback TCP ports that
// were all free a moment ago, from port from up to the ephemeral range,
// below which the caller's own connections do not take them meanwhile.
// Callers that may run at once (the e2e tests and the benchmarks) give
// different from.
func FreeBlock(from, n int) (int, error) {
	low := 32768
	if buf, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(buf)); len(f) == 2 {
			low, _ = strconv.Atoi(f[0])
		}
	}
	span := low - from - n
	if span <= 0 {
		return 0, fmt.Errorf("no room for %d ports between %d and the ephemeral range at %d", n, from, low)
	}
	for try := range 50 {
		base := from + (os.Getpid()*7919+try*1013)%span
		var lns []net.Listener
		for off := range n {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+off))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if len(lns) == n {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free ports on loopback", n)
}
