// SPDX-License-Identifier: Apache-2.0

package core

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// reapResult is one child reaped by wait4.
type reapResult struct {
	pid    int
	status unix.WaitStatus
	usage  unix.Rusage
	at     stamp
}

// startReaper reaps every child of the process, including orphaned
// descendants handed to it as subreaper, and sends what it learns on out.
// One goroutine serves all children: it sleeps until SIGCHLD, so no
// thread sits blocked in a wait per child.
func startReaper(out chan<- reapResult) (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGCHLD)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			reapAll(out, quit)
			select {
			case <-sig:
			case <-quit:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(quit)
		<-done
	}
}

// reapAll collects every child that has ended. SIGCHLD signals coalesce,
// so one signal may stand for many children.
func reapAll(out chan<- reapResult, quit <-chan struct{}) {
	for {
		var r reapResult
		pid, err := unix.Wait4(-1, &r.status, unix.WNOHANG, &r.usage)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		r.pid, r.at = pid, now()
		select {
		case out <- r:
		case <-quit:
			return
		}
	}
}
