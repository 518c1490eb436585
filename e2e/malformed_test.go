// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"encoding/binary"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"gitlab.com/tacet/tacet/codec"
)

// What the daemon must do with a malformed frame (spec/PROTOCOL.md 4.4).
const (
	wantGoaway   = iota // GOAWAY with one of the codes, then close
	wantClose           // close; a GOAWAY is allowed but not required
	wantError           // an error response with one of the codes; the connection goes on
	wantNothing         // no answer at all; the connection goes on
	wantErrOrBye        // either an error response or GOAWAY with one of the codes
)

// envelope returns the payload [kind, id, body].
func envelope(kind uint8, id uint32, body []byte) []byte {
	return append(codec.AppendEnvelope(nil, kind, id), body...)
}

// requestBody returns {m: method, a: args} with args as raw bytes.
func requestBody(method string, args []byte) []byte {
	b := msgp.AppendMapHeader(nil, 2)
	b = msgp.AppendString(b, "m")
	b = msgp.AppendString(b, method)
	b = msgp.AppendString(b, "a")
	return append(b, args...)
}

// frame returns payload with its length in front.
func frame(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

func TestMalformedFrames(t *testing.T) {
	d := startDaemon(t)
	main := dial(t, d, d.tcp)
	survivor := main.start(&codec.StartArgs{Argv: argv("sh", "-c", "read x; echo survived $x"),
		Stdin: codec.StdinSpec{Mode: "pipe"}})
	survivorSub := main.subscribe(survivor.Handle, codec.Stdout, 0, 0)

	deep := append(bytes.Repeat([]byte{0x91}, 100), 0x80)
	huge := []byte{0xdd, 0xff, 0xff, 0xff, 0xff}
	tests := []struct {
		name  string
		bytes func(maxf uint32) []byte // what the bad controller writes after READY
		want  int
		codes []uint16
	}{
		{"payload not MessagePack", raw(frame([]byte{0xc1})), wantGoaway, codes(codec.CodeProtocol)},
		{"payload a string", raw(frame(msgp.AppendString(nil, "hello"))), wantGoaway, codes(codec.CodeProtocol)},
		{"envelope of two elements", raw(frame([]byte{0x92, 0x08, 0x01})), wantGoaway, codes(codec.CodeProtocol)},
		{"array header of 2^32-1 elements as args",
			raw(frame(envelope(codec.KindRequest, 1, requestBody("proc.start", huge)))),
			wantErrOrBye, codes(codec.CodeProtocol, codec.CodeLimit, codec.CodeBadArgs)},
		{"array header of 2^32-1 elements as body", raw(frame(envelope(codec.KindRequest, 1, huge))),
			wantGoaway, codes(codec.CodeProtocol)},
		{"args nested 100 deep", raw(frame(envelope(codec.KindRequest, 1, requestBody("proc.start", deep)))),
			wantGoaway, codes(codec.CodeProtocol)},
		{"unknown kind below 0x80", raw(frame(envelope(0x50, 0, []byte{0x80}))), wantGoaway, codes(codec.CodeProtocol)},
		{"RESPONSE from the controller", raw(frame(envelope(codec.KindResponse, 1, []byte{0x80}))),
			wantGoaway, codes(codec.CodeProtocol)},
		{"second HELLO", raw(frame(envelope(codec.KindHello, 0, []byte{0x80}))), wantGoaway, codes(codec.CodeProtocol)},
		{"request id 0", raw(frame(envelope(codec.KindRequest, 0, requestBody("host.info", []byte{0x80})))),
			wantGoaway, codes(codec.CodeProtocol)},
		{"CREDIT body not a map", raw(frame(envelope(codec.KindCredit, 1, msgp.AppendString(nil, "abc")))),
			wantGoaway, codes(codec.CodeProtocol)},
		{"empty frame", raw([]byte{0, 0, 0, 0}), wantGoaway, codes(codec.CodeProtocol)},
		{"top byte of length set", raw([]byte{0x01, 0, 0, 0x10}), wantGoaway, codes(codec.CodeProtocol)},
		{"length over maxf", func(maxf uint32) []byte { return binary.BigEndian.AppendUint32(nil, maxf+1) },
			wantGoaway, codes(codec.CodeLimit)},
		{"truncated frame", raw([]byte{0, 0, 0, 100, 0x93, 0x08}), wantClose, nil},
		{"extension kind", raw(frame(envelope(0x90, 7, []byte{0x80}))), wantNothing, nil},
		{"body not {m, a}", raw(frame(envelope(codec.KindRequest, 1, []byte{0x81, 0xa1, 'x', 0x01}))),
			wantError, codes(codec.CodeProtocol)},
		{"unknown method", raw(frame(envelope(codec.KindRequest, 1, requestBody("no.such", []byte{0x80})))),
			wantError, codes(codec.CodeUnsupported)},
		{"argv of the wrong type",
			raw(frame(envelope(codec.KindRequest, 1, requestBody("proc.start", []byte{0x81, 0xa4, 'a', 'r', 'g', 'v', 0xa1, 'x'})))),
			wantError, codes(codec.CodeBadArgs)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := dial(t, d, d.tcp)
			reply := bad.expectReply(1)
			if err := bad.writeRaw(tt.bytes(bad.conn.Welcome().MaxFrame)); err != nil {
				t.Fatal(err)
			}
			if tt.name == "truncated frame" {
				bad.raw.(*net.TCPConn).CloseWrite()
			}
			checkAnswer(t, bad, reply, tt.want, tt.codes)

			// The daemon and the other controller are undisturbed.
			if !d.Running() {
				t.Fatalf("tacetd exited: %v", d.Err)
			}
			main.mustCall(codec.MethodHostInfo, nil, nil)
			if pi := main.status(survivor.Handle); pi.State != "running" {
				t.Errorf("the other controller's process is %q", pi.State)
			}
		})
	}

	main.mustCall(codec.MethodStdin, &codec.StdinArgs{Handle: survivor.Handle, Data: []byte("intact\n")}, nil)
	out := main.collect(survivorSub.Sub, 0, true, eventTimeout)
	if ex := main.waitExit(survivor.Handle, eventTimeout); ex.Code != 0 || string(out.bytes()) != "survived intact\n" {
		t.Errorf("the other controller's process: code %d output %q", ex.Code, out.bytes())
	}
	fresh := dial(t, d, d.unix)
	fresh.mustCall(codec.MethodHostInfo, nil, nil)
}

