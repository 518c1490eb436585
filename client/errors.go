// SPDX-License-Identifier: Apache-2.0

package client

import (
	"errors"
	"fmt"
	"syscall"

	"gitlab.com/tacet/tacet/codec"
)

// Error is an error reported by a daemon: in a response, in a GOAWAY or
// when it refused the handshake. Test its code with errors.Is and one of
// the sentinels below, or read the fields with errors.As.
type Error struct {
	Code    uint16 // a stable code, as in codec/codes.go
	Name    string // the code's stable name, e.g. "NOT_FOUND"
	Message string // for humans; never parse it
	Retry   bool   // the same request may succeed later
	Addr    string // the daemon that answered

	// Details that apply to some codes; zero otherwise.
	Step  string        // SPAWN_FAILED: the step of the start that failed, e.g. "chdir"
	Errno syscall.Errno // SPAWN_FAILED: the errno of that step
	Field string        // BAD_ARGS: the argument that was rejected
	Limit uint64        // LIMIT: the limit that was exceeded
}

// Sentinels for errors.Is: an *Error matches the sentinel of its code,
// whatever its message and address.
var (
	ErrProtocol        = sentinel(codec.CodeProtocol)     // a malformed or unexpected frame
	ErrUnsupported     = sentinel(codec.CodeUnsupported)  // a method or version the daemon lacks
	ErrBadArgs         = sentinel(codec.CodeBadArgs)      // arguments that cannot be right
	ErrUnauthenticated = sentinel(codec.CodeUnauth)       // the daemon did not accept our key
	ErrPermission      = sentinel(codec.CodePermission)   // the daemon may not do this
	ErrNotFound        = sentinel(codec.CodeNotFound)     // no such process or subscription
	ErrExists          = sentinel(codec.CodeExists)       // a tag names a process with another argv
	ErrWrongState      = sentinel(codec.CodeWrongState)   // e.g. signalling a process that ended
	ErrSpawnFailed     = sentinel(codec.CodeSpawnFailed)  // the process could not be started
	ErrLimit           = sentinel(codec.CodeLimit)        // a size, count or budget limit
	ErrTimeout         = sentinel(codec.CodeTimeout)      // a deadline passed in the daemon
	ErrInternal        = sentinel(codec.CodeInternal)     // a bug or an unexpected system error
	ErrShuttingDown    = sentinel(codec.CodeShuttingDown) // the daemon is stopping
)

func sentinel(code uint16) *Error {
	return &Error{Code: code, Name: codec.CodeName(code), Retry: codec.NewError(code, "").Retry}
}

// newError converts the wire form of an error from the daemon at addr.
func newError(addr string, e *codec.Error) *Error {
	name := e.Name
	if name == "" {
		name = codec.CodeName(e.Code)
	}
	return &Error{
		Code: e.Code, Name: name, Message: e.Message, Retry: e.Retry, Addr: addr,
		Step: e.Detail.Step, Errno: syscall.Errno(e.Detail.Errno),
		Field: e.Detail.Field, Limit: e.Detail.Limit,
	}
}

// Error returns "addr: NAME: message", for example
// "node1:7340: SPAWN_FAILED: spawn failed at chdir: no such file or directory".
func (e *Error) Error() string {
	s := e.Name
	if s == "" {
		s = codec.CodeName(e.Code)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Addr != "" {
		s = e.Addr + ": " + s
	}
	return s
}

// Is reports whether target is an *Error of the same code. It lets
// errors.Is(err, ErrNotFound) match any NOT_FOUND from any daemon.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ErrConnLost matches, with errors.Is, every error that ends a call or a
// Stream because the connection to the daemon ended: the daemon went
// away, the network failed, or Close was called.
var ErrConnLost = errors.New("connection lost")

// ConnError is returned by calls and Streams of a connection that ended.
// Err is why it ended: the read or write error, ErrClosed, or the *Error
// of the daemon's GOAWAY (ErrShuttingDown when it stops).
type ConnError struct {
	Addr string
	Err  error
}

func (e *ConnError) Error() string {
	if _, ok := e.Err.(*Error); ok {
		return e.Addr + ": daemon closed the connection: " + e.Err.Error()
	}
	return e.Addr + ": connection lost: " + e.Err.Error()
}

func (e *ConnError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrConnLost) true for every ConnError.
func (e *ConnError) Is(target error) bool { return target == ErrConnLost }

// ErrClosed is the cause in a ConnError after the caller closed the
// Client.
var ErrClosed = errors.New("client closed")

// DialError is returned by Dial when no connection could be made or the
// handshake failed. When the daemon refused us, Err is an *Error with the
// daemon's code (ErrUnauthenticated for a wrong key).
type DialError struct {
	Addr string
	Err  error
}

func (e *DialError) Error() string { return e.Addr + ": " + e.Err.Error() }

func (e *DialError) Unwrap() error { return e.Err }

// GapError is returned by Stream.Read when bytes [From, To) of the stream
// are lost, for example because the daemon's output budget was spent. It
// is returned once, after every byte before From was read; the next Read
// goes on at To.
type GapError struct {
	From, To uint64
	Why      string // "mem-budget", "disk-budget", "disk-error", "retention", ...
}

func (e *GapError) Error() string {
	return fmt.Sprintf("output bytes %d to %d lost (%s)", e.From, e.To, e.Why)
}
