// SPDX-License-Identifier: Apache-2.0

package core

import (
	"os"
	"slices"
	"testing"

	"gitlab.com/tacet/tacet/codec"
)

// buildEnv starts from the daemon's environment, applies Set in order and
// then Unset, and leaves the cached environment untouched for the next
// start.
func TestBuildEnv(t *testing.T) {
	es := &codec.EnvSpec{
		Set:   [][]byte{[]byte("TACET_ENV_A=set"), []byte("TACET_ENV_B=1"), []byte("TACET_ENV_B=2")},
		Unset: [][]byte{[]byte("HOME")},
	}
	env := strs(buildEnv(es))
	if !slices.Contains(env, "TACET_ENV_A=set") || !slices.Contains(env, "TACET_ENV_B=2") || slices.Contains(env, "TACET_ENV_B=1") {
		t.Fatalf("set not applied in order: %q", env)
	}
	for _, kv := range env {
		if len(kv) >= 5 && kv[:5] == "HOME=" {
			t.Fatalf("HOME not unset: %q", env)
		}
	}
	again := strs(buildEnv(&codec.EnvSpec{}))
	if !slices.Equal(again, strs(daemonEnv())) || !slices.Equal(again, os.Environ()) {
		t.Fatalf("a second start saw a changed daemon environment: %q", again)
	}
	if got := strs(buildEnv(&codec.EnvSpec{Mode: "clear", Set: [][]byte{[]byte("X=1")}})); !slices.Equal(got, []string{"X=1"}) {
		t.Fatalf("clear: %q", got)
	}
}

func strs(env [][]byte) []string {
	out := make([]string, len(env))
	for i, kv := range env {
		out[i] = string(kv)
	}
	return out
}
