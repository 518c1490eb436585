// SPDX-License-Identifier: Apache-2.0

package core

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/core/journal"
	"gitlab.com/tacet/tacet/core/keeper"
)

// Config is what an Engine needs to know. The zero value of each field
// means its documented default.
type Config struct {
	StateDir   string // spool files live in StateDir/spool; "" means memory only
	MemBudget  int64  // bytes of output kept in memory, all streams; default 256 MiB
	DiskBudget int64  // bytes of spool files, all streams; default 4 GiB
	RingMax    int    // per stream, memory-only retention; default 8 MiB
	Version    string // daemon version, for host.info
	Revision   string // VCS revision of the build
	Instance   []byte // 16 bytes, new at every start; random if nil
	// KillOnExit makes Run end every process tree it started when it
	// returns; otherwise they are left running.
	KillOnExit bool
	// KeeperExe, when set, is the daemon's own binary, started once with
	// KeeperArg as a keeper of the children's output pipes: if the daemon
	// dies, the keeper drains them into the spool files, so no child
	// gets SIGPIPE or blocks. See package keeper.
	KeeperExe string
	// Exe is the daemon's own binary as host.info reports it, so that a
	// controller can start it as a relay (see client/chain).
	Exe string
	// Retention is how long the records of a finished process are kept
	// before they are released on their own; 0 keeps them until
	// proc.release.
	Retention time.Duration
	// ClockShift, for tests only, makes the daemon's CLOCK_REALTIME read
	// off by that much in everything it reports (PONG, times, events) and
	// in every instant it is given, as a machine with a wrong clock would.
	// It is process-wide and stays set once an engine has set it.
	ClockShift time.Duration
	// ChildCPUs is the affinity of a process whose start names no CPUs,
	// and ResetSched gives it nice 0, SCHED_OTHER and no I/O priority
	// class unless its start sets a nice value. A daemon that placed
	// itself (tacetd --cpus, --nice, --idle) sets both, so that what it
	// starts does not inherit that placement; nil and false inherit the
	// daemon's own.
	ChildCPUs  []int
	ResetSched bool
}

// Engine owns the processes of the machine. Create it with New, run its
// loop with Run, and hand it connections with Serve.
type Engine struct {
	cfg    Config
	mem    budget
	disk   budget
	cg     *cgroupRoot     // nil when processes get no cgroup of their own
	keeper *keeper.Link    // nil without Config.KeeperExe
	jr     *journal.Writer // nil without Config.StateDir; appended to by the loop
	lock   *os.File        // holds the state directory's lock while the engine lives

	in      chan func()     // work for the loop
	lost    chan lostResult // ends of processes of a previous instance
	stopped chan struct{}

	// Owned by the loop.
	procs    map[uint64]*proc
	byPID    map[int]*proc
	byTag    map[string]*proc
	sessions map[*session]struct{}
	nextH    uint64
	stopping bool
	args     args
	later    []func()    // run after the current request's response
	readBuf  []byte      // the data of out.read responses
	smp      sampling    // sample subscriptions and the sampler (sample_sub.go)
	giveBack *time.Timer // returns free memory after a burst (giveback.go)
	probes   int         // net.probe connects in flight (probe.go)
	// oldCg holds the cgroup directories of earlier instances on the
	// state directory that are not removed yet (cgroup_clean.go).
	oldCg map[string]bool
	// cgReap removes released cgroups once their killed trees are gone.
	cgReap cgroupReaper

	files fileState // file transfers and collected files (file_*.go); owned by the loop

	wg sync.WaitGroup // pumps, session goroutines and net.probe connects
}

