// SPDX-License-Identifier: Apache-2.0

package codec

import "github.com/tinylib/msgp/msgp"

// Int is a signed integer that is written the way every other MessagePack
// library writes it: in the unsigned family when it is not negative, in the
// signed family otherwise, always in the smallest form. msgp writes a
// positive int64 in the signed family, which would give two encodings of
// the same value; this type keeps the encoding canonical.
type Int int64

// MarshalMsg appends i to b.
func (i Int) MarshalMsg(b []byte) ([]byte, error) {
	if i >= 0 {
		return msgp.AppendUint64(b, uint64(i)), nil
	}
	return msgp.AppendInt64(b, int64(i)), nil
}

// UnmarshalMsg reads i from b, accepting either family.
func (i *Int) UnmarshalMsg(b []byte) ([]byte, error) {
	v, rest, err := msgp.ReadInt64Bytes(b)
	if err != nil {
		return b, err
	}
	*i = Int(v)
	return rest, nil
}

// Msgsize returns an upper bound of the encoded size of i.
func (i Int) Msgsize() int { return msgp.Int64Size }
