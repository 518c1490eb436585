// SPDX-License-Identifier: Apache-2.0

package core

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"gitlab.com/tacet/tacet/codec"
)

// pipeConn is a FrameConn over one end of a net.Pipe, for driving an
// Engine in tests without a socket or a handshake.
type pipeConn struct {
	c  net.Conn
	fr *codec.FrameReader
	fw *codec.FrameWriter
}

func newPipeConn(c net.Conn) *pipeConn {
	return &pipeConn{c: c, fr: codec.NewFrameReader(c, codec.DefaultMaxFrame), fw: codec.NewFrameWriter(c)}
}

func (p *pipeConn) ReadFrame() ([]byte, error)      { return p.fr.Next() }
func (p *pipeConn) Begin() []byte                   { return p.fw.Begin() }
func (p *pipeConn) End(b []byte) error              { return p.fw.End(b) }
func (p *pipeConn) WriteFrame(payload []byte) error { return p.fw.WriteFrame(payload) }
func (p *pipeConn) WriteFrames(frames []byte) error { return p.fw.WriteFrames(frames) }
func (p *pipeConn) Close() error                    { return p.c.Close() }

// testClient drives an Engine through the protocol.
type testClient struct {
	t      testing.TB
	c      *pipeConn
	id     uint32
	frames chan []byte
}

// newTestEngine starts an engine with its state under a temporary
// directory and returns a client connected to it.
func newTestEngine(t testing.TB, cfg Config) (*Engine, *testClient) {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	cfg.KillOnExit = true
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e, connect(t, e)
}

func connect(t testing.TB, e *Engine) *testClient {
	t.Helper()
	a, b := net.Pipe()
	go e.Serve(newPipeConn(a), "test")
	tc := &testClient{t: t, c: newPipeConn(b), frames: make(chan []byte, 1024)}
	go func() {
		for {
			f, err := tc.c.ReadFrame()
			if err != nil {
				close(tc.frames)
				return
			}
			tc.frames <- append([]byte(nil), f...)
		}
	}()
	t.Cleanup(func() { b.Close() })
	return tc
}

// call sends a request and returns the raw result, failing the test on
// an error response unless wantErr.
func (tc *testClient) call(method string, a msgp.Marshaler) ([]byte, *codec.Error) {
	tc.t.Helper()
	tc.id++
	id := tc.id
	b, err := codec.AppendRequest(nil, id, method, a)
	if err != nil {
		tc.t.Fatal(err)
	}
	if err := tc.c.WriteFrame(b); err != nil {
		tc.t.Fatal(err)
	}
	for {
		kind, rid, body := tc.next()
		if kind != codec.KindResponse || rid != id {
			continue
		}
		r, e, err := codec.ParseResponse(body)
		if err != nil {
			tc.t.Fatal(err)
		}
		return r, e
	}
}

// next returns the next frame, failing after 10 s.
func (tc *testClient) next() (uint8, uint32, []byte) {
	tc.t.Helper()
	select {
	case f, ok := <-tc.frames:
		if !ok {
			tc.t.Fatal("connection closed")
		}
		kind, id, body, err := codec.ParseEnvelope(f)
		if err != nil {
			tc.t.Fatal(err)
		}
		return kind, id, body
	case <-time.After(10 * time.Second):
		tc.t.Fatal("no frame within 10 s")
	}
	return 0, 0, nil
}

func TestEngineEchoExit(t *testing.T) {
	_, tc := newTestEngine(t, Config{})
	r, cerr := tc.call(codec.MethodStart, &codec.StartArgs{Argv: [][]byte{[]byte("sh"), []byte("-c"), []byte("printf hello; exit 3")}})
	if cerr != nil {
		t.Fatal(cerr)
	}
	var sr codec.StartResult
	if err := codec.Unmarshal(r, &sr, "start"); err != nil {
		t.Fatal(err)
	}
	r, cerr = tc.call(codec.MethodWait, &codec.HandleArgs{Handle: sr.Handle})
	if cerr != nil {
		t.Fatal(cerr)
	}
	var ex codec.Exit
	codec.Unmarshal(r, &ex, "exit")
	if ex.Code != 3 || ex.Lengths[0] != 5 {
		t.Fatalf("exit %+v", ex)
	}
	r, cerr = tc.call(codec.MethodRead, &codec.ReadArgs{Handle: sr.Handle, Stream: 1})
	if cerr != nil {
		t.Fatal(cerr)
	}
	var rr codec.ReadResult
	codec.Unmarshal(r, &rr, "read")
	if string(rr.Data) != "hello" {
		t.Fatalf("read %q", rr.Data)
	}
}
