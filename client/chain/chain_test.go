// SPDX-License-Identifier: Apache-2.0

package chain

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunRefusesBadHeader feeds the relay inputs it must refuse before
// it dials anything: it returns an error and reports nothing.
func TestRunRefusesBadHeader(t *testing.T) {
	for name, in := range map[string]string{
		"empty":      "",
		"no newline": `{"size":1,"hops":[{"addr":"tcp://127.0.0.1:1"}]}`,
		"not json":   "hello\n",
		"no hops":    `{"size":1,"hops":[]}` + "\n",
		"negative":   `{"size":-1,"hops":[{"addr":"tcp://127.0.0.1:1"}]}` + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Run(strings.NewReader(in), &out); err == nil {
				t.Error("Run accepted the header")
			}
			if out.Len() > 0 {
				t.Errorf("Run reported %q", out.String())
			}
		})
	}
}

// TestMatch lines up a relay's reports with its hops: a hop it did not
// report on gets the relay's error, or is marked missing.
func TestMatch(t *testing.T) {
	hops := []hopKey{{Addr: "a"}, {Addr: "b"}, {Addr: "c"}}
	got := match([]report{{Addr: "c", Err: "disk full"}, {Addr: "a"}}, hops, nil)
	if got[0].Err != "" || got[1].Err != "no report from the chain" || got[2].Err != "disk full" {
		t.Errorf("match: %+v", got)
	}
	got = match(nil, hops, errTest)
	for _, r := range got {
		if r.Err != errTest.Error() {
			t.Errorf("match with an error: %+v", got)
		}
	}
}

var errTest = errString("relay failed")

type errString string

func (e errString) Error() string { return string(e) }