// checkAnswer waits for what the daemon does after a malformed frame.
func checkAnswer(t *testing.T, bad *client, replies <-chan reply, want int, codes []uint16) {
	t.Helper()
	switch want {
	case wantGoaway, wantClose:
		if !waitClosed(t, bad) {
			return
		}
		bad.mu.Lock()
		g := bad.goaway
		bad.mu.Unlock()
		switch {
		case want == wantClose:
		case g == nil:
			t.Errorf("connection closed without GOAWAY (%v), want GOAWAY %v", bad.stopped(), codeNames(codes))
		case !slices.Contains(codes, g.Err.Code):
			t.Errorf("GOAWAY %v, want %v", &g.Err, codeNames(codes))
		case g.Err.Code == codec.CodeLimit && g.Err.Detail.Limit != uint64(bad.conn.Welcome().MaxFrame):
			t.Errorf("GOAWAY LIMIT with d.limit %d, want maxf %d", g.Err.Detail.Limit, bad.conn.Welcome().MaxFrame)
		}
	case wantError, wantErrOrBye:
		select {
		case r := <-replies:
			if r.err == nil || !slices.Contains(codes, r.err.Code) {
				t.Errorf("response %v, want an error %v", r.err, codeNames(codes))
			}
			if want == wantError {
				bad.mustCall(codec.MethodHostInfo, nil, nil)
			}
		case <-bad.done:
			bad.mu.Lock()
			g := bad.goaway
			bad.mu.Unlock()
			if want == wantError || g == nil || !slices.Contains(codes, g.Err.Code) {
				t.Errorf("connection ended (%v), want an error response %v", bad.stopped(), codeNames(codes))
			}
		case <-time.After(5 * time.Second):
			t.Errorf("no answer within 5 s")
		}
	case wantNothing:
		bad.mustCall(codec.MethodHostInfo, nil, nil)
	}
}

// expectReply makes the driver take a response to request id, which a
// raw frame is about to send, and skip id in its own requests.
func (c *client) expectReply(id uint32) <-chan reply {
	ch := make(chan reply, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID = max(c.nextID, id)
	c.pending[id] = ch
	return ch
}

// waitClosed fails unless the daemon closes the connection within 5 s.
func waitClosed(t *testing.T, c *client) bool {
	t.Helper()
	select {
	case <-c.done:
		return true
	case <-time.After(5 * time.Second):
		t.Errorf("connection still open 5 s after a malformed frame")
		return false
	}
}

func raw(b []byte) func(uint32) []byte { return func(uint32) []byte { return b } }

func codes(c ...uint16) []uint16 { return c }

func codeNames(cs []uint16) []string {
	var out []string
	for _, c := range cs {
		out = append(out, codec.CodeName(c))
	}
	return out
}
