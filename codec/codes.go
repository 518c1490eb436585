// SPDX-License-Identifier: Apache-2.0

package codec

// Error codes. They are stable: a code is never reused or renumbered.
// Controllers treat a code they do not know as CodeInternal and show its
// name and message.
const (
	CodeProtocol     = 1  // a malformed or unexpected frame
	CodeUnsupported  = 2  // unknown method, version or capability
	CodeBadArgs      = 3  // arguments that cannot be right
	CodeUnauth       = 4  // the handshake did not prove the key
	CodePermission   = 5  // the daemon or the peer may not do this
	CodeNotFound     = 6  // no such process, subscription or file
	CodeExists       = 7  // a tag names a process started with another spec
	CodeWrongState   = 8  // e.g. signalling a process that has exited
	CodeSpawnFailed  = 9  // the process could not be started; see Detail
	CodeLimit        = 10 // a size, count or budget limit
	CodeTimeout      = 11 // a deadline passed
	CodeInternal     = 12 // a bug or an unexpected system error
	CodeShuttingDown = 13 // the daemon is stopping
)

var codeNames = [...]string{
	CodeProtocol:     "PROTOCOL",
	CodeUnsupported:  "UNSUPPORTED",
	CodeBadArgs:      "BAD_ARGS",
	CodeUnauth:       "UNAUTHENTICATED",
	CodePermission:   "PERMISSION",
	CodeNotFound:     "NOT_FOUND",
	CodeExists:       "ALREADY_EXISTS",
	CodeWrongState:   "WRONG_STATE",
	CodeSpawnFailed:  "SPAWN_FAILED",
	CodeLimit:        "LIMIT",
	CodeTimeout:      "TIMEOUT",
	CodeInternal:     "INTERNAL",
	CodeShuttingDown: "SHUTTING_DOWN",
}

// CodeName returns the stable name of code, or "INTERNAL" for a code this
// version does not know.
func CodeName(code uint16) string {
	if int(code) < len(codeNames) && codeNames[code] != "" {
		return codeNames[code]
	}
	return "INTERNAL"
}

// retryable lists the codes for which the same request may succeed later.
func retryable(code uint16) bool {
	switch code {
	case CodeLimit, CodeTimeout, CodeShuttingDown:
		return true
	}
	return false
}

// NewError returns an Error with the name and retry flag that belong to
// code.
func NewError(code uint16, msg string) *Error {
	return &Error{Code: code, Name: CodeName(code), Message: msg, Retry: retryable(code)}
}

// Error implements the error interface: "NAME: message".
func (e *Error) Error() string {
	s := e.Name
	if s == "" {
		s = CodeName(e.Code)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Detail.Step != "" {
		s += " (step " + e.Detail.Step
		if e.Detail.Sys != "" {
			s += ", " + e.Detail.Sys
		}
		s += ")"
	}
	return s
}
