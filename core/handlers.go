// SPDX-License-Identifier: Apache-2.0

package core

import (
	"errors"
	"slices"

	"github.com/tinylib/msgp/msgp"
	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
)

var errNotRunning = errors.New("process is not running")

// args are the loop's decoders, reused for every request so that a
// request allocates no decoder of its own.
type args struct {
	start   codec.StartArgs
	handle  codec.HandleArgs
	trigger codec.TriggerArgs
	signal  codec.SignalArgs
	freeze  codec.FreezeArgs
	stdin   codec.StdinArgs
	resize  codec.ResizeArgs
	sub     codec.SubscribeArgs
	unsub   codec.UnsubscribeArgs
	read    codec.ReadArgs
	probe   codec.ProbeArgs
}

// decode resets v, keeping its storage, and decodes the arguments a into
// it. A decode error is answered with BAD_ARGS and the connection goes on.
func decode(a []byte, v codec.Message) *codec.Error {
	if err := codec.Decode(a, v, "arguments"); err != nil {
		return codec.NewError(codec.CodeBadArgs, err.Error())
	}
	return nil
}

// handle runs one request in the loop and queues its response, then
// whatever the request left to do after it.
func (e *Engine) handle(s *session, id uint32, method string, a []byte) {
	r, cerr := e.dispatch(s, id, method, a)
	switch {
	case cerr != nil:
		s.fail(id, cerr)
	case r != nil:
		s.respond(id, r)
	}
	for _, fn := range e.later {
		fn()
	}
	clear(e.later)
	e.later = e.later[:0]
}

// afterResponse runs fn in the loop once the current request's response
// is queued.
func (e *Engine) afterResponse(fn func()) { e.later = append(e.later, fn) }

// dispatch returns the result of a request, an error, or neither when the
// response will come later (proc.wait).
func (e *Engine) dispatch(s *session, id uint32, method string, a []byte) (msgp.Marshaler, *codec.Error) {
	x := &e.args
	switch method {
	case codec.MethodHostInfo:
		return e.hostInfo(), nil
	case codec.MethodStart:
		if err := decode(a, &x.start); err != nil {
			return nil, err
		}
		r, err := e.start(s, &x.start)
		return result(r, err)
	case codec.MethodTrigger:
		if err := decode(a, &x.trigger); err != nil {
			return nil, err
		}
		return e.trigger(&x.trigger)
	case codec.MethodSignal:
		if err := decode(a, &x.signal); err != nil {
			return nil, err
		}
		return e.signal(s, id, &x.signal)
	case codec.MethodFreeze:
		if err := decode(a, &x.freeze); err != nil {
			return nil, err
		}
		return e.freeze(&x.freeze)
	case codec.MethodStdin:
		if err := decode(a, &x.stdin); err != nil {
			return nil, err
		}
		return e.writeStdin(s, id, &x.stdin)
	case codec.MethodResize:
		if err := decode(a, &x.resize); err != nil {
			return nil, err
		}
		return e.resize(&x.resize)
	case codec.MethodStatus, codec.MethodWait, codec.MethodRelease:
		if err := decode(a, &x.handle); err != nil {
			return nil, err
		}
		return e.byHandle(s, id, method, x.handle.Handle)
	case codec.MethodList:
		return e.list(), nil
	case codec.MethodSubscribe:
		if err := decode(a, &x.sub); err != nil {
			return nil, err
		}
		return e.subscribe(s, id, &x.sub)
	case codec.MethodUnsubscribe:
		if err := decode(a, &x.unsub); err != nil {
			return nil, err
		}
		if !s.removeSub(x.unsub.Sub) {
			return nil, codec.NewError(codec.CodeNotFound, "no such subscription")
		}
		return success(), nil
	case codec.MethodRead:
		if err := decode(a, &x.read); err != nil {
			return nil, err
		}
		return e.read(&x.read)
	case codec.MethodSampleOnce, codec.MethodSampleSub, codec.MethodSampleUnsub:
		return e.dispatchSample(s, id, method, a)
	case codec.MethodFilePut, codec.MethodFileGet, codec.MethodCollect:
		return e.dispatchFile(s, id, method, a)
	case codec.MethodProbe:
		if err := decode(a, &x.probe); err != nil {
			return nil, err
		}
		return e.probe(s, id, &x.probe)
	}
	return nil, codec.NewError(codec.CodeUnsupported, "method "+method+" is not served by this daemon")
}

// served lists the methods dispatch knows, for host.info.
var served = []string{
	codec.MethodHostInfo, codec.MethodStart, codec.MethodTrigger, codec.MethodSignal,
	codec.MethodFreeze, codec.MethodStdin, codec.MethodResize, codec.MethodStatus,
	codec.MethodList, codec.MethodWait, codec.MethodRelease, codec.MethodSubscribe,
	codec.MethodUnsubscribe, codec.MethodRead,
	codec.MethodSampleOnce, codec.MethodSampleSub, codec.MethodSampleUnsub,
	codec.MethodFilePut, codec.MethodFileGet, codec.MethodCollect, codec.MethodProbe,
}

