// SPDX-License-Identifier: Apache-2.0

package core

import (
	"errors"
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// attach makes f, a non-blocking pipe, the source of st. It is called
// before the pump starts, so that the reaper's drain can read the pipe
// even if the process ends before the pump goroutine first runs.
func (st *Stream) attach(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) {
		st.mu.Lock()
		st.fd = int(fd)
		st.file = f
		st.mu.Unlock()
	})
}

// pump reads the pipe f, attached to st, as fast as the child writes,
// until end of file. It blocks in the runtime's poller, not in a thread,
// while the pipe is empty, and no timer is involved: it runs when the
// pipe is readable. done is called once the stream has ended.
func (st *Stream) pump(f *os.File, done func()) {
	rc, err := f.SyscallConn()
	if err != nil {
		st.end(f)
		done()
		return
	}
	for {
		var finished bool
		err := rc.Read(func(fd uintptr) bool {
			finished = st.drain()
			return finished
		})
		if finished || err != nil {
			break
		}
	}
	st.end(f)
	done()
}

// drain reads everything the pipe holds now and reports whether the pipe
// reached its end (or failed). The reaper's path calls it too, so that an
// exit is reported with every byte the process wrote before it ended.
func (st *Stream) drain() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.fd < 0 {
		return st.eof
	}
	for {
		n, err := st.readFromLocked(st.fd)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return false
		case errors.Is(err, unix.EINTR):
			continue
		case n == 0:
			// End of file, or EIO from a pseudo-terminal whose last
			// writer has gone: both mean the stream has ended. It is
			// marked here, not only when the pump closes the pipe, so
			// that an exit drained on the reaper's path knows it.
			st.eof = true
			return true
		}
	}
}

// end marks the stream ended and closes its pipe.
func (st *Stream) end(f *os.File) {
	st.mu.Lock()
	st.eof = true
	st.fd = -1
	st.file = nil
	// A copy: removeSub shifts st.subs in place once the lock is dropped.
	subs := slices.Clone(st.subs)
	kept := st.kept
	st.kept = nil
	st.mu.Unlock()
	f.Close()
	if kept != nil {
		kept.Drop(keepID(st))
	}
	for _, s := range subs {
		s.sess.wakeup()
	}
}
