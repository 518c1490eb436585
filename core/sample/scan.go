// SPDX-License-Identifier: Apache-2.0

package sample

import (
	"strconv"
	"unsafe"
)

// Byte scanning helpers. They never allocate and never fail: a malformed
// number reads as the digits before the first other byte, which is what
// a kernel of another version may legitimately give us (a field we do not
// know, a line cut short), and a sample is better with a zero than absent.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// field returns the next run of non-space bytes of b at or after i, and
// the index just past it. It does not cross a newline: at the end of a
// line it returns an empty field and the index of the newline.
func field(b []byte, i int) ([]byte, int) {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	j := i
	for j < len(b) && !isSpace(b[j]) {
		j++
	}
	return b[i:j], j
}

// line returns the line of b starting at i, without its newline, and the
// index of the next line.
func line(b []byte, i int) ([]byte, int) {
	j := i
	for j < len(b) && b[j] != '\n' {
		j++
	}
	if j < len(b) {
		return b[i:j], j + 1
	}
	return b[i:j], j
}

// atou parses the leading decimal digits of b.
func atou(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}

// atof parses a decimal such as "0.52". strconv reads the bytes in place
// through an unsafe string it does not keep (it copies only into an error,
// which we drop), so this does not allocate.
func atof(b []byte) float64 {
	if len(b) == 0 {
		return 0
	}
	f, _ := strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
	return f
}

// fields parses up to len(dst) numeric fields of b from i into dst and
// returns the index after the last one read.
func fields(b []byte, i int, dst []uint64) int {
	for k := range dst {
		var f []byte
		f, i = field(b, i)
		dst[k] = atou(f)
	}
	return i
}

// grow extends v by one element, keeping what the storage held there, so
// that strings and byte slices of an earlier sample can be reused.
func grow[T any](v []T) ([]T, *T) {
	if len(v) < cap(v) {
		v = v[:len(v)+1]
	} else {
		var zero T
		v = append(v, zero)
	}
	return v, &v[len(v)-1]
}

// setName makes *s equal to b, allocating only when it differs.
func setName(s *string, b []byte) {
	if *s != string(b) {
		*s = string(b)
	}
}