// empty is the result of methods that return nothing but success.
type empty struct{}

func (empty) MarshalMsg(b []byte) ([]byte, error) { return msgp.AppendMapHeader(b, 0), nil }

// success is the result of a request that returns nothing but success.
func success() msgp.Marshaler { return empty{} }

// result returns r, or err when it is set: a typed nil result must not
// become a non-nil interface.
func result[T msgp.Marshaler](r T, err *codec.Error) (msgp.Marshaler, *codec.Error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (e *Engine) lookup(h uint64) (*proc, *codec.Error) {
	p, ok := e.procs[h]
	if !ok {
		return nil, codec.NewError(codec.CodeNotFound, "no such process")
	}
	return p, nil
}

func (e *Engine) byHandle(s *session, id uint32, method string, h uint64) (msgp.Marshaler, *codec.Error) {
	p, cerr := e.lookup(h)
	if cerr != nil {
		return nil, cerr
	}
	switch method {
	case codec.MethodStatus:
		pi := p.info()
		return &pi, nil
	case codec.MethodWait:
		switch p.state {
		case stateExited:
			return &p.exit, nil
		case stateFailed:
			return nil, failedError(&p.fail)
		}
		p.watch(s)
		p.waiters = append(p.waiters, waiter{s, id})
		return nil, nil
	}
	return e.release(p)
}

func (e *Engine) trigger(a *codec.TriggerArgs) (msgp.Marshaler, *codec.Error) {
	for _, h := range a.Handles {
		p, cerr := e.lookup(h)
		if cerr != nil {
			return nil, cerr
		}
		if p.state != stateStaged || p.releasing {
			return nil, codec.NewError(codec.CodeWrongState, "process is not staged, or already released")
		}
		if p.sp == nil {
			// Its gate was a pipe of the previous instance, which broke
			// when that one died: the process fails at the gate.
			return nil, codec.NewError(codec.CodeWrongState, "the process was staged by a previous instance of the daemon")
		}
	}
	var ps []*proc
	for _, h := range a.Handles {
		if p := e.procs[h]; !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	e.scheduleRelease(ps, a.At)
	return success(), nil
}

// signal answers proc.signal: at once, or with at when the signal has
// been sent at that instant.
func (e *Engine) signal(s *session, id uint32, a *codec.SignalArgs) (msgp.Marshaler, *codec.Error) {
	p, cerr := e.lookup(a.Handle)
	if cerr != nil {
		return nil, cerr
	}
	sig := unix.Signal(a.Signal)
	if sig <= 0 || sig > 64 {
		return nil, badArgs("sig", "no such signal")
	}
	if a.At != 0 {
		e.scheduleSignal(s, id, p, sig, a.Tree, a.At)
		return nil, nil
	}
	return result(e.sendSignal(p, sig, a.Tree))
}

// sendSignal sends sig to p, or with tree to its tree, and returns when.
func (e *Engine) sendSignal(p *proc, sig unix.Signal, tree bool) (*codec.SignalResult, *codec.Error) {
	if tree && (sig == unix.SIGKILL || sig == unix.SIGTERM) && p.why == "" && p.state != stateExited {
		p.why = "tree"
	}
	sent := now()
	if err := p.signal(sig, tree); err != nil {
		if err == errNotRunning {
			return nil, codec.NewError(codec.CodeWrongState, "the process has ended")
		}
		return nil, codec.NewError(codec.CodeInternal, "signal: "+err.Error())
	}
	return &codec.SignalResult{Real: sent.real, Mono: sent.mono}, nil
}

func (e *Engine) freeze(a *codec.FreezeArgs) (msgp.Marshaler, *codec.Error) {
	p, cerr := e.lookup(a.Handle)
	if cerr != nil {
		return nil, cerr
	}
	if p.cg == nil {
		// SIGSTOP would be seen by the tree and could be undone by any
		// member; only the cgroup freezer is invisible to it.
		return nil, codec.NewError(codec.CodeUnsupported, "the process has no cgroup to freeze")
	}
	if err := p.cg.freeze(!a.Thaw); err != nil {
		return nil, codec.NewError(codec.CodeInternal, "freeze: "+err.Error())
	}
	return success(), nil
}

// writeStdin queues a proc.stdin write, which is answered once its bytes
// are in the pipe (spec/PROTOCOL.md 11.8).
func (e *Engine) writeStdin(s *session, id uint32, a *codec.StdinArgs) (msgp.Marshaler, *codec.Error) {
	p, cerr := e.lookup(a.Handle)
	if cerr != nil {
		return nil, cerr
	}
	if p.stdin == nil {
		return nil, codec.NewError(codec.CodeWrongState, "the process has no stdin pipe")
	}
	done := func(err error) {
		if err == nil {
			s.respond(id, success())
			return
		}
		ce := codec.NewError(codec.CodeWrongState, "stdin is closed: "+err.Error())
		if errors.Is(err, unix.EPIPE) {
			ce.Detail.Errno, ce.Detail.Sys = uint32(unix.EPIPE), errnoName(unix.EPIPE)
		}
		s.fail(id, ce)
	}
	if err := p.stdin.write(a.Data, a.EOF, done); err != nil {
		if err == errStdinBacklog {
			ce := codec.NewError(codec.CodeLimit, "stdin backlog full: the process is not reading")
			ce.Detail.Limit = maxStdinBacklog
			return nil, ce
		}
		return nil, codec.NewError(codec.CodeWrongState, "stdin is closed")
	}
	return nil, nil
}

func (e *Engine) resize(a *codec.ResizeArgs) (msgp.Marshaler, *codec.Error) {
	p, cerr := e.lookup(a.Handle)
	if cerr != nil {
		return nil, cerr
	}
	if p.streams[2] == nil || p.stdin == nil {
		return nil, codec.NewError(codec.CodeWrongState, "the process has no pseudo-terminal")
	}
	ws := &unix.Winsize{Row: a.Rows, Col: a.Cols}
	rc, err := p.stdin.f.SyscallConn()
	if err == nil {
		rc.Control(func(fd uintptr) { err = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) })
	}
	if err != nil {
		return nil, codec.NewError(codec.CodeInternal, "resize: "+err.Error())
	}
	return success(), nil
}

func (e *Engine) list() msgp.Marshaler {
	r := &codec.ListResult{Procs: make([]codec.ProcInfo, 0, len(e.procs))}
	for _, p := range e.procs {
		r.Procs = append(r.Procs, p.info())
	}
	return r
}

// release forgets a finished process: its records, output and spool.
func (e *Engine) release(p *proc) (msgp.Marshaler, *codec.Error) {
	if p.state != stateExited && p.state != stateFailed {
		return nil, codec.NewError(codec.CodeWrongState, "the process is still running")
	}
	e.forget(p)
	return success(), nil
}

func (e *Engine) forget(p *proc) {
	delete(e.procs, p.h)
	e.dropCollected(p.h)
	if p.tag != "" && e.byTag[p.tag] == p {
		delete(e.byTag, p.tag)
	}
	for _, st := range p.streams {
		if st != nil {
			st.free()
		}
	}
	if p.cg != nil {
		// The tree dies after the kill returns: the cgroup is removed
		// once its last process has left it.
		p.cg.kill()
		e.removeOrWatch(p.cg)
	}
	e.noteFreed()
	e.journalRelease(p)
}

// subscribe answers out.subscribe itself, before the subscription starts.
func (e *Engine) subscribe(s *session, reqID uint32, a *codec.SubscribeArgs) (msgp.Marshaler, *codec.Error) {
	p, cerr := e.lookup(a.Handle)
	if cerr != nil {
		return nil, cerr
	}
	st := p.stream(a.Stream)
	if st == nil {
		return nil, badArgs("s", "the process has no such stream")
	}
	credit := a.Credit
	if credit == 0 {
		credit = 1 << 20
	}
	p.watch(s)
	id := s.newSubID()
	length, _ := st.Len()
	s.respond(reqID, &codec.SubscribeResult{Sub: id, Start: a.From, Length: length})
	s.addSub(id, st, a.From, credit)
	return nil, nil
}

func (e *Engine) read(a *codec.ReadArgs) (msgp.Marshaler, *codec.Error) {
	p, cerr := e.lookup(a.Handle)
	if cerr != nil {
		return nil, cerr
	}
	st := p.stream(a.Stream)
	if st == nil {
		return nil, badArgs("s", "the process has no such stream")
	}
	max := a.Max
	if max == 0 || max > 256<<10 {
		max = 256 << 10
	}
	// The response is encoded before the loop takes its next request, so
	// one buffer serves every out.read.
	if cap(e.readBuf) < int(max) {
		e.readBuf = make([]byte, 256<<10)
	}
	buf := e.readBuf[:max]
	n, gap, _ := st.ReadAt(a.Offset, buf)
	length, ended := st.Len()
	r := &codec.ReadResult{Offset: a.Offset, Data: buf[:n], Length: length}
	if gap.to > gap.from {
		r.GapTo, r.Why = gap.to, gap.why
	}
	r.EOF = ended && a.Offset+uint64(n) >= length
	return r, nil
}
