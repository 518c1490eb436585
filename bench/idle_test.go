// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client"
)

// kcpPingEvery is how often the benchmark pings on each idle KCP
// session: the protocol asks for a PING whenever a controller has sent
// nothing for 5 s, and this leaves a margin for a late timer.
const kcpPingEvery = 4 * time.Second

// idleSubject is one process whose wake-ups are counted.
type idleSubject struct {
	name    string
	pid     int
	clients int  // idle controllers connected to it
	tree    bool // sum pid and its descendants, as for sshd's sessions
	before  procSample
	wakeups samples // per second, one per window
	cpuUs   samples // µs on CPU per second, from schedstat
	ticks   samples // utime + stime over the window, in ms, from stat
}

// BenchmarkIdleWakeups counts how often an idle tacetd is woken, from the
// context switches of all its threads in /proc, with no controller, and
// with 1 and 10 idle controllers on each transport. Every daemon runs at
// once, beside the floor (bench/internal/acceptor, a Go process blocked
// in Accept), and all are measured over the same window: 60 s, 5 s in a
// smoke run, or $TACET_BENCH_IDLE_WINDOW. An iteration is one window.
// A private sshd and supervisord are measured over it too
// (peerIdleSubjects).
func BenchmarkIdleWakeups(b *testing.B) {
	// The settling time covers one KCP keepalive tick of the daemon
	// (5 s), the first moment a new session can be found idle; before
	// it, a session is in its active profile by design.
	window, settle := 60*time.Second, 6*time.Second
	if smoke() {
		window = 5 * time.Second
	}
	if w, err := time.ParseDuration(os.Getenv("TACET_BENCH_IDLE_WINDOW")); err == nil && w > 0 {
		window = w
	}

	subs := []*idleSubject{{name: "floor", pid: startAcceptor(b)}}
	add := func(name string, withKCP bool, transport string, n int) {
		d := startDaemon(b, withKCP)
		addr := map[string]string{"unix": d.unix, "tcp": d.tcp, "kcp": d.kcp}[transport]
		subs = append(subs, &idleSubject{name: name, pid: d.PID(), clients: n})
		for range n {
			c := d.dial(addr)
			if transport == "kcp" {
				pingKCP(b, c)
			}
		}
	}
	add("idle0", false, "", 0)
	add("idle0kcp", true, "", 0)
	for _, tr := range []string{"unix", "tcp", "kcp"} {
		add(tr+"1", tr == "kcp", tr, 1)
		add(tr+"10", tr == "kcp", tr, 10)
	}
	subs = append(subs, peerIdleSubjects(b)...)
	time.Sleep(settle) // let the handshakes' goroutines and timers die down

	for b.Loop() {
		measureIdle(b, subs, window)
	}
	reportIdle(b, subs, window)
}

// measureIdle adds one window's figures to every subject.
func measureIdle(b *testing.B, subs []*idleSubject, window time.Duration) {
	t0 := time.Now()
	for _, s := range subs {
		s.before = s.read(b)
	}
	time.Sleep(window)
	secs := time.Since(t0).Seconds()
	for _, s := range subs {
		after := s.read(b)
		s.wakeups = append(s.wakeups, float64(after.ctxsw-s.before.ctxsw)/secs)
		s.cpuUs = append(s.cpuUs, float64(after.runNs-s.before.runNs)/1e3/secs)
		s.ticks = append(s.ticks, float64(after.ticks-s.before.ticks)*1000/userHZ)
		s.before = after
	}
}

// reportIdle reports each subject's wake-ups and its ratio to the floor,
// and the wake-ups per idle KCP session. A floor of 0 counts as one
// wake-up per window, so that the ratio stays finite.
func reportIdle(b *testing.B, subs []*idleSubject, window time.Duration) {
	floor := max(subs[0].wakeups.median(), 1/window.Seconds())
	byName := map[string]float64{}
	for _, s := range subs {
		w := s.wakeups.median()
		byName[s.name] = w
		ps := s.read(b)
		b.ReportMetric(w, s.name+"-wakeups/s")
		b.ReportMetric(s.cpuUs.median(), s.name+"-cpu-us/s")
		b.ReportMetric(s.ticks.median(), s.name+"-cputime-ms")
		b.ReportMetric(float64(ps.rssKiB), s.name+"-rss-KiB")
		b.ReportMetric(float64(ps.threads), s.name+"-threads")
		if s.name != "floor" {
			b.ReportMetric(w/floor, s.name+"/floor")
			b.ReportMetric(w-subs[0].wakeups.median(), s.name+"-excess-wakeups/s")
		}
	}
	for _, s := range subs[1:] {
		if s.name[:3] == "kcp" {
			per := (byName[s.name] - byName["idle0kcp"]) / float64(s.clients)
			b.ReportMetric(per, s.name+"-per-session-wakeups/s")
		}
	}
}

func mustReadProc(b *testing.B, pid int) procSample {
	b.Helper()
	s, err := readProc("/proc", pid)
	if err != nil {
		b.Fatalf("read /proc/%d: %v", pid, err)
	}
	return s
}

// pingKCP pings on c every kcpPingEvery until the benchmark ends, as a
// KCP controller must.
func pingKCP(b *testing.B, c *client.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(kcpPingEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, kcpPingEvery)
			c.Ping(pctx)
			pcancel()
		}
	})
	b.Cleanup(func() { cancel(); wg.Wait() })
}

// startAcceptor starts the floor process and returns its PID; it is
// stopped with SIGTERM when the benchmark ends.
func startAcceptor(b *testing.B) int {
	b.Helper()
	bin := build(b, "acceptor", "gitlab.com/tacet/tacet/bench/internal/acceptor")
	sock := filepath.Join(b.TempDir(), "a.sock")
	cmd := exec.Command(bin, "-unix", sock, "-tcp", "127.0.0.1:0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(stopTimeout):
			cmd.Process.Kill()
			<-done
		}
	})

	// Ready once it accepts; the connection stays open, as an idle
	// controller's would, and costs the acceptor nothing.
	for deadline := time.Now().Add(readyTimeout); ; {
		c, err := net.Dial("unix", sock)
		if err == nil {
			b.Cleanup(func() { c.Close() })
			return cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			b.Fatalf("acceptor: not accepting after %v: %v", readyTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
