// SPDX-License-Identifier: Apache-2.0

package codec

import "github.com/tinylib/msgp/msgp"

// AppendOutHeader appends the body of an out event whose data is n bytes
// long, up to and including the bin header of the data, so that the
// caller can read the bytes straight into place after it. The result,
// followed by the n bytes, is exactly what o.MarshalMsg writes with
// those bytes as Data (a test checks it); it is written by hand because
// msgp can only encode data it already has.
func AppendOutHeader(b []byte, o *Out, n int) []byte {
	b = append(b, 0x86, 0xa1, 'k')
	b = msgp.AppendString(b, EventOut)
	b = append(b, 0xa1, 'h')
	b = msgp.AppendUint64(b, o.Handle)
	b = append(b, 0xa1, 's')
	b = msgp.AppendUint8(b, o.Stream)
	b = append(b, 0xa1, 'o')
	b = msgp.AppendUint64(b, o.Offset)
	b = append(b, 0xa1, 't')
	b = msgp.AppendUint64(b, o.Mono)
	b = append(b, 0xa1, 'd')
	return msgp.AppendBytesHeader(b, uint32(n))
}
