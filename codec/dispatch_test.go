// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"errors"
	"fmt"
)

// bodyType is one top-level body type with the name of what it carries.
type bodyType struct {
	name string
	new  func() Message
}

// bodyTypes lists every type that is decoded as a whole body: message
// bodies, method arguments and results, events. The order is part of the
// FuzzDecode seed corpus (the first byte of an input selects the type):
// append only.
var bodyTypes = []bodyType{
	{"hello", func() Message { return new(Hello) }},
	{"welcome", func() Message { return new(Welcome) }},
	{"auth", func() Message { return new(Auth) }},
	{"ready", func() Message { return new(Ready) }},
	{"error", func() Message { return new(Error) }},
	{"credit", func() Message { return new(Credit) }},
	{"ping", func() Message { return new(Ping) }},
	{"pong", func() Message { return new(Pong) }},
	{"goaway", func() Message { return new(Goaway) }},
	{"out", func() Message { return new(Out) }},
	{"gap", func() Message { return new(Gap) }},
	{"eos", func() Message { return new(EOS) }},
	{"state", func() Message { return new(State) }},
	{"exit", func() Message { return new(Exit) }},
	{"failed", func() Message { return new(Failed) }},
	{"out.subscribe args", func() Message { return new(SubscribeArgs) }},
	{"out.subscribe result", func() Message { return new(SubscribeResult) }},
	{"out.unsubscribe args", func() Message { return new(UnsubscribeArgs) }},
	{"out.read args", func() Message { return new(ReadArgs) }},
	{"out.read result", func() Message { return new(ReadResult) }},
	{"host.info result", func() Message { return new(HostInfo) }},
	{"proc.start args", func() Message { return new(StartArgs) }},
	{"proc.start result", func() Message { return new(StartResult) }},
	{"handle args", func() Message { return new(HandleArgs) }},
	{"proc.trigger args", func() Message { return new(TriggerArgs) }},
	{"proc.signal args", func() Message { return new(SignalArgs) }},
	{"proc.freeze args", func() Message { return new(FreezeArgs) }},
	{"proc.stdin args", func() Message { return new(StdinArgs) }},
	{"proc.resize args", func() Message { return new(ResizeArgs) }},
	{"proc.list result", func() Message { return new(ListResult) }},
	{"proc.status result", func() Message { return new(ProcInfo) }},
	{"sample args", func() Message { return new(SampleArgs) }},
	{"sample.subscribe result", func() Message { return new(SampleSubResult) }},
	{"sample", func() Message { return new(Sample) }},
	{"file.put args", func() Message { return new(PutArgs) }},
	{"file.put result", func() Message { return new(PutResult) }},
	{"file.get args", func() Message { return new(GetArgs) }},
	{"file.get result", func() Message { return new(GetResult) }},
	{"file", func() Message { return new(File) }},
	{"fileend", func() Message { return new(FileEnd) }},
	{"proc.collect result", func() Message { return new(CollectResult) }},
	{"proc.signal result", func() Message { return new(SignalResult) }},
	{"net.probe args", func() Message { return new(ProbeArgs) }},
	{"net.probe result", func() Message { return new(ProbeResult) }},
}

