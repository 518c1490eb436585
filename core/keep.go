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
		// The reaper reaps the keeper like any unknown child.
		return p.Close()
	})
}

// KeeperArg is the argument with which the daemon's binary must run
// keeper.Run on its stdin.
const KeeperArg = "__tacet_keeper"

// keepStream hands the keeper the pipe and the spool of a new stream.
// A stream with no spool gets a file of its own for the keeper to write
// to, should it take over; the daemon never writes there.
func (e *Engine) keepStream(st *Stream, pipe *os.File) {
	if e.keeper == nil {
		return
	}
	spool := st.spool
	if spool == nil {
		f, err := os.OpenFile(e.spoolName(st.handle, int(st.id))+".kept-only", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return
		}
		defer f.Close()
		spool = f
	}
	rc, err := pipe.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		e.keeper.Hold(keepID(st), int(fd), int(spool.Fd()))
	})
	st.kept = e.keeper
}

// keepID names a stream to the keeper.
func keepID(st *Stream) uint64 { return st.handle<<2 | uint64(st.id) }
