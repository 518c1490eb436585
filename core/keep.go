// SPDX-License-Identifier: Apache-2.0

package core

import (
	"os"

	"gitlab.com/tacet/tacet/core/keeper"
	"gitlab.com/tacet/tacet/core/spawn"
)

// startKeeper starts the keeper process, exe run with the single argument
// KeeperArg, whose stdin is the keeper's socket.
func startKeeper(exe string) (*keeper.Link, error) {
	return keeper.Start(func(sock int) error {
		p, err := spawn.Start(&spawn.Spec{
			Argv: [][]byte{[]byte(exe), []byte(KeeperArg)}, Env: [][]byte{[]byte("PATH=/usr/bin:/bin")},
			Stdin: sock, Stdout: -1, Stderr: -1, CgroupFD: -1, Setsid: true,
		})
		if err != nil {
			return err
		}
		kickReaper()
		// The reaper reaps the keeper like any unknown child.
		return p.Close()
	})
}

// KeeperArg is the argument with which the daemon's binary must run
// keeper.Run on its stdin.
const KeeperArg = "__tacet_keeper"

// keepStream hands the keeper the pipe of a new stream and the path its
// bytes go to if the keeper takes over: the spool, or for a memory-only
// stream a file of its own that the daemon never writes.
func (e *Engine) keepStream(st *Stream, pipe *os.File) {
	if e.keeper == nil {
		return
	}
	path := st.spoolPath
	if path == "" {
		path = e.spoolName(st.handle, int(st.id)) + ".kept-only"
	}
	rc, err := pipe.SyscallConn()
	if err != nil {
		return
	}
	// Under the stream's lock: the pump may be ending the stream, and a
	// stream that has ended needs no keeper.
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.fd < 0 {
		return
	}
	rc.Control(func(fd uintptr) {
		if e.keeper.Hold(keepID(st), int(fd), path) == nil {
			st.kept = e.keeper
		}
	})
}

// keepID names a stream to the keeper.
func keepID(st *Stream) uint64 { return st.handle<<2 | uint64(st.id) }
