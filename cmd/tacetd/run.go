// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"gitlab.com/tacet/tacet/core"
	"gitlab.com/tacet/tacet/netstack"
)

// run starts the engine and the listeners and serves until ctx ends.
func run(ctx context.Context, cfg *config) error {
	log := newLogger(cfg.logLevel)
	notify := newNotifier()
	// The affinity the daemon had before placing itself is the one its
	// children get, not the daemon's own.
	childCPUs, err := inheritedCPUs(cfg.cpus != "")
	if err != nil {
		return err
	}
	if err := place(cfg.cpus, cfg.nice, cfg.idle); err != nil {
		return err
	}
	key, err := loadKey(cfg)
	if err != nil {
		return err
	}
	addrs, err := checkListeners(cfg, key)
	if err != nil {
		return err
	}

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	shift, err := testClockShift()
	if err != nil {
		return err
	}
	eng, err := core.New(core.Config{KeeperExe: exe, Exe: exe,
		StateDir: cfg.stateDir, MemBudget: cfg.memBudget, DiskBudget: cfg.diskBudget,
		Version: version, Revision: revision(), KillOnExit: cfg.onExit == "kill", Retention: cfg.retention,
		ClockShift: shift, ChildCPUs: childCPUs, ResetSched: cfg.nice != 0 || cfg.idle,
	})
	if err != nil {
		return err
	}
	srv := &server{eng: eng, log: log, fails: netstack.NewFailureLog(func(msg string, n int) {
		log.Warn("handshake refused", "reason", msg, "count", n)
	})}
	srv.hs = &netstack.ServerConfig{Key: key, FrameMAC: cfg.frameMAC, Welcome: eng.Welcome}

	var lns []net.Listener
	for _, a := range addrs {
		ln, err := netstack.Listen(a, netstack.ListenConfig{Key: key, TLS: tlsConfig(cfg)})
		if err != nil {
			closeAll(lns)
			return fmt.Errorf("listen %s: %w", a, err)
		}
		lns = append(lns, ln)
	}

	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(ctx) }()
	for i, ln := range lns {
		go srv.accept(ln, addrs[i])
	}
	started := []any{"version", version, "listen", strings.Join(cfg.listen, ","),
		"containment", eng.Containment(), "key", keyID(key), "insecure", cfg.insecure && key == nil}
	if cfg.tlsCert != "" {
		// Controllers pin this: tacet --tls-pin.
		pin, _ := netstack.CertPin(cfg.tlsCert)
		started = append(started, "tls-pin", pin)
	}
	log.Info("tacetd started", started...)
	// The listeners accept from here on, so systemd may start what needs
	// the daemon. A failed notification is logged, not fatal: systemd
	// then times the start out, which says more than exiting would.
	if err := notify.send("READY=1"); err != nil {
		log.Warn("tell systemd the daemon is ready", "err", err)
	}

	<-ctx.Done()
	notify.send("STOPPING=1")
	closeAll(lns)
	err = <-engDone
	srv.wg.Wait()
	removeSockets(addrs)
	return err
}

// checkListeners parses the listen URLs and refuses a network listener
// without a key unless --insecure was given.
func checkListeners(cfg *config, key *netstack.Key) ([]netstack.Addr, error) {
	var out []netstack.Addr
	for _, l := range cfg.listen {
		a, err := netstack.ParseAddr(l, 7340)
		if err != nil {
			return nil, err
		}
		if key == nil && a.Scheme != "unix" && !cfg.insecure {
			return nil, fmt.Errorf("refusing to listen on %s without a key: run 'tacet keygen' or pass --key-file (or --insecure)", l)
		}
		if a.Scheme == netstack.SchemeTLS && cfg.tlsCert == "" {
			return nil, fmt.Errorf("listen %s: tls:// needs --tls-cert and --tls-key", l)
		}
		out = append(out, a)
	}
	return out, nil
}

// tlsConfig returns the TLS settings of tls:// listeners, or nil when no
// certificate is configured.
func tlsConfig(cfg *config) *netstack.TLSConfig {
	if cfg.tlsCert == "" {
		return nil
	}
	return &netstack.TLSConfig{CertFile: cfg.tlsCert, KeyFile: cfg.tlsKey, CAFile: cfg.tlsClientCA}
}

// loadKey loads the key file; a missing default file is not an error,
// since a daemon with only a Unix socket needs no key.
func loadKey(cfg *config) (*netstack.Key, error) {
	if cfg.keyFile == "" {
		return nil, nil
	}
	key, err := netstack.LoadKey(cfg.keyFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return key, err
}

func keyID(k *netstack.Key) string {
	if k == nil {
		return "none"
	}
	return k.ID()
}

// server accepts connections and hands authenticated ones to the engine.
type server struct {
	eng   *core.Engine
	log   *slog.Logger
	hs    *netstack.ServerConfig
	gate  netstack.Gate
	fails *netstack.FailureLog
	wg    sync.WaitGroup
}

func (s *server) accept(ln net.Listener, a netstack.Addr) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("accept", "listen", a.String(), "err", err)
			continue
		}
		if !s.gate.Acquire() {
			// Too many handshakes in progress: refuse at once rather than
			// hold the socket.
			nc.Close()
			s.fails.ReportReason("too many unauthenticated connections", a.String())
			continue
		}
		s.wg.Add(1)
		go s.serve(nc)
	}
}

func (s *server) serve(nc net.Conn) {
	defer s.wg.Done()
	c, err := netstack.ServerHandshake(nc, s.hs)
	s.gate.Release()
	if err != nil {
		s.fails.Report(err)
		return
	}
	s.log.Debug("controller connected", "conn", c.RemoteAddr(), "who", c.Peer().Who)
	if c.Peer().Transport == netstack.SchemeKCP {
		stop := watchKCP(c)
		defer stop()
	}
	err = s.eng.Serve(c, c.RemoteAddr())
	s.log.Debug("controller gone", "conn", c.RemoteAddr(), "err", err)
}

// KCP liveness: a controller pings when it has sent nothing for 5 s, and
// a session silent for 15 s is closed. This is the only timer a connected
// controller costs the daemon, and only on KCP, which never reports a
// dead peer itself.
const (
	kcpTick    = 5 * time.Second
	kcpSilence = 15 * time.Second
)

// watchKCP checks c's silence on every tick, which also lets netstack
// move an idle session to its slow update interval.
func watchKCP(c *netstack.Conn) (stop func()) {
	t := time.NewTicker(kcpTick)
	done := make(chan struct{})
	go func() {
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if c.Tick() >= kcpSilence {
					c.Close()
					return
				}
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

func removeSockets(addrs []netstack.Addr) {
	for _, a := range addrs {
		if a.Scheme == "unix" {
			os.Remove(a.Path)
		}
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	switch level {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// testClockShiftEnv names a duration, such as 200ms or -1s, by which the
// daemon's clock is made to read off (core.Config.ClockShift). It is for
// tests only: a test of the controllers' clock-offset correction needs a
// daemon whose clock is wrong by a known amount on a machine whose clock
// is right. It is an environment variable rather than a flag so that it
// stays out of --help and of config files.
const testClockShiftEnv = "TACETD_TEST_CLOCK_SHIFT"

func testClockShift() (time.Duration, error) {
	v := os.Getenv(testClockShiftEnv)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a duration such as 200ms", testClockShiftEnv, v)
	}
	return d, nil
}
