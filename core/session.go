// SPDX-License-Identifier: Apache-2.0

package core

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/tinylib/msgp/msgp"

	"gitlab.com/tacet/tacet/codec"
)

// FrameConn is an authenticated connection that carries frames, such as a
// netstack.Conn. ReadFrame is called by one goroutine; Begin, End and
// WriteFrame by another. Begin returns a buffer to append one frame's
// payload to and End writes it, so that a frame is encoded in place.
type FrameConn interface {
	ReadFrame() ([]byte, error)
	Begin() []byte
	End(frame []byte) error
	WriteFrame(payload []byte) error
	// WriteFrames writes a run of frames, each a 4-byte length and its
	// payload, with one write.
	WriteFrames(frames []byte) error
	Close() error
}

// maxControlBacklog bounds the control frames waiting for a connection
// that does not read. A controller that falls this far behind is closed:
// its processes go on, and it can reconnect and read their records.
const maxControlBacklog = 16 << 20

// session is the daemon's side of one controller connection. Its reader
// (Serve) hands requests to the loop; its writer sends control frames
// first, then output from the subscriptions that have credit.
type session struct {
	e    *Engine
	conn FrameConn
	name string

	wake chan struct{} // capacity 1: something to write
	done chan struct{} // closed when the session ends

	heard  atomic.Uint64 // MONOTONIC ns when the last frame was read; set by the reader
	pinged uint64        // MONOTONIC ns of the last PING sent for a lease; owned by the loop

	mu      sync.Mutex // guards the fields below
	ctl     []byte     // queued control frames, each u32be length + payload
	pings   []pingReq
	subs    []*sub
	ssubs   []*sampleSub // sample subscriptions (sample_sub.go)
	gets    []*getXfer   // file.get transfers (file_get.go)
	nextID  uint32
	pingID  uint32 // the id of the last PING the daemon sent
	closed  bool
	over    bool // the control backlog overflowed
	writing bool // the writer is awake and may be writing (sampleSub.send)
}

type pingReq struct {
	id         uint32
	t1, t2, m2 uint64
}

// sub is one output subscription. Its offset and credit are guarded by
// the session's mu; its stream's list of subs by the stream's mu.
type sub struct {
	id     uint32
	sess   *session
	st     *Stream
	off    uint64
	credit uint64
	eos    bool // eos was sent
}

func newSession(e *Engine, c FrameConn, name string) *session {
	s := &session{e: e, conn: c, name: name, wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.heard.Store(monoNow())
	return s
}

// wakeup tells the writer that there may be something to write.
func (s *session) wakeup() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// control queues one control frame built by fn on the end of the queue.
func (s *session) control(fn func(b []byte) ([]byte, error)) {
	s.mu.Lock()
	if s.closed || s.over {
		s.mu.Unlock()
		return
	}
	start := len(s.ctl)
	b, err := fn(append(s.ctl, 0, 0, 0, 0))
	if err != nil {
		s.ctl = s.ctl[:start]
		s.mu.Unlock()
		return
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	s.ctl = b
	if len(s.ctl) > maxControlBacklog {
		s.over = true
	}
	s.mu.Unlock()
	s.wakeup()
}

// respond queues a successful response.
func (s *session) respond(id uint32, r msgp.Marshaler) {
	s.control(func(b []byte) ([]byte, error) { return codec.AppendResponse(b, id, r) })
}

// fail queues an error response.
func (s *session) fail(id uint32, e *codec.Error) {
	s.control(func(b []byte) ([]byte, error) { return codec.AppendErrorResponse(b, id, e) })
}

// event queues a control event, such as state, exit or failed.
func (s *session) event(ev msgp.Marshaler) {
	s.control(func(b []byte) ([]byte, error) { return codec.AppendEvent(b, 0, ev) })
}

// goaway queues a GOAWAY; the writer closes the connection after it.
func (s *session) goaway(e *codec.Error) {
	g := codec.Goaway{Err: *e}
	s.control(func(b []byte) ([]byte, error) {
		return g.MarshalMsg(codec.AppendEnvelope(b, codec.KindGoaway, 0))
	})
}

// newSubID reserves the id of a subscription about to be added.
func (s *session) newSubID() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	return s.nextID
}

// addSub registers subscription id to st from offset off. The caller
// queues the out.subscribe response first, so that no event of the
// subscription can reach the controller before it knows the id.
func (s *session) addSub(id uint32, st *Stream, off, credit uint64) *sub {
	s.mu.Lock()
	sb := &sub{id: id, sess: s, st: st, off: off, credit: credit}
	s.subs = append(s.subs, sb)
	s.mu.Unlock()

	st.mu.Lock()
	st.subs = append(st.subs, sb)
	st.mu.Unlock()
	s.wakeup()
	return sb
}

// removeSub ends subscription id and reports whether it existed.
func (s *session) removeSub(id uint32) bool {
	s.mu.Lock()
	var sb *sub
	for i, x := range s.subs {
		if x.id == id {
			sb = x
			s.subs = append(s.subs[:i], s.subs[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	if sb == nil {
		return false
	}
	sb.st.removeSub(sb)
	return true
}

// removeSub drops sb from the stream's subscribers.
func (st *Stream) removeSub(sb *sub) {
	st.mu.Lock()
	for i, x := range st.subs {
		if x == sb {
			st.subs = append(st.subs[:i], st.subs[i+1:]...)
			break
		}
	}
	st.mu.Unlock()
}

// addCredit adds bytes to subscription id.
func (s *session) addCredit(id uint32, n uint64) {
	s.mu.Lock()
	for _, sb := range s.subs {
		if sb.id == id {
			sb.credit += n
		}
	}
	s.addGetCreditLocked(id, n)
	s.mu.Unlock()
	s.wakeup()
}
