// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"bytes"
	"testing"
)

// AppendOutHeader plus the data must be byte for byte the generated
// encoding, for every size class of the bin header.
func TestAppendOutHeaderMatchesMarshal(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 65535, 65536, 1 << 20} {
		data := bytes.Repeat([]byte{0xab}, n)
		o := Out{K: EventOut, Handle: 1<<40 | 7, Stream: Stderr, Offset: 5 << 32, Mono: 1796000000123456789, Data: data}
		want, err := o.MarshalMsg(nil)
		if err != nil {
			t.Fatal(err)
		}
		got := append(AppendOutHeader(nil, &o, n), data...)
		if !bytes.Equal(got, want) {
			t.Fatalf("n=%d: header differs from MarshalMsg", n)
		}
	}
}
