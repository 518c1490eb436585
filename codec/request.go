// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"errors"

	"github.com/tinylib/msgp/msgp"
)

// A request body is {"m": method, "a": arguments}; a response body is
// {"r": result} or {"e": error}. These helpers are written by hand
// because the arguments' type depends on the method: the reader looks at
// "m" first, then decodes "a" with the right type.

// AppendRequest appends a whole request envelope to b.
func AppendRequest(b []byte, id uint32, method string, args msgp.Marshaler) ([]byte, error) {
	b = AppendEnvelope(b, KindRequest, id)
	b = msgp.AppendMapHeader(b, 2)
	b = msgp.AppendString(b, "m")
	b = msgp.AppendString(b, method)
	b = msgp.AppendString(b, "a")
	if args == nil {
		return msgp.AppendMapHeader(b, 0), nil
	}
	return args.MarshalMsg(b)
}

// ParseRequest returns the method and the raw arguments of a request
// body. The method slice aliases body. Unknown keys are skipped; a
// missing "a" gives an empty map.
func ParseRequest(body []byte) (method []byte, args []byte, err error) {
	args = emptyMap
	err = eachKey(body, func(key, val []byte) error {
		switch string(key) {
		case "m":
			m, _, err := msgp.ReadStringZC(val)
			if err != nil {
				return err
			}
			method = m
		case "a":
			args = val
		}
		return nil
	})
	if err == nil && method == nil {
		err = errMissingMethod
	}
	if err != nil {
		return nil, nil, &DecodeError{What: "request", Err: err}
	}
	return method, args, nil
}

// AppendResponse appends a whole successful response envelope to b. A nil
// result is sent as an empty map.
func AppendResponse(b []byte, id uint32, result msgp.Marshaler) ([]byte, error) {
	b = AppendEnvelope(b, KindResponse, id)
	b = msgp.AppendMapHeader(b, 1)
	b = msgp.AppendString(b, "r")
	if result == nil {
		return msgp.AppendMapHeader(b, 0), nil
	}
	return result.MarshalMsg(b)
}

// AppendErrorResponse appends a whole error response envelope to b.
func AppendErrorResponse(b []byte, id uint32, e *Error) ([]byte, error) {
	b = AppendEnvelope(b, KindResponse, id)
	b = msgp.AppendMapHeader(b, 1)
	b = msgp.AppendString(b, "e")
	return e.MarshalMsg(b)
}

// ParseResponse returns the raw result of a response body, or the error
// it carries.
func ParseResponse(body []byte) (result []byte, rerr *Error, err error) {
	err = eachKey(body, func(key, val []byte) error {
		switch string(key) {
		case "r":
			result = val
		case "e":
			rerr = new(Error)
			return Unmarshal(val, rerr, "response error")
		}
		return nil
	})
	if err == nil && result == nil && rerr == nil {
		err = errMissingResult
	}
	if err != nil {
		return nil, nil, &DecodeError{What: "response", Err: err}
	}
	return result, rerr, nil
}

// AppendEvent appends a whole event envelope to b.
func AppendEvent(b []byte, id uint32, ev msgp.Marshaler) ([]byte, error) {
	return ev.MarshalMsg(AppendEnvelope(b, KindEvent, id))
}

// EventName returns the "k" of an event body, aliasing body.
func EventName(body []byte) ([]byte, error) {
	var name []byte
	err := eachKey(body, func(key, val []byte) error {
		if string(key) == "k" {
			k, _, err := msgp.ReadStringZC(val)
			name = k
			return err
		}
		return nil
	})
	if err == nil && name == nil {
		err = errMissingKind
	}
	if err != nil {
		return nil, &DecodeError{What: "event", Err: err}
	}
	return name, nil
}

var (
	emptyMap         = []byte{0x80}
	errMissingMethod = errors.New(`request has no "m"`)
	errMissingResult = errors.New(`response has neither "r" nor "e"`)
	errMissingKind   = errors.New(`event has no "k"`)
)

// eachKey calls fn for each key of the map body with the raw value. The
// body has been checked by Walk, so Skip cannot recurse deeply.
func eachKey(body []byte, fn func(key, val []byte) error) error {
	n, b, err := msgp.ReadMapHeaderBytes(body)
	if err != nil {
		return ErrNotMap
	}
	for ; n > 0; n-- {
		var key []byte
		if key, b, err = msgp.ReadMapKeyZC(b); err != nil {
			return err
		}
		rest, err := msgp.Skip(b)
		if err != nil {
			return err
		}
		if err := fn(key, b[:len(b)-len(rest)]); err != nil {
			return err
		}
		b = rest
	}
	if len(b) != 0 {
		return ErrTrailing
	}
	return nil
}
