// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"errors"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

func TestFailureLog(t *testing.T) {
	type report struct {
		msg string
		n   int
	}
	var got []report
	f := NewFailureLog(func(msg string, n int) { got = append(got, report{msg, n}) })
	now := time.Unix(1000, 0)
	f.now = func() time.Time { return now }

	unauth := &HandshakeError{Code: codec.CodeUnauth, Reason: "key id mismatch", Remote: "a"}
	timeout := &HandshakeError{Code: codec.CodeTimeout, Reason: "slow", Remote: "b"}
	f.Report(unauth) // reported
	for range 5 {
		now = now.Add(time.Second)
		f.Report(unauth) // folded
	}
	f.Report(timeout)         // another reason: reported
	f.Report(errors.New("x")) // "other": reported
	now = now.Add(5 * time.Second)
	f.Report(unauth) // 11 s after the first report: reported with 6 folded

	want := []report{
		{unauth.Error(), 1},
		{timeout.Error(), 1},
		{"x", 1},
		{unauth.Error(), 6},
	}
	if len(got) != len(want) {
		t.Fatalf("reports %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("report %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestFailureLogReasons checks that reasons chosen by peers cannot grow
// the log without bound.
func TestFailureLogReasons(t *testing.T) {
	n := 0
	f := NewFailureLog(func(string, int) { n++ })
	for i := range 1000 {
		f.ReportReason(string(rune('a'+i%26))+itoa(i), "m")
	}
	if len(f.reasons) > failureMaxReasons+1 {
		t.Errorf("%d reasons kept, want at most %d", len(f.reasons), failureMaxReasons+1)
	}
	if n != failureMaxReasons+1 {
		t.Errorf("%d reports, want %d", n, failureMaxReasons+1)
	}
}
