// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"io"
	"net"
	"testing"

	"gitlab.com/tacet/tacet/codec"
)

func TestErrorFor(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code uint16 // 0: no GOAWAY
	}{
		{"too large", &codec.FrameError{Kind: codec.ErrFrameTooLarge, Length: 5 << 20, Max: 1 << 20}, codec.CodeLimit},
		{"bad length", &codec.FrameError{Kind: codec.ErrBadLength}, codec.CodeProtocol},
		{"empty", &codec.FrameError{Kind: codec.ErrEmptyFrame}, codec.CodeProtocol},
		{"bad mac", &codec.FrameError{Kind: codec.ErrBadMAC}, 0},
		{"truncated", &codec.FrameError{Kind: codec.ErrTruncated, Err: io.ErrUnexpectedEOF}, 0},
		{"eof", io.EOF, 0},
		{"closed", net.ErrClosed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ErrorFor(tt.err)
			switch {
			case tt.code == 0 && e != nil:
				t.Errorf("ErrorFor = %v, want none", e)
			case tt.code != 0 && (e == nil || e.Code != tt.code):
				t.Errorf("ErrorFor = %v, want %s", e, codec.CodeName(tt.code))
			}
		})
	}
	if e := ErrorFor(tests[0].err); e.Detail.Limit != 1<<20 {
		t.Errorf("LIMIT detail %d, want the limit", e.Detail.Limit)
	}
}
