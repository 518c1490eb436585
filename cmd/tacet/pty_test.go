// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"testing"
)

func TestCRLFWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &crlfWriter{w: &buf}
	w.Write([]byte("cooked\n"))
	w.raw.Store(true)
	if n, err := w.Write([]byte("raw\nline\n")); n != 9 || err != nil {
		t.Errorf("Write while raw = %d, %v; want 9, nil", n, err)
	}
	w.raw.Store(false)
	w.Write([]byte("cooked again\n"))
	if got, want := buf.String(), "cooked\nraw\r\nline\r\ncooked again\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
}
