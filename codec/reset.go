// SPDX-License-Identifier: Apache-2.0

package codec

import "github.com/tinylib/msgp/msgp"

// Reset methods, written by hand because msgp generates none.
//
// A generated UnmarshalMsg sets only the fields whose keys the input
// holds, and decodes an array of structs into the elements already in the
// slice's storage. A value reused for a second message must therefore be
// cleared first, down to the elements of its slices, or it keeps fields of
// the first message that the second one lacks.
//
// Reset keeps the storage of slices so that steady-state decoding does not
// allocate. The price is aliasing: after a Reset and a decode, the bytes of
// a []byte field may be those of the previous message's slice, overwritten.
// A caller that keeps a slice beyond the next decode must copy it.

// Message is a body type that can be encoded, decoded and reset.
type Message interface {
	msgp.Marshaler
	msgp.Unmarshaler
	Reset()
}

// Decode resets v and decodes body into it; the whole body must be
// consumed. Errors are *DecodeError naming what.
func Decode(body []byte, v Message, what string) error {
	v.Reset()
	return Unmarshal(body, v, what)
}

// DecodeStart decodes the arguments of proc.start into v, reusing the
// storage of its slices; see the note on aliasing above Message. This is
// the decoder the daemon keeps per connection.
func DecodeStart(body []byte, v *StartArgs) error {
	return Decode(body, v, "proc.start arguments")
}

// Reset clears a, keeping the storage of its slices.
func (a *StartArgs) Reset() {
	argv, set, unset := a.Argv[:0], a.Env.Set[:0], a.Env.Unset[:0]
	cwd, path, cpus, collect := a.Cwd[:0], a.Stdin.Path[:0], a.CPUs[:0], a.Collect[:0]
	rlim := a.Rlimits[:cap(a.Rlimits)]
	clear(rlim)
	*a = StartArgs{
		Argv: argv, Cwd: cwd, CPUs: cpus, Collect: collect, Rlimits: rlim[:0],
		Env:   EnvSpec{Set: set, Unset: unset},
		Stdin: StdinSpec{Path: path},
	}
}

// Reset clears o, keeping the storage of Data.
func (o *Out) Reset() { *o = Out{Data: o.Data[:0]} }

// Reset clears e, keeping the storage of Lengths.
func (e *Exit) Reset() { *e = Exit{Lengths: e.Lengths[:0]} }

// Reset clears a.
func (a *SubscribeArgs) Reset() { *a = SubscribeArgs{} }

// Reset clears r, keeping the storage of Data.
func (r *ReadResult) Reset() { *r = ReadResult{Data: r.Data[:0]} }

// Reset clears a, keeping the storage of Data.
func (a *StdinArgs) Reset() { *a = StdinArgs{Data: a.Data[:0]} }

// Reset clears a, keeping the storage of Handles.
func (a *TriggerArgs) Reset() { *a = TriggerArgs{Handles: a.Handles[:0]} }

// Reset clears l, and every element in the storage of Procs, which a
// following decode writes into.
func (l *ListResult) Reset() {
	procs := l.Procs[:cap(l.Procs)]
	for i := range procs {
		procs[i].Reset()
	}
	l.Procs = procs[:0]
}

// Reset clears p, keeping the storage of its slices.
func (p *ProcInfo) Reset() {
	argv, lengths := p.Argv[:0], p.Lengths[:0]
	p.Exit.Reset()
	*p = ProcInfo{Argv: argv, Lengths: lengths, Exit: p.Exit}
}

// Reset clears h.
func (h *Hello) Reset() { *h = Hello{} }

// Reset clears w.
func (w *Welcome) Reset() { *w = Welcome{} }

// Reset clears a.
func (a *Auth) Reset() { *a = Auth{} }

// Reset clears r.
func (r *Ready) Reset() { *r = Ready{} }

// Reset clears e.
func (e *Error) Reset() { *e = Error{} }

// Reset clears c.
func (c *Credit) Reset() { *c = Credit{} }

// Reset clears p.
func (p *Ping) Reset() { *p = Ping{} }

// Reset clears p.
func (p *Pong) Reset() { *p = Pong{} }

// Reset clears g.
func (g *Goaway) Reset() { *g = Goaway{} }

// Reset clears g.
func (g *Gap) Reset() { *g = Gap{} }

// Reset clears e.
func (e *EOS) Reset() { *e = EOS{} }

// Reset clears s.
func (s *State) Reset() { *s = State{} }

// Reset clears f.
func (f *Failed) Reset() { *f = Failed{} }

// Reset clears r.
func (r *SubscribeResult) Reset() { *r = SubscribeResult{} }

// Reset clears a.
func (a *UnsubscribeArgs) Reset() { *a = UnsubscribeArgs{} }

// Reset clears a.
func (a *ReadArgs) Reset() { *a = ReadArgs{} }

// Reset clears h.
func (h *HostInfo) Reset() { *h = HostInfo{} }

// Reset clears r.
func (r *StartResult) Reset() { *r = StartResult{} }

// Reset clears a.
func (a *HandleArgs) Reset() { *a = HandleArgs{} }

// Reset clears a.
func (a *SignalArgs) Reset() { *a = SignalArgs{} }

// Reset clears r.
func (r *SignalResult) Reset() { *r = SignalResult{} }

// Reset clears a.
func (a *FreezeArgs) Reset() { *a = FreezeArgs{} }

// Reset clears a.
func (a *ResizeArgs) Reset() { *a = ResizeArgs{} }

// Reset clears a.
func (a *ProbeArgs) Reset() { *a = ProbeArgs{} }

// Reset clears r.
func (r *ProbeResult) Reset() { *r = ProbeResult{} }