// New prepares an engine: it makes this process a child subreaper and
// finds a cgroup v2 hierarchy where each process can get its own cgroup.
func New(cfg Config) (*Engine, error) {
	if cfg.MemBudget == 0 {
		cfg.MemBudget = 256 << 20
	}
	if cfg.DiskBudget == 0 {
		cfg.DiskBudget = 4 << 30
	}
	if cfg.RingMax == 0 {
		cfg.RingMax = 8 << 20
	}
	if cfg.Instance == nil {
		cfg.Instance = make([]byte, 16)
		rand.Read(cfg.Instance)
	}
	setClockShift(cfg.ClockShift)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, errors.New("core: become child subreaper: " + err.Error())
	}
	if cfg.StateDir != "" {
		// Paths under the state dir go on the wire (collected files), and
		// the keeper opens spools after the daemon is gone: both need them
		// absolute.
		abs, err := filepath.Abs(cfg.StateDir)
		if err != nil {
			return nil, err
		}
		cfg.StateDir = abs
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, "spool"), 0o700); err != nil {
			return nil, err
		}
	}
	e := &Engine{
		cfg:      cfg,
		in:       make(chan func(), 64),
		lost:     make(chan lostResult, 16),
		stopped:  make(chan struct{}),
		procs:    make(map[uint64]*proc),
		byPID:    make(map[int]*proc),
		byTag:    make(map[string]*proc),
		sessions: make(map[*session]struct{}),
		oldCg:    make(map[string]bool),
	}
	e.mem.limit, e.disk.limit = cfg.MemBudget, cfg.DiskBudget
	e.nextH = uint64(binary.BigEndian.Uint16(cfg.Instance)) << 40
	if cfg.StateDir != "" {
		var err error
		if e.lock, err = lockStateDir(cfg.StateDir); err != nil {
			return nil, err
		}
	}
	e.cg = findCgroupRoot(cfg.Instance)
	if cfg.KeeperExe != "" {
		var err error
		if e.keeper, err = startKeeper(cfg.KeeperExe); err != nil {
			e.lock.Close()
			return nil, errors.New("core: start the output keeper: " + err.Error())
		}
		if cfg.StateDir != "" {
			// TODO: a state directory whose path is too long for a Unix
			// socket gets no hand-over: the pipes stay with the old
			// keeper after a restart. A socket in a short directory of
			// its own, named in the journal, would lift the limit.
			e.keeper.Listen(e.keeperSock())
		}
	}
	if cfg.StateDir != "" {
		if err := e.recover(); err != nil {
			e.closeKeeper()
			e.lock.Close()
			return nil, fmt.Errorf("core: carry over the previous instance's processes: %w", err)
		}
	}
	return e, nil
}

// lockStateDir takes the lock of the state directory, which two daemons
// must not share: each would take the other's journal and keeper for a
// dead one's. The kernel drops the lock when the daemon dies.
func lockStateDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, fmt.Errorf("core: state directory %s is in use by another tacetd", dir)
		}
		return nil, fmt.Errorf("core: lock %s: %w", dir, err)
	}
	return f, nil
}

// Containment says how process trees are held together: "cgroup2" when
// each process gets its own cgroup, else "subreaper".
func (e *Engine) Containment() string {
	if e.cg != nil {
		return "cgroup2"
	}
	return "subreaper"
}

// post hands fn to the loop. It returns false once the loop has stopped.
func (e *Engine) post(fn func()) bool {
	select {
	case e.in <- fn:
		return true
	case <-e.stopped:
		return false
	}
}

// Run is the event loop. It returns when ctx is done, after telling every
// controller and, with KillOnExit, ending every process tree.
func (e *Engine) Run(ctx context.Context) error {
	reaped := make(chan reapResult, 64)
	stopReaper := startReaper(reaped)
	defer stopReaper()

	for {
		select {
		case fn := <-e.in:
			fn()
		case r := <-reaped:
			e.onReaped(r)
		case l := <-e.lost:
			e.onLost(l)
		case <-ctx.Done():
			e.shutdown(reaped)
			close(e.stopped)
			if e.cfg.KillOnExit {
				e.waitPumps(2 * time.Second)
			}
			e.closeKeeper()
			if e.jr != nil {
				e.jr.Close()
			}
			e.lock.Close()
			return nil
		}
	}
}

// waitPumps waits, at most d, for the pipe readers to finish. A reader
// whose pipe a surviving descendant still holds would otherwise keep Run
// from returning.
func (e *Engine) waitPumps(d time.Duration) {
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// closeKeeper ends the keeper when the children are gone, or leaves it to
// take over the streams of children left running.
func (e *Engine) closeKeeper() {
	if e.keeper == nil {
		return
	}
	if e.cfg.KillOnExit {
		e.keeper.Close()
	} else {
		e.keeper.Abandon()
	}
}
