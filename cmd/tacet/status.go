// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"syscall"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// Exit statuses of tacet itself. run and wait otherwise exit with the
// process's own status, or 128 plus the signal that ended it, as a shell
// does; a process may of course exit with one of these numbers too.
const (
	exitOK          = 0
	exitFailed      = 1   // the daemon refused a request, or an exit status is unknown
	exitUsage       = 2   // bad command line
	exitSpawn       = 125 // the process could not be started
	exitUnreachable = 126 // no daemon, a refused key, or a connection lost for good
)

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(msg string) error { return &usageError{msg} }

// statusFor maps an error to the status tacet exits with.
func statusFor(err error) int {
	var ue *usageError
	var de *client.DialError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, client.ErrSpawnFailed):
		return exitSpawn
	case errors.As(err, &de), errors.Is(err, client.ErrConnLost), errors.Is(err, client.ErrUnauthenticated):
		return exitUnreachable
	}
	return exitFailed
}

// exitStatus is the status a shell would give the process: its exit
// code, or 128 plus the signal that ended it.
func exitStatus(ex *codec.Exit) int {
	switch {
	case ex.Unknown:
		return exitFailed
	case ex.Signal != 0:
		return 128 + int(ex.Signal)
	}
	return int(ex.Code)
}

// hint returns advice for an error the user can often fix at once, or "".
func hint(err error) string {
	var de *client.DialError
	if !errors.As(err, &de) {
		return ""
	}
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return "is tacetd running there?"
	case errors.Is(err, client.ErrUnauthenticated):
		return "does --key-file name the daemon's key?"
	}
	return ""
}
