// SPDX-License-Identifier: Apache-2.0

package core

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sampleTimer wakes the sampler at absolute MONO instants. It is a
// timerfd in the Go netpoller: the sampler goroutine parks on it, and
// the thread already waiting in epoll for the daemon's sockets runs it
// when it fires, so that a sample costs the daemon one thread wake-up.
// A Go timer would do the same with millisecond precision, and a thread
// of its own sleeping in clock_nanosleep costs a dozen: a thread asleep
// in a system call holds its P, and the runtime's monitor thread polls
// every 20 µs to 10 ms until it takes the P back.
//
// Arming and reading use raw system calls, for the reason sample.pread
// gives.
type sampleTimer struct {
	f    *os.File
	fd   uintptr
	rc   syscall.RawConn
	read func(fd uintptr) bool // t.readFD, made once: a method value allocates
	n    uint64                // expirations, read by readFD
}

func newSampleTimer() (*sampleTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "timerfd") // pollable: the fd is non-blocking
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	t := &sampleTimer{f: f, fd: uintptr(fd), rc: rc}
	t.read = t.readFD
	return t, nil
}

// set arms the timer to fire at MONO instant t; an instant past fires at
// once. It may be called from any goroutine.
func (t *sampleTimer) set(mono uint64) {
	its := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(max(mono, 1)))}
	unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, t.fd, unix.TFD_TIMER_ABSTIME,
		uintptr(unsafe.Pointer(&its)), 0, 0, 0)
}

// wait parks until the timer has fired since the last wait. Only the
// sampler calls it.
func (t *sampleTimer) wait() error { return t.rc.Read(t.read) }

// readFD consumes the expirations; false means none yet, wait.
func (t *sampleTimer) readFD(fd uintptr) bool {
	_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&t.n)), unsafe.Sizeof(t.n))
	return e != unix.EAGAIN && e != unix.EINTR
}

func (t *sampleTimer) close() { t.f.Close() }