// Body types by kind, method and event name, as a daemon and a controller
// dispatch them.
var (
	kindTypes = map[uint8]func() Message{
		KindHello: bodyTypes[0].new, KindWelcome: bodyTypes[1].new,
		KindAuth: bodyTypes[2].new, KindReady: bodyTypes[3].new,
		KindCredit: bodyTypes[5].new, KindPing: bodyTypes[6].new,
		KindPong: bodyTypes[7].new, KindGoaway: bodyTypes[8].new,
	}
	argsTypes = map[string]func() Message{
		MethodStart:       func() Message { return new(StartArgs) },
		MethodTrigger:     func() Message { return new(TriggerArgs) },
		MethodSignal:      func() Message { return new(SignalArgs) },
		MethodFreeze:      func() Message { return new(FreezeArgs) },
		MethodStdin:       func() Message { return new(StdinArgs) },
		MethodResize:      func() Message { return new(ResizeArgs) },
		MethodStatus:      func() Message { return new(HandleArgs) },
		MethodWait:        func() Message { return new(HandleArgs) },
		MethodRelease:     func() Message { return new(HandleArgs) },
		MethodSubscribe:   func() Message { return new(SubscribeArgs) },
		MethodUnsubscribe: func() Message { return new(UnsubscribeArgs) },
		MethodRead:        func() Message { return new(ReadArgs) },
		MethodSampleOnce:  func() Message { return new(SampleArgs) },
		MethodSampleSub:   func() Message { return new(SampleArgs) },
		MethodSampleUnsub: func() Message { return new(UnsubscribeArgs) },
		MethodFilePut:     func() Message { return new(PutArgs) },
		MethodFileGet:     func() Message { return new(GetArgs) },
		MethodCollect:     func() Message { return new(HandleArgs) },
		MethodProbe:       func() Message { return new(ProbeArgs) },
	}
	resultTypes = map[string]func() Message{
		MethodHostInfo:   func() Message { return new(HostInfo) },
		MethodStart:      func() Message { return new(StartResult) },
		MethodSignal:     func() Message { return new(SignalResult) },
		MethodStatus:     func() Message { return new(ProcInfo) },
		MethodList:       func() Message { return new(ListResult) },
		MethodWait:       func() Message { return new(Exit) },
		MethodSubscribe:  func() Message { return new(SubscribeResult) },
		MethodRead:       func() Message { return new(ReadResult) },
		MethodSampleOnce: func() Message { return new(Sample) },
		MethodSampleSub:  func() Message { return new(SampleSubResult) },
		MethodFilePut:    func() Message { return new(PutResult) },
		MethodFileGet:    func() Message { return new(GetResult) },
		MethodCollect:    func() Message { return new(CollectResult) },
		MethodProbe:      func() Message { return new(ProbeResult) },
	}
	eventTypes = map[string]func() Message{
		EventOut: func() Message { return new(Out) }, EventGap: func() Message { return new(Gap) },
		EventEOS: func() Message { return new(EOS) }, EventState: func() Message { return new(State) },
		EventExit: func() Message { return new(Exit) }, EventFailed: func() Message { return new(Failed) },
		EventSample: func() Message { return new(Sample) },
		EventFile:   func() Message { return new(File) }, EventFileEnd: func() Message { return new(FileEnd) },
	}
)

// errUnknownKind is a kind below KindFirstExtension that v1 does not have.
var errUnknownKind = errors.New("unknown kind")

// decoded is a payload taken apart by decodePayload.
type decoded struct {
	kind   uint8
	id     uint32
	method string  // requests
	body   Message // nil for an empty body, a skipped extension or event
	rerr   *Error  // error responses
}

// decodePayload decodes a frame's payload the way a peer would: the
// envelope, then the body by kind, method or event name. A response is
// decoded as the result of method, the method of the request it answers.
// Extension kinds and unknown events are skipped without error.
func decodePayload(p []byte, method string) (decoded, error) {
	var d decoded
	kind, id, body, err := ParseEnvelope(p)
	if err != nil {
		return d, err
	}
	d.kind, d.id = kind, id
	switch kind {
	case KindRequest:
		return decodeRequest(d, body)
	case KindResponse:
		return decodeResponse(d, body, method)
	case KindEvent:
		name, err := EventName(body)
		if err != nil {
			return d, err
		}
		return decodeWith(d, body, eventTypes[string(name)], "event "+string(name))
	}
	if newBody := kindTypes[kind]; newBody != nil {
		return decodeWith(d, body, newBody, fmt.Sprintf("kind %d", kind))
	}
	if kind >= KindFirstExtension {
		return d, nil
	}
	return d, &DecodeError{What: "envelope", Err: errUnknownKind}
}

func decodeRequest(d decoded, body []byte) (decoded, error) {
	m, args, err := ParseRequest(body)
	if err != nil {
		return d, err
	}
	d.method = string(m)
	if newArgs := argsTypes[d.method]; newArgs != nil {
		return decodeWith(d, args, newArgs, d.method+" arguments")
	}
	// A method without arguments takes a map, which may hold keys a later
	// version adds.
	return d, Unmarshal(args, &emptyBody{}, d.method+" arguments")
}

func decodeResponse(d decoded, body []byte, method string) (decoded, error) {
	result, rerr, err := ParseResponse(body)
	if err != nil || rerr != nil {
		d.rerr = rerr
		return d, err
	}
	if newResult := resultTypes[method]; newResult != nil {
		return decodeWith(d, result, newResult, method+" result")
	}
	return d, Unmarshal(result, &emptyBody{}, method+" result")
}

func decodeWith(d decoded, body []byte, newBody func() Message, what string) (decoded, error) {
	if newBody == nil {
		return d, nil
	}
	d.body = newBody()
	return d, Unmarshal(body, d.body, what)
}

// emptyBody decodes a map whose keys are all unknown, for methods without
// arguments or results.
type emptyBody struct{}

func (emptyBody) MarshalMsg(b []byte) ([]byte, error) { return append(b, 0x80), nil }

func (*emptyBody) UnmarshalMsg(b []byte) ([]byte, error) {
	err := eachKey(b, func(_, _ []byte) error { return nil })
	if err != nil {
		return b, err
	}
	return nil, nil
}
