// SPDX-License-Identifier: Apache-2.0

package core

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/tinylib/msgp/msgp"
	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
)

// Bounds of net.probe.
const (
	probeDefault = time.Second
	probeMax     = 10 * time.Second
	maxProbes    = 64 // in flight at once, for the whole daemon
	maxProbeHost = 255
)

// probe answers net.probe: a TCP connect from this host, made off the
// loop, so that a controller can wait for a server that listens only on
// this host's loopback or behind its firewall. The response comes when
// the connect has succeeded, failed or timed out.
func (e *Engine) probe(s *session, id uint32, a *codec.ProbeArgs) (msgp.Marshaler, *codec.Error) {
	switch {
	case a.Port == 0:
		return nil, badArgs("port", "port 0")
	case len(a.Host) > maxProbeHost:
		return nil, badArgs("host", "host name longer than 255 bytes")
	case a.Timeout > uint64(probeMax):
		return nil, badArgs("timeout", "timeout over 10s")
	case e.probes >= maxProbes:
		ce := codec.NewError(codec.CodeLimit, "too many net.probe requests in flight")
		ce.Detail.Limit = maxProbes
		return nil, ce
	}
	host, timeout := a.Host, time.Duration(a.Timeout)
	if host == "" {
		host = "localhost"
	}
	if timeout == 0 {
		timeout = probeDefault
	}

	e.probes++
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		r := dialProbe(e.stopped, net.JoinHostPort(host, strconv.Itoa(int(a.Port))), timeout)
		e.post(func() {
			e.probes--
			s.respond(id, r)
		})
	}()
	return nil, nil
}

// dialProbe connects to addr and closes the connection at once. A stop
// of the daemon cuts the attempt short.
func dialProbe(stop <-chan struct{}, addr string, timeout time.Duration) *codec.ProbeResult {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()

	begin := monoNow()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	r := &codec.ProbeResult{Dur: monoNow() - begin}
	if err == nil {
		conn.Close()
		r.OK = true
		return r
	}
	r.Why = err.Error()
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		r.Errno, r.Sys = uint32(errno), unix.ErrnoName(errno)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		r.Errno, r.Sys = uint32(unix.ETIMEDOUT), "ETIMEDOUT"
	}
	return r
}
